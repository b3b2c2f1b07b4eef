#!/usr/bin/python3
"""Real-XGBoost side of the predictor compatibility tests.

  xgbcompat.py train OUTDIR [--fixtures]
      Trains small models with real XGBoost on deterministic synthetic data and writes, per
      case, NAME.json, NAME.ubj and NAME.bin (the model in each format) and NAME.cases.json (input rows, NaN as null,
      with XGBoost's predict and predict(output_margin=True) for them). --fixtures trains the
      reduced set committed under testdata/.
  xgbcompat.py predict MODEL ROWS_JSON OUT_JSON
      Loads MODEL (any file name; XGBoost detects JSON by content) and writes its predictions
      and margins for the rows in ROWS_JSON ({"rows": [[...]]}).
"""
import json
import sys

import numpy as np
import xgboost as xgb


def data(rng, n, nfeat, missing=0.1):
    x = rng.normal(size=(n, nfeat)).astype(np.float32)
    x[:, 1] = np.round(x[:, 1] * 2)  # a discrete column, so thresholds fall between values
    mask = rng.random(size=(n, nfeat)) < missing
    x[mask] = np.nan
    return x


def signal(x):
    z = np.nan_to_num(x, nan=0.0)
    return 1.5 * z[:, 0] - z[:, 1] + 0.5 * z[:, 2] * z[:, 3] + np.sin(z[:, 4] if z.shape[1] > 4 else z[:, 0])


