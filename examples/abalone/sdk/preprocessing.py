"""Preprocessing for the SageMaker Python SDK's abalone pipeline (../../../internal/pipeline/
testdata/abalone.good.json), as a user would write it for a scikit-learn processing job.

Reads /opt/ml/processing/input/abalone-dataset.csv (with or without a header line), fills gaps,
standardises the measurements, one-hot encodes sex, and writes label-first, headerless
train/validation/test splits (70/15/15) — the layout SageMaker's built-in XGBoost reads.
"""

import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

BASE = "/opt/ml/processing"
COLUMNS = ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight",
           "viscera_weight", "shell_weight", "rings"]
MEASURES = COLUMNS[1:-1]

raw = pd.read_csv(os.path.join(BASE, "input", "abalone-dataset.csv"), header=None, names=COLUMNS)
if not str(raw.iloc[0]["rings"]).strip().isdigit():
    raw = raw.iloc[1:]  # the file came with its own header line
for c in MEASURES + ["rings"]:
    raw[c] = pd.to_numeric(raw[c])

features = ColumnTransformer([
    ("measures", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), MEASURES),
    ("sex", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                          OneHotEncoder(handle_unknown="ignore")), ["sex"]),
])
x = features.fit_transform(raw[MEASURES + ["sex"]])
if hasattr(x, "toarray"):
    x = x.toarray()
data = np.concatenate([raw["rings"].to_numpy().reshape(-1, 1), x], axis=1)

rng = np.random.default_rng(42)
rng.shuffle(data)
n = len(data)
cuts = [int(0.7 * n), int(0.85 * n)]
for name, part in zip(["train", "validation", "test"], np.split(data, cuts)):
    os.makedirs(os.path.join(BASE, name), exist_ok=True)
    pd.DataFrame(part).to_csv(os.path.join(BASE, name, name + ".csv"), header=False, index=False)
    print(name, len(part), "rows")
