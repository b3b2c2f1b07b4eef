"""A script-mode training script, as the SageMaker Python SDK's framework estimators run it.

Hyperparameters arrive as --name value arguments; data, model and output folders come from the
SM_* variables. It fits a linear regression of Rings by gradient descent (standard library
only), prints metrics the job's MetricDefinitions pick up, and saves the model.
"""
import argparse
import csv
import glob
import json
import math
import os


def load(channel_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(channel_dir, "*.csv"))):
        with open(path, newline="") as f:
            rows += [[float(v) for v in r] for r in csv.reader(f) if r]
    return [r[1:] for r in rows], [r[0] for r in rows]


def rmse(w, b, xs, ys):
    err = sum((sum(wi * xi for wi, xi in zip(w, x)) + b - y) ** 2 for x, y in zip(xs, ys))
    return math.sqrt(err / len(ys))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    args = parser.parse_args()

    hps = json.loads(os.environ["SM_HPS"])
    with open("/opt/ml/input/config/hyperparameters.json") as f:
        raw = json.load(f)
    assert int(hps["epochs"]) == args.epochs and "epochs" in raw, (hps, raw)
    assert os.environ["SM_CURRENT_HOST"] == "algo-1"

    xs, ys = load(args.train)
    vx, vy = load(args.validation)
    w, b = [0.0] * len(xs[0]), sum(ys) / len(ys)
    for epoch in range(1, args.epochs + 1):
        gw, gb = [0.0] * len(w), 0.0
        for x, y in zip(xs, ys):
            e = sum(wi * xi for wi, xi in zip(w, x)) + b - y
            gw = [g + e * xi for g, xi in zip(gw, x)]
            gb += e
        w = [wi - args.learning_rate * g / len(ys) for wi, g in zip(w, gw)]
        b -= args.learning_rate * gb / len(ys)
        print(f"epoch={epoch} train_rmse={rmse(w, b, xs, ys):.4f} validation_rmse={rmse(w, b, vx, vy):.4f}", flush=True)

    with open(os.path.join(args.model_dir, "model.json"), "w") as f:
        json.dump({"weights": w, "bias": b, "features": len(w)}, f)
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "metrics.json"), "w") as f:
        json.dump({"validation_rmse": rmse(w, b, vx, vy)}, f)


if __name__ == "__main__":
    main()
