#!/usr/bin/python3
"""Reference metrics for the evaluate image: real XGBoost predicts, scikit-learn scores.

  sklearn_metrics.py MODEL TEST_CSV KIND OUT_JSON
"""
import json
import sys

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn import metrics

model_path, test_path, kind, out_path = sys.argv[1:5]
booster = xgb.Booster()
booster.load_model(model_path)
df = pd.read_csv(test_path, header=None)
y = df.iloc[:, 0].to_numpy()
x = df.drop(df.columns[0], axis=1).to_numpy()
pred = booster.predict(xgb.DMatrix(x))
out = {}
if kind == "regression":
    out = {
        "mse": metrics.mean_squared_error(y, pred),
        "mse_sd": float(np.std(y - pred)),
        "rmse": metrics.mean_squared_error(y, pred) ** 0.5,
        "mae": metrics.mean_absolute_error(y, pred),
        "r2": metrics.r2_score(y, pred),
    }
elif kind == "binary":
    label = (pred >= 0.5).astype(int)
    out = {
        "accuracy": metrics.accuracy_score(y, label),
        "precision": metrics.precision_score(y, label, zero_division=0),
        "recall": metrics.recall_score(y, label, zero_division=0),
        "f1": metrics.f1_score(y, label, zero_division=0),
        "f2": metrics.fbeta_score(y, label, beta=2, zero_division=0),
        "auc": metrics.roc_auc_score(y, pred),
    }
else:
    label = pred.argmax(axis=1) if pred.ndim == 2 else pred.astype(int)
    out = {
        "accuracy": metrics.accuracy_score(y, label),
        "weighted_precision": metrics.precision_score(y, label, average="weighted", zero_division=0),
        "weighted_recall": metrics.recall_score(y, label, average="weighted", zero_division=0),
        "weighted_f1": metrics.f1_score(y, label, average="weighted", zero_division=0),
    }
with open(out_path, "w") as fh:
    json.dump({k: float(v) for k, v in out.items()}, fh)
