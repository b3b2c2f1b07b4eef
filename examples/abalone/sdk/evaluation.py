"""Evaluation for the SageMaker Python SDK's abalone pipeline, as a user would write it for a
script run on the XGBoost framework image.

Unpacks the training job's model.tar.gz from /opt/ml/processing/model, scores the label-first
test split in /opt/ml/processing/test, and writes /opt/ml/processing/evaluation/evaluation.json
with regression_metrics.mse.{value,standard_deviation}, which the pipeline's condition reads.
"""

import json
import os
import tarfile

import numpy as np
import pandas as pd
import xgboost

BASE = "/opt/ml/processing"

with tarfile.open(os.path.join(BASE, "model", "model.tar.gz")) as tar:
    tar.extractall(path=".")
booster = xgboost.Booster()
booster.load_model("xgboost-model")

test = pd.read_csv(os.path.join(BASE, "test", "test.csv"), header=None)
y = test.iloc[:, 0].to_numpy()
predictions = booster.predict(xgboost.DMatrix(test.iloc[:, 1:].values))
squared = (y - predictions) ** 2
report = {"regression_metrics": {"mse": {"value": float(np.mean(squared)), "standard_deviation": float(np.std(squared))}}}

os.makedirs(os.path.join(BASE, "evaluation"), exist_ok=True)
with open(os.path.join(BASE, "evaluation", "evaluation.json"), "w") as f:
    json.dump(report, f)
print(json.dumps(report))
