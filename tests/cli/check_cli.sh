#!/usr/bin/env bash
# The `mird` tool end to end on the synthetic data with the tiny preset:
# train (config file, --set, --output), info, eval, predict to CSV, several
# seeds, and the exit codes of bad usage and failures.  Usage:
#   check_cli.sh <path to the mird binary>
set -euo pipefail
mird=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_cli: $*" >&2; exit 1; }

cat >"$work/tiny.conf" <<'CONF'
# a config file: comments, blank lines, spaces around '='

epochs = 2
lambda=0.5
CONF

"$mird" train --preset tiny --config "$work/tiny.conf" --set batch_size=64 --threads 1 \
  --output "$work/model.safetensors" >"$work/train.txt"
grep -q '^split .*MAE' "$work/train.txt" || fail "train printed no metrics table"
grep -q '^test ' "$work/train.txt" || fail "train printed no test row"
grep -q 'R^2 of a linear probe' "$work/train.txt" || fail "the demo data gave no probe table"
[[ $(grep -c '^ *epoch ' "$work/train.txt") == 2 ]] || fail "expected 2 epoch lines"
[[ -s "$work/model.safetensors" ]] || fail "no checkpoint written"

"$mird" info "$work/model.safetensors" >"$work/info.txt"
grep -q 'optimizer *included' "$work/info.txt" || fail "info: no optimizer state"
grep -Eq '^ +lambda +0\.5$' "$work/info.txt" || fail "info: the config file's lambda is not 0.5"
grep -Eq '^ +batch_size +64$' "$work/info.txt" || fail "info: --set batch_size is not 64"

"$mird" eval --model "$work/model.safetensors" >"$work/eval.txt"
eval_mae=$(awk '$1 == "test" {print $2}' "$work/eval.txt")
[[ -n "$eval_mae" ]] || fail "eval printed no test row"
train_mae=$(awk '$1 == "test" {print $2}' "$work/train.txt")
[[ "$eval_mae" == "$train_mae" ]] || fail "eval's test MAE $eval_mae differs from train's $train_mae"

"$mird" predict --model "$work/model.safetensors" --output "$work/pred.csv"
[[ $(head -n1 "$work/pred.csv") == "id,prediction,label" ]] || fail "predict: wrong CSV header"
[[ $(($(wc -l <"$work/pred.csv") - 1)) == 400 ]] || fail "predict: not one row per test sample"
csv_mae=$(awk -F, 'NR > 1 {d = $2 - $3; s += d < 0 ? -d : d; n++} END {printf "%.4f", s / n}' \
  "$work/pred.csv")
[[ "$csv_mae" == "$eval_mae" ]] || fail "the CSV's MAE $csv_mae differs from eval's $eval_mae"

"$mird" train --preset tiny --set epochs=1 --threads 1 --quiet --seeds 1,2 >"$work/seeds.txt"
grep -q '^mean ' "$work/seeds.txt" && grep -q '^std ' "$work/seeds.txt" \
  || fail "--seeds printed no mean and std rows"

status=0; "$mird" train --no-such-option 2>"$work/err.txt" || status=$?
[[ $status == 2 ]] && grep -q 'no-such-option' "$work/err.txt" || fail "a bad option must exit 2"
status=0; "$mird" eval --model "$work/absent.safetensors" 2>"$work/err.txt" || status=$?
[[ $status == 1 ]] && grep -q 'absent.safetensors' "$work/err.txt" \
  || fail "a missing checkpoint must exit 1 naming it"
status=0; "$mird" train --set lambda=-1 2>"$work/err.txt" || status=$?
[[ $status == 1 ]] && grep -q 'lambda' "$work/err.txt" || fail "a refused setting must exit 1"
echo "check_cli: train, info, eval, predict and --seeds agree; bad usage exits as documented"
