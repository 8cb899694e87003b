#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and runs each for a while.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 600 s; all three targets)
#
# Targets: FuzzSafetensors, FuzzSamples, FuzzConfig. Seeds come from Tests/FuzzCorpus/<kind>/;
# new interesting inputs go to .build-fuzz/corpus/<target>/, crashes to .build-fuzz/crashes/.
# Any crash found should become a test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(FuzzSafetensors FuzzSamples FuzzConfig); fi

for target in "${targets[@]}"; do
    swift build --product "$target" --scratch-path .build-fuzz \
        -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
done
# (lld: gold crashes while reporting on these sanitizer objects)
bin="$(swift build --scratch-path .build-fuzz --show-bin-path)"
for target in "${targets[@]}"; do
    case "$target" in
        FuzzSafetensors) seeds=Tests/FuzzCorpus/safetensors ;;
        FuzzSamples) seeds=Tests/FuzzCorpus/samples ;;
        FuzzConfig) seeds=Tests/FuzzCorpus/config ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
    esac
    mkdir -p ".build-fuzz/corpus/$target" .build-fuzz/crashes
    echo "== $target for ${seconds}s"
    "$bin/$target" ".build-fuzz/corpus/$target" "$seeds" -max_total_time="$seconds" \
        -artifact_prefix=".build-fuzz/crashes/$target-" -print_final_stats=1
done
