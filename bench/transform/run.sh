#!/bin/sh
# Side-by-side batch transform benchmark: a Sluice transform job (real server, AWS SDK client,
# in-process XGBoost server) against a pandas + XGBoost script, on one 1,000,000-row CSV and a
# 100-tree depth-6 model trained by real XGBoost. Flags: see `go run ./bench/transform -h`.
set -e
cd "$(dirname "$0")/../.."
exec go run ./bench/transform "$@"
