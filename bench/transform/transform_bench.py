"""The Python side of bench/transform: train the reference model with real XGBoost, and time
what a person would write to score a CSV with pandas and XGBoost: read it, predict, write one
prediction per line.

Usage:
  transform_bench.py train DATA.csv MODEL_OUT THREADS ROUNDS DEPTH
  transform_bench.py transform DATA.csv MODEL OUT.csv THREADS
The transform mode prints one JSON line: {"read", "predict", "write", "total"} in seconds.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb


def train(data, model_out, threads, rounds, depth):
    x = pd.read_csv(data, header=None, nrows=200_000).values
    # A label with interactions and noise, so that the trees are full depth.
    rng = np.random.default_rng(1)
    y = np.sin(x[:, 0]) * 3 + x[:, 1] * x[:, 2] + np.abs(x[:, 3]) - x[:, 4] ** 2 + rng.normal(scale=0.1, size=len(x))
    params = {"tree_method": "hist", "max_depth": depth, "eta": 0.1, "objective": "reg:squarederror",
              "nthread": threads, "seed": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y, nthread=threads), rounds)
    booster.save_model(model_out)  # no extension: XGBoost's binary format, as SageMaker's containers write it


def transform(data, model, out, threads):
    start = time.perf_counter()
    booster = xgb.Booster()
    booster.load_model(model)
    booster.set_param({"nthread": threads})
    df = pd.read_csv(data, header=None)
    read = time.perf_counter()
    pred = booster.predict(xgb.DMatrix(df, nthread=threads))
    predicted = time.perf_counter()
    pd.DataFrame(pred).to_csv(out, header=False, index=False)
    done = time.perf_counter()
    print(json.dumps({"read": read - start, "predict": predicted - read, "write": done - predicted, "total": done - start,
                      "xgboost": xgb.__version__, "pandas": pd.__version__}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "train":
        train(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        transform(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
