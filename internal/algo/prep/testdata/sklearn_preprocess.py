#!/usr/bin/python3
"""The preprocessing of SageMaker's abalone example (scikit-learn), without the shuffle and
split, for comparison with the prep image.

  sklearn_preprocess.py INPUT_CSV OUTPUT_CSV
"""
import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

df = pd.read_csv(sys.argv[1])
df.columns = [c.lower() for c in df.columns]
numeric = [c for c in df.columns if c not in ("sex", "rings")]
preprocess = ColumnTransformer(transformers=[
    ("num", Pipeline(steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]), numeric),
    ("cat", Pipeline(steps=[("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
                            ("onehot", OneHotEncoder(handle_unknown="ignore"))]), ["sex"]),
])
y = df.pop("rings")
x = preprocess.fit_transform(df)
out = np.concatenate((y.to_numpy().reshape(len(y), 1), x), axis=1)
pd.DataFrame(out).to_csv(sys.argv[2], header=False, index=False)
