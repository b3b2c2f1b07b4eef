"""Writes the abalone batch data set that the pipeline's Transform step scores: the features of
every abalone, prepared as preprocessing.py prepares them (fitted on the whole data set, as
there), without the label and without a header. Usage: make_batch.py ABALONE_CSV OUT."""
import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

names = ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight", "rings"]
src, out = sys.argv[1], sys.argv[2]
with open(src) as f:
    first = f.readline().split(",")
try:
    float(first[-1])
    header = None
except ValueError:
    header = 0
df = pd.read_csv(src, header=header, names=names)
df.pop("rings")
numeric = names[1:-1]
preprocess = ColumnTransformer(
    transformers=[
        ("num", Pipeline(steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]), numeric),
        ("cat", Pipeline(steps=[("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
                                ("onehot", OneHotEncoder(handle_unknown="ignore"))]), ["sex"]),
    ]
)
X = preprocess.fit_transform(df)
pd.DataFrame(np.asarray(X)).to_csv(out, header=False, index=False)
print(len(X), "rows")
