"""Predicts the batch data with real XGBoost from the training job's model.tar.gz and compares
the predictions with the Transform step's output, line by line. Usage:
check_predictions.py MODEL_TAR_GZ BATCH_CSV TRANSFORM_OUT. Prints the largest difference."""
import sys
import tarfile
import tempfile

import numpy as np
import pandas as pd
import xgboost

model_tar, batch, transformed = sys.argv[1:4]
with tempfile.TemporaryDirectory() as d:
    with tarfile.open(model_tar) as tar:
        tar.extractall(path=d)
    booster = xgboost.Booster()
    booster.load_model(d + "/xgboost-model")
X = pd.read_csv(batch, header=None).values
want = booster.predict(xgboost.DMatrix(X))
got = np.loadtxt(transformed, delimiter=",", ndmin=1)
if got.shape != want.shape:
    sys.exit("the transform wrote %d predictions for %d rows" % (got.size, want.size))
diff = float(np.max(np.abs(got - want)))
print("rows %d max_abs_diff %.3g" % (want.size, diff))
if diff > 1e-4:
    sys.exit("predictions differ from XGBoost's by up to %g" % diff)
