"""Time real XGBoost (tree_method=hist) on a data set written by bench/train.

Usage: xgb_bench.py SPEC.json OUT.json
SPEC: {"train_x": path, "train_y": path, "test_x": path, "test_y": path, "cols": n,
       "params": {...}, "num_round": n, "repeat": n}
Feature files are row-major float32, label files float32 (native byte order).
OUT: {"dmatrix_seconds": s, "train_seconds": [s, ...], "cpu_seconds": [s, ...],
      "test_pred": [...], "version": v}
"""
import json
import resource
import sys
import time

import numpy as np
import xgboost as xgb


def main():
    spec = json.load(open(sys.argv[1]))
    cols = spec["cols"]
    tx = np.fromfile(spec["train_x"], dtype=np.float32).reshape(-1, cols)
    ty = np.fromfile(spec["train_y"], dtype=np.float32)
    ex = np.fromfile(spec["test_x"], dtype=np.float32).reshape(-1, cols)
    params = dict(spec["params"])
    start = time.perf_counter()
    dtrain = xgb.DMatrix(tx, label=ty, nthread=params.get("nthread", 0))
    dmatrix_seconds = time.perf_counter() - start
    times, cpus = [], []
    bst = None
    for _ in range(spec.get("repeat", 1)):
        # A fresh DMatrix each time, so every run pays for its own quantile sketch.
        dtrain = xgb.DMatrix(tx, label=ty, nthread=params.get("nthread", 0))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        bst = xgb.train(params, dtrain, spec["num_round"])
        times.append(time.perf_counter() - start)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpus.append(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
    pred = bst.predict(xgb.DMatrix(ex, nthread=params.get("nthread", 0)))
    json.dump({"dmatrix_seconds": dmatrix_seconds, "train_seconds": times, "cpu_seconds": cpus,
               "test_pred": pred.ravel().tolist(), "version": xgb.__version__},
              open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
