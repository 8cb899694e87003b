#!/usr/bin/env bash
# Step time of the Swift ILQL trainer against PyTorch (tools/pytorch_benchmark.py) on the same benchmark shapes,
# the same number of threads and the same machine (DESIGN.md §6).
#
# Usage (from anywhere; it works in the repository root):
#   tools/compare_with_pytorch.sh [--configs randomwalks,small] [--threads N] [--steps S] [--python PATH]
#                                 [--scratch-path DIR] [--synthetic]
#
#   --configs       comma-separated from randomwalks, small, gpt2-124M (default randomwalks,small)
#   --threads       Swift workers and torch threads (default: all cores, nproc)
#   --steps         timed steps per config on both sides (default 9; Swift adds 1 warm-up step, PyTorch 2)
#   --python        the Python with torch + transformers (default venv/bin/python, else /work/venv/bin/python,
#                   else python3)
#   --scratch-path  passed to `swift build --scratch-path` (default: SwiftPM's .build)
#   --synthetic     every config on synthetic full-length samples (randomwalks otherwise trains on trlx's walks)
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are passed through untouched; for an AVX-512 run use
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE tools/compare_with_pytorch.sh
# The OpenBLAS core the Swift side actually used is printed from its JSON.
set -euo pipefail

cd "$(dirname "$0")/.."

configs="randomwalks,small"
threads="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
steps=9
python=""
scratch=""
synthetic=()

usage() { sed -n '5,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --configs) configs="${2:?--configs needs a value}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
        --steps) steps="${2:?--steps needs a value}"; shift 2 ;;
        --python) python="${2:?--python needs a value}"; shift 2 ;;
        --scratch-path) scratch="${2:?--scratch-path needs a value}"; shift 2 ;;
        --synthetic) synthetic=(--synthetic); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare_with_pytorch: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -z "$python" ]; then
    if [ -x venv/bin/python ]; then python=venv/bin/python
    elif [ -x /work/venv/bin/python ]; then python=/work/venv/bin/python
    else python=python3
    fi
fi

# Fail fast (before a long Swift build) when the Python side cannot run: the benchmark script itself says
# what to install and exits 2.
if ! "$python" -c 'import torch, transformers, numpy' >/dev/null 2>&1; then
    "$python" tools/pytorch_benchmark.py --configs "$configs" --threads "$threads" --steps "$steps" "${synthetic[@]}"
    exit $?
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Built like the README's binaries (the Swift runtime linked in); `swift run` has no such flag.
swift_args=(-c release)
[ -n "$scratch" ] && swift_args+=(--scratch-path "$scratch")
swift build "${swift_args[@]}" --static-swift-stdlib --product ScalingBenchmark
bin="$(swift build "${swift_args[@]}" --show-bin-path)"

echo "== Swift: $bin/ScalingBenchmark --configs $configs --workers $threads --steps $steps ${synthetic[*]}"
"$bin/ScalingBenchmark" --configs "$configs" --workers "$threads" --steps "$steps" "${synthetic[@]}" \
    --json "$tmp/swift.json"
echo
echo "== PyTorch: $python tools/pytorch_benchmark.py --configs $configs --threads $threads --steps $steps ${synthetic[*]}"
"$python" tools/pytorch_benchmark.py --configs "$configs" --threads "$threads" --steps "$steps" "${synthetic[@]}" \
    --json "$tmp/pytorch.json"
echo

"$python" - "$tmp/swift.json" "$tmp/pytorch.json" "$configs" <<'EOF'
import json, sys
swift, torch_, configs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3].split(",")
s_rows = {(r["config"], r["workers"]): r for r in swift["rows"]}
p_rows = {(r["config"], r["threads"]): r for r in torch_["rows"]}
print("== Swift vs PyTorch (median wall time of one training step)")
print()
print("| config | data | threads | Swift ms/step | PyTorch ms/step | PyTorch/Swift |")
print("|---|---|---|---|---|---|")
for key in sorted(p_rows, key=lambda k: configs.index(k[0]) if k[0] in configs else len(configs)):
    p, s = p_rows[key], s_rows.get(key)
    pm = p["step_seconds_median"] * 1e3
    if s is None:
        print(f"| {key[0]} | {p['data']} | {key[1]} | – | {pm:.1f} | – |")
        continue
    if s["data"] != p["data"]:
        sys.exit(f"{key[0]}: the Swift side trained on {s['data']} data, PyTorch on {p['data']}")
    sm = s["step_seconds_median"] * 1e3
    print(f"| {key[0]} | {p['data']} | {key[1]} | {sm:.1f} | {pm:.1f} | {pm / sm:.2f}× |")
print()
swift_peak = max(r["sgemm_peak_flops_per_second"] for r in swift["rows"])
print(f"single-thread sgemm peak (1024³, best of 7): OpenBLAS {swift_peak / 1e9:.1f} GFLOP/s, "
      f"PyTorch {torch_['sgemm_peak_flops'] / 1e9:.1f} GFLOP/s (PyTorch/OpenBLAS {torch_['sgemm_peak_flops'] / swift_peak:.2f}×)")
print(f"openblas core: {swift.get('openblas_core')} (Swift, {swift.get('cores')} cores); "
      f"torch {torch_['torch_version']} (AdamW {torch_['rows'][0]['optimizer']}); CPU: {torch_['cpu']}")
print("PyTorch/Swift > 1 means the Swift trainer is faster.")
EOF
