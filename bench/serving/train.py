"""Train the benchmark's model with real XGBoost, for bench/serving.

Usage: train.py OUT_DIR TREES DEPTH COLS
Writes OUT_DIR/xgboost-model (XGBoost JSON) and OUT_DIR/row.csv (one row, the request body).
"""
import os
import sys

import numpy as np
import xgboost as xgb


def main():
    out, trees, depth, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, cols)).astype(np.float32)
    y = (x @ rng.normal(size=cols) + np.sin(3 * x[:, 0]) + rng.normal(scale=0.1, size=len(x))).astype(np.float32)
    params = {"tree_method": "hist", "max_depth": depth, "eta": 0.1, "objective": "reg:squarederror", "seed": 1}
    bst = xgb.train(params, xgb.DMatrix(x, label=y), trees)
    bst.save_model(os.path.join(out, "xgboost-model"))
    with open(os.path.join(out, "row.csv"), "w") as f:
        f.write(",".join("%.6f" % v for v in x[0]))
    print(xgb.__version__)


if __name__ == "__main__":
    main()
