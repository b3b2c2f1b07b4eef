#!/bin/sh
# Side-by-side prediction benchmark: Sluice's native predictor vs real XGBoost (python3-xgboost
# 1.7) on one XGBoost-trained model of 100 trees, depth 6. Flags: see `go run ./bench/predict -h`.
set -e
cd "$(dirname "$0")/../.."
exec go run ./bench/predict "$@"
