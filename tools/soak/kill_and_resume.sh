#!/usr/bin/env bash
# Kills a training run with SIGKILL at random moments, resumes it each time, and checks that the
# final checkpoint is byte-identical to an uninterrupted run's and that no checkpoint directory
# was ever left half-written.
#
#   tools/soak/kill_and_resume.sh [KILLS] [CONFIG] [--set ...]
#
# Defaults: 20 kills of configs/randomwalks.yml (data from `ilql randomwalks --out data/randomwalks`)
# run for 40 epochs (400 steps) with a checkpoint every 10 steps, each kill 0.5–3 s after a
# (re)start, so that most kills land between checkpoints and some inside a checkpoint write.
# Needs a release build: swift build -c release.
set -euo pipefail
cd "$(dirname "$0")/../.."
kills="${1:-20}"
config="${2:-configs/randomwalks.yml}"
shift 2 2>/dev/null || shift $# || true
extra=(--set train.checkpoint_interval=10 --set train.epochs=40 "$@")
ilql=.build/release/ilql
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

complete_checkpoints_only() {
    local run="$1"
    for dir in "$run"/checkpoints/step_*; do
        [ -e "$dir" ] || continue
        for file in model.safetensors optimizer.safetensors trainer_state.json config.yml config.json; do
            if [ ! -s "$dir/$file" ]; then echo "INCOMPLETE: $dir lacks $file"; return 1; fi
        done
    done
}

echo "uninterrupted run…"
"$ilql" train "$config" "${extra[@]}" --run-dir "$work/whole" > "$work/whole.log" 2>&1
final="$(ls -d "$work"/whole/checkpoints/step_* | tail -1)"
final="$(basename "$final")"
seconds="$(python3 -c "import json;print(sum(json.loads(l).get('time/step',0) for l in open('$work/whole/metrics.jsonl')))")"
echo "final checkpoint $final; training took ${seconds}s"

args=(train "$config" "${extra[@]}" --run-dir "$work/killed")
landed=0
for ((i = 1; i <= 3 * kills && landed < kills; i++)); do
    "$ilql" "${args[@]}" > "$work/killed-$i.log" 2>&1 &
    pid=$!
    delay="$(python3 -c "import random;print(round(random.uniform(0.5, 3.0), 2))")"
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then landed=$((landed + 1)); else echo "run finished before kill $i"; fi
    wait "$pid" 2>/dev/null || true
    complete_checkpoints_only "$work/killed"
    newest="$(ls -d "$work"/killed/checkpoints/step_* 2>/dev/null | tail -1 || true)"
    echo "kill $landed after ${delay}s: newest complete checkpoint ${newest##*/}"
    if [ -n "$newest" ]; then args=(train --resume "$work/killed"); fi
done
"$ilql" "${args[@]}" > "$work/final.log" 2>&1
complete_checkpoints_only "$work/killed"
for file in model.safetensors optimizer.safetensors trainer_state.json; do
    cmp "$work/whole/checkpoints/$final/$file" "$work/killed/checkpoints/$final/$file"
done
echo "OK: after $landed SIGKILLs mid-run the resumed run's $final is byte-identical to the uninterrupted run's"
