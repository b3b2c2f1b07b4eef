"""Processing script in the style of the SageMaker abalone example: hard-coded /opt/ml paths."""
import json
import os
import sys

import pandas as pd

base = "/opt/ml/processing"
df = pd.read_csv(os.path.join(base, "input", "data.csv"))
train = df.sample(frac=0.75, random_state=0)
test = df.drop(train.index)
os.makedirs(os.path.join(base, "train"), exist_ok=True)
os.makedirs(os.path.join(base, "test"), exist_ok=True)
train.to_csv(os.path.join(base, "train", "train.csv"), header=False, index=False)
test.to_csv(os.path.join(base, "test", "test.csv"), header=False, index=False)
print(json.dumps({"argv": sys.argv[1:], "rows": len(df), "train": len(train), "test": len(test)}))
