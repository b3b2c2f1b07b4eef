"""The Python baseline of bench/serving: the usual Flask + gunicorn + xgboost model server
(SageMaker's own XGBoost container serves the same way), answering SageMaker's serving
contract (GET /ping, POST /invocations) for the benchmark's model. MODEL_PATH names the model.

Run: gunicorn -w 2 --threads 4 -b 127.0.0.1:PORT flask_app:app
"""
import io
import os

import numpy as np
import xgboost as xgb
from flask import Flask, Response, request

app = Flask(__name__)
booster = xgb.Booster()
booster.load_model(os.environ["MODEL_PATH"])
booster.set_param({"nthread": 1})


@app.route("/ping", methods=["GET"])
def ping():
    return Response(status=200)


@app.route("/invocations", methods=["POST"])
def invocations():
    if request.content_type and not request.content_type.startswith("text/csv"):
        return Response("unsupported content type", status=415)
    rows = np.loadtxt(io.StringIO(request.get_data(as_text=True)), delimiter=",", ndmin=2, dtype=np.float32)
    pred = booster.predict(xgb.DMatrix(rows))
    return Response("\n".join("%g" % p for p in pred), mimetype="text/csv")
