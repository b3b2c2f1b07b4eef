"""Script-mode training in the style of SageMaker's framework containers."""
import argparse
import json
import os

import joblib
import pandas as pd
from sklearn.linear_model import Ridge

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--fit_intercept", type=str, default="True")
parser.add_argument("--label", type=str, required=True)
parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
args = parser.parse_args()

df = pd.read_csv(os.path.join(args.train, "train.csv"))
y = df.pop(args.label)
model = Ridge(alpha=args.alpha, fit_intercept=args.fit_intercept == "True").fit(df, y)
joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))

env = json.loads(os.environ["SM_TRAINING_ENV"])
print(json.dumps({
    "alpha": args.alpha,
    "fit_intercept": args.fit_intercept,
    "cwd": os.getcwd(),
    "hps": json.loads(os.environ["SM_HPS"]),
    "user_entry_point": env["user_entry_point"],
    "channels": json.loads(os.environ["SM_CHANNELS"]),
}, sort_keys=True))
