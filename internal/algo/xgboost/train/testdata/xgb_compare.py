"""Train real XGBoost on the same data as Sluice's trainer and check Sluice's model in it.

Usage: xgb_compare.py SPEC.json OUT.json

SPEC: {"train": csv, "test": csv, "params": {...}, "num_round": n, "model": path or null,
       "format": "csv" or "libsvm", "nthread": n, "weight_column": bool}
CSV files have the label in the first column (then the weight with weight_column) and no
header; libsvm files are zero-based.
OUT:  {"xgb_pred": [...], "xgb_margin": [...], "ours_pred": [...], "ours_margin": [...],
       "xgb_model": {...}, "train_seconds": s, "version": "..."}
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def load(path, fmt, weight_column=False):
    if fmt == "libsvm":
        return xgb.DMatrix(path + "?format=libsvm")
    data = np.genfromtxt(path, delimiter=",", dtype=np.float64, filling_values=np.nan, ndmin=2)
    if weight_column:
        return xgb.DMatrix(data[:, 2:].astype(np.float32), label=data[:, 0].astype(np.float32),
                           weight=data[:, 1].astype(np.float32), missing=np.nan)
    return xgb.DMatrix(data[:, 1:].astype(np.float32), label=data[:, 0].astype(np.float32), missing=np.nan)


def main():
    spec = json.load(open(sys.argv[1]))
    fmt = spec.get("format", "csv")
    dtrain = load(spec["train"], fmt, spec.get("weight_column", False))
    dtest = load(spec["test"], fmt, spec.get("weight_column", False))
    out = {"version": xgb.__version__}
    if spec.get("num_round"):
        params = dict(spec["params"])
        params.setdefault("tree_method", "hist")
        params.setdefault("nthread", spec.get("nthread", 2))
        start = time.perf_counter()
        bst = xgb.train(params, dtrain, spec["num_round"])
        out["train_seconds"] = time.perf_counter() - start
        out["xgb_pred"] = bst.predict(dtest).ravel().tolist()
        out["xgb_margin"] = bst.predict(dtest, output_margin=True).ravel().tolist()
        out["xgb_model"] = json.loads(bst.save_raw("json"))
    if spec.get("model"):
        ours = xgb.Booster(model_file=spec["model"])
        out["ours_pred"] = ours.predict(dtest).ravel().tolist()
        out["ours_margin"] = ours.predict(dtest, output_margin=True).ravel().tolist()
        out["ours_num_trees"] = len(ours.get_dump())
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
