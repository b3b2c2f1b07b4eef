#!/bin/sh
# Side-by-side serving benchmark: a Sluice endpoint serving a 100-tree depth-6 XGBoost model
# natively vs the same model behind Flask + gunicorn + python3-xgboost, loaded by wrk and by an
# open-loop generator; plus the proxy hop to a container model and endpoint creation time.
# Flags: see `go run ./bench/serving -h`.
set -e
cd "$(dirname "$0")/../.."
exec go run ./bench/serving "$@"
