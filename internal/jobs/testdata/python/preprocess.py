"""Abalone preprocessing, written as for a SageMaker processing job (standard library only).

Reads the raw CSV under /opt/ml/processing/input/data, one-hot encodes Sex, puts the target
(Rings) first without a header, and writes train, validation and test splits to
/opt/ml/processing/{train,validation,test}.
"""
import argparse
import csv
import glob
import os
import random

BASE = "/opt/ml/processing"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-ratio", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rows = []
    for path in sorted(glob.glob(os.path.join(BASE, "input", "data", "*.csv"))):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            for r in reader:
                sex = r["Sex"]
                features = [1.0 if sex == s else 0.0 for s in ("M", "F", "I")]
                features += [float(r[k]) for k in ("Length", "Diameter", "Height", "Whole_weight",
                                                   "Shucked_weight", "Viscera_weight", "Shell_weight")]
                rows.append([float(r["Rings"])] + features)
    if not rows:
        raise SystemExit("no input rows found under " + os.path.join(BASE, "input", "data"))

    random.Random(args.seed).shuffle(rows)
    n_train = int(len(rows) * args.train_ratio)
    n_val = (len(rows) - n_train) // 2
    splits = {
        "train": rows[:n_train],
        "validation": rows[n_train:n_train + n_val],
        "test": rows[n_train + n_val:],
    }
    for name, part in splits.items():
        out = os.path.join(BASE, name)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
            csv.writer(f).writerows(part)
        print(f"{name}: {len(part)} rows", flush=True)
    print("mode:", os.environ.get("PREP_MODE", "unset"))


if __name__ == "__main__":
    main()