CASES = {
    # name: (params, rounds, label kind)
    "reg_squarederror": ({"objective": "reg:squarederror", "max_depth": 3, "eta": 0.3}, 10, "reg"),
    "binary_logistic": ({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, 10, "bin"),
    "binary_logistic_base": ({"objective": "binary:logistic", "max_depth": 3, "base_score": 0.3, "scale_pos_weight": 2}, 6, "bin"),
    "multi_softprob": ({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, 5, "multi"),
    "multi_softmax": ({"objective": "multi:softmax", "num_class": 3, "max_depth": 3}, 5, "multi"),
    "count_poisson": ({"objective": "count:poisson", "max_depth": 3}, 10, "count"),
    "dart_regression": ({"booster": "dart", "objective": "reg:squarederror", "max_depth": 3, "rate_drop": 0.3, "seed": 3}, 8, "reg"),
    "exact_pruned": ({"tree_method": "exact", "objective": "reg:squarederror", "max_depth": 4, "gamma": 3.0}, 5, "reg"),
}

EXTRA_CASES = {
    "reg_logistic": ({"objective": "reg:logistic", "max_depth": 4}, 20, "bin"),
    "reg_linear": ({"objective": "reg:linear", "max_depth": 6}, 30, "reg"),
    "binary_logitraw": ({"objective": "binary:logitraw", "max_depth": 4}, 20, "bin"),
    "binary_hinge": ({"objective": "binary:hinge", "max_depth": 4}, 20, "bin"),
    "reg_gamma": ({"objective": "reg:gamma", "max_depth": 4}, 20, "count1"),
    "reg_tweedie": ({"objective": "reg:tweedie", "max_depth": 4}, 20, "count"),
    "reg_pseudohuber": ({"objective": "reg:pseudohubererror", "max_depth": 4}, 20, "reg"),
    "reg_absoluteerror": ({"objective": "reg:absoluteerror", "max_depth": 4}, 20, "reg"),
    "multi_softprob_5": ({"objective": "multi:softprob", "num_class": 5, "max_depth": 5, "subsample": 0.8, "colsample_bytree": 0.7}, 20, "multi5"),
    "multi_softmax_5": ({"objective": "multi:softmax", "num_class": 5, "max_depth": 5}, 20, "multi5"),
    "random_forest": ({"objective": "reg:squarederror", "num_parallel_tree": 4, "subsample": 0.7, "colsample_bynode": 0.7, "max_depth": 4, "eta": 1.0}, 3, "reg"),
    "deep_lossguide": ({"objective": "reg:squarederror", "grow_policy": "lossguide", "max_leaves": 40, "max_depth": 0}, 15, "reg"),
    "approx_binary": ({"tree_method": "approx", "objective": "binary:logistic", "max_depth": 6, "min_child_weight": 0.5}, 25, "bin"),
    "survival_cox": ({"objective": "survival:cox", "max_depth": 3}, 10, "cox"),
    "rank_pairwise": ({"objective": "rank:pairwise", "max_depth": 3}, 10, "rank"),
}


def labels(kind, x, rng):
    s = signal(x)
    if kind == "reg":
        return 3 * s + rng.normal(size=len(s))
    if kind == "bin":
        return (s + rng.normal(size=len(s)) > 0).astype(np.float32)
    if kind == "multi":
        return np.digitize(s + 0.5 * rng.normal(size=len(s)), [-1.0, 1.0]).astype(np.float32)
    if kind == "multi5":
        return np.digitize(s + 0.5 * rng.normal(size=len(s)), [-2, -0.7, 0.7, 2]).astype(np.float32)
    if kind == "count":
        return rng.poisson(np.exp(0.4 * np.clip(s, -3, 3))).astype(np.float32)
    if kind == "count1":
        return rng.poisson(np.exp(0.4 * np.clip(s, -3, 3))).astype(np.float32) + 1
    if kind == "cox":
        return cox_labels(rng, s)
    if kind == "rank":
        return np.digitize(s, [-1.0, 0.0, 1.0]).astype(np.float32)
    raise ValueError(kind)


def cox_labels(rng, s):
    t = rng.exponential(np.exp(-0.3 * np.clip(s, -3, 3))).astype(np.float32) + 0.01
    return np.where(rng.random(len(t)) < 0.2, -t, t)


def rows_json(x):
    return [[None if np.isnan(v) else float(v) for v in row] for row in x]


def predictions(booster, x):
    d = xgb.DMatrix(x, missing=np.nan, feature_names=booster.feature_names, feature_types=booster.feature_types)
    pred = booster.predict(d)
    margin = booster.predict(d, output_margin=True)
    n = x.shape[0]
    return pred.reshape(n, -1).tolist(), margin.reshape(n, -1).tolist()


def train(outdir, fixtures):
    cases = dict(CASES)
    if not fixtures:
        cases.update(EXTRA_CASES)
    for i, (name, (params, rounds, kind)) in enumerate(sorted(cases.items())):
        rng = np.random.default_rng(1000 + i)
        nfeat = 6
        n = 300 if fixtures else 2000
        x = data(rng, n, nfeat)
        y = labels(kind, x, rng)
        p = {"tree_method": "hist", "nthread": 1, "seed": 7}
        p.update(params)
        d = xgb.DMatrix(x, label=y, missing=np.nan)
        if kind == "rank":
            d.set_group([50] * (n // 50))
        booster = xgb.train(p, d, rounds)
        booster.save_model(f"{outdir}/{name}.json")
        booster.save_model(f"{outdir}/{name}.ubj")
        # Any other name gets XGBoost 1.x's deprecated binary format, which is what
        # SageMaker's XGBoost containers write to xgboost-model.
        booster.save_model(f"{outdir}/{name}.bin")
        # Rows to check: fresh ones, training rows, and values exactly on split thresholds.
        xt = data(np.random.default_rng(2000 + i), 40 if fixtures else 500, nfeat, missing=0.2)
        cut = thresholds(booster)
        for r in range(min(len(xt), len(cut))):
            f, c = cut[r]
            xt[r, f] = c
        xt = np.vstack([xt, x[:10]]).astype(np.float32)
        pred, margin = predictions(booster, xt)
        with open(f"{outdir}/{name}.cases.json", "w") as fh:
            json.dump({"xgboost_version": xgb.__version__, "params": p, "rounds": rounds,
                       "rows": rows_json(xt), "predictions": pred, "margins": margin}, fh)


def thresholds(booster):
    model = json.loads(booster.save_raw("json"))
    gb = model["learner"]["gradient_booster"]
    trees = (gb["gbtree"] if gb["name"] == "dart" else gb)["model"]["trees"]
    out = []
    for t in trees:
        for j, left in enumerate(t["left_children"]):
            if left != -1 and t["split_indices"][j] < 2**31 - 1:
                out.append((t["split_indices"][j], t["split_conditions"][j]))
    return out


def predict(model_path, rows_path, out_path):
    booster = xgb.Booster()
    booster.load_model(model_path)
    with open(rows_path) as fh:
        rows = json.load(fh)["rows"]
    x = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)
    pred, margin = predictions(booster, x)
    with open(out_path, "w") as fh:
        json.dump({"predictions": pred, "margins": margin}, fh)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], "--fixtures" in sys.argv[3:])
    elif sys.argv[1] == "predict":
        predict(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
