#!/usr/bin/env bash
# Benchmarks Sluice's built-in XGBoost trainer against real XGBoost (tree_method=hist) in
# one run, same threads and hyperparameters: abalone (../shared/data/abalone.csv, the
# SageMaker example's hyperparameters) and a synthetic HIGGS-like 1,000,000×28 binary set
# (100 rounds, depth 6). Prints training time, test accuracy and the time ratio.
#
#   bench/train/run.sh                      # full run, 2 threads
#   bench/train/run.sh -only abalone        # one data set
#   bench/train/run.sh -repeat 3 -threads 4 # best of 3, 4 threads
#
# Real XGBoost comes from SLUICE_TEST_PYTHON (default /usr/bin/python3, Debian's
# python3-xgboost 1.7); without it only Sluice's trainer is timed.
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${SLUICE_TEST_PYTHON:-/usr/bin/python3}"
if ! "$py" -c 'import xgboost, numpy' 2>/dev/null; then
  echo "note: $py has no xgboost/numpy; timing Sluice's trainer only" >&2
  py=""
fi
go build -o "${TMPDIR:-/tmp}/sluice-bench-train" ./bench/train
exec "${TMPDIR:-/tmp}/sluice-bench-train" -python "$py" "$@"
