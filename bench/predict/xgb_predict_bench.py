"""Train the reference model with real XGBoost and time its prediction, for bench/predict.

Usage: xgb_predict_bench.py SPEC.json OUT.json
SPEC: {"train_x", "train_y", "pred_x": paths of row-major float32 files, "cols": n,
       "threads": n, "rounds": n, "max_depth": n, "single_calls": n, "repeat": n,
       "model": path to save the model (JSON)}
OUT: {"version", "single_call_seconds": [per-call seconds per repeat],
      "single_call_seconds_1thread": [the same with nthread=1],
      "batch_seconds": [seconds per repeat], "pred": [...]}
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def main():
    spec = json.load(open(sys.argv[1]))
    cols, threads = spec["cols"], spec["threads"]
    tx = np.fromfile(spec["train_x"], dtype=np.float32).reshape(-1, cols)
    ty = np.fromfile(spec["train_y"], dtype=np.float32)
    px = np.fromfile(spec["pred_x"], dtype=np.float32).reshape(-1, cols)
    params = {"tree_method": "hist", "max_depth": spec["max_depth"], "eta": 0.1,
              "objective": "reg:squarederror", "nthread": threads, "seed": 1}
    bst = xgb.train(params, xgb.DMatrix(tx, label=ty, nthread=threads), spec["rounds"])
    bst.save_model(spec["model"])
    bst.set_param({"nthread": threads})

    single = []
    n = spec["single_calls"]
    rows = [px[i:i + 1] for i in range(n)]
    for r in rows[:200]:
        bst.inplace_predict(r)
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        for r in rows:
            bst.inplace_predict(r)
        single.append((time.perf_counter() - start) / n)

    # The same loop with one thread: OpenMP start-up dominates tiny calls on several threads.
    bst.set_param({"nthread": 1})
    single1 = []
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        for r in rows:
            bst.inplace_predict(r)
        single1.append((time.perf_counter() - start) / n)
    bst.set_param({"nthread": threads})

    batch = []
    pred = bst.inplace_predict(px)
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        pred = bst.inplace_predict(px)
        batch.append(time.perf_counter() - start)
    json.dump({"version": xgb.__version__, "single_call_seconds": single,
               "single_call_seconds_1thread": single1,
               "batch_seconds": batch, "pred": pred.ravel().tolist()}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
