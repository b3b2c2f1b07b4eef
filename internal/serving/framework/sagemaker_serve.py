"""Sluice's model server for SageMaker framework images (scikit-learn, XGBoost script mode).

It implements the contract of SageMaker's inference toolkit on the host's Python: the user's
script (SAGEMAKER_PROGRAM, found in SAGEMAKER_SUBMIT_DIRECTORY or /opt/ml/model/code) may define
model_fn, input_fn, predict_fn and output_fn, or transform_fn; whatever it leaves out gets the
default handler of the framework. The server answers GET /ping and POST /invocations on the
port in SAGEMAKER_BIND_TO_PORT, as SageMaker's serving contract requires.

Only the standard library is imported at start; numpy and the framework are imported by the
default handlers that need them.
"""

import importlib
import io
import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_DIR = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
FRAMEWORK = os.environ.get("SLUICE_FRAMEWORK", "sklearn")
JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
LIBSVM = "text/libsvm"


class UnsupportedFormatError(Exception):
    """A content type or accept type the handlers cannot deal with (answered with 415)."""

    def __init__(self, content_type, supported):
        super().__init__(
            "Content type %s is not supported; supported: %s" % (content_type, ", ".join(supported))
        )


def _media(value):
    return (value or "").split(";")[0].strip().lower()


# ---- default handlers -------------------------------------------------------------------------


def _decode(data, content_type):
    import numpy as np

    ct = _media(content_type)
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    else:
        raw = data.encode("utf-8")
    if ct == JSON:
        return np.array(json.loads(raw.decode("utf-8")))
    if ct == CSV:
        text = raw.decode("utf-8")
        rows = [r for r in text.splitlines() if r.strip()]
        arr = np.genfromtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=float)
        return arr.reshape(len(rows), -1) if rows else arr
    if ct == NPY:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    raise UnsupportedFormatError(content_type, [JSON, CSV, NPY])


def _encode(prediction, accept):
    import numpy as np

    ct = _media(accept)
    if ct == JSON:
        if hasattr(prediction, "tolist"):
            prediction = prediction.tolist()
        return json.dumps(prediction), JSON
    if ct == CSV:
        arr = np.asarray(prediction)
        if arr.ndim <= 1:
            arr = arr.reshape(-1, 1)
        buf = io.StringIO()
        for row in arr:
            buf.write(",".join(str(x) for x in row))
            buf.write("\n")
        return buf.getvalue(), CSV
    if ct == NPY:
        buf = io.BytesIO()
        np.save(buf, np.asarray(prediction))
        return buf.getvalue(), NPY
    raise UnsupportedFormatError(accept, [JSON, CSV, NPY])


def default_model_fn(model_dir):
    if FRAMEWORK == "xgboost":
        import xgboost as xgb

        for name in ("xgboost-model", "model.json", "model.ubj", "model.bin"):
            path = os.path.join(model_dir, name)
            if os.path.exists(path):
                booster = xgb.Booster()
                booster.load_model(path)
                return booster
        raise FileNotFoundError("no xgboost-model in %s; define model_fn in your script" % model_dir)
    for name in ("model.joblib", "model.pkl"):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            import joblib

            return joblib.load(path)
    raise NotImplementedError(
        "Please provide a model_fn implementation in your inference script "
        "(see the SageMaker scikit-learn serving documentation)"
    )


def default_input_fn(input_data, content_type):
    if FRAMEWORK == "xgboost":
        import xgboost as xgb

        if _media(content_type) == LIBSVM:
            import tempfile

            with tempfile.NamedTemporaryFile(suffix=".libsvm") as f:
                f.write(input_data if isinstance(input_data, bytes) else input_data.encode())
                f.flush()
                return xgb.DMatrix(f.name + "?format=libsvm")
        return xgb.DMatrix(_decode(input_data, content_type))
    return _decode(input_data, content_type)


def default_predict_fn(data, model):
    return model.predict(data)


def default_output_fn(prediction, accept):
    return _encode(prediction, accept)


# ---- the user's module ------------------------------------------------------------------------


def _load_user_module():
    program = os.environ.get("SAGEMAKER_PROGRAM", "")
    code_dir = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if not code_dir or code_dir.startswith("s3://"):
        code_dir = os.path.join(MODEL_DIR, "code")
    if not program and os.path.exists(os.path.join(code_dir, "inference.py")):
        program = "inference.py"
    if not program:
        return None
    path = os.path.join(code_dir, program)
    if not os.path.exists(path):
        raise FileNotFoundError("SAGEMAKER_PROGRAM %s not found in %s" % (program, code_dir))
    sys.path.insert(0, code_dir)
    name = program[:-3] if program.endswith(".py") else program
    return importlib.import_module(name.replace("/", "."))


class Handlers:
    def __init__(self, module):
        def pick(name, default):
            fn = getattr(module, name, None) if module is not None else None
            return fn if callable(fn) else default

        self.model_fn = pick("model_fn", default_model_fn)
        self.input_fn = pick("input_fn", default_input_fn)
        self.predict_fn = pick("predict_fn", default_predict_fn)
        self.output_fn = pick("output_fn", default_output_fn)
        self.transform_fn = pick("transform_fn", None)
        self.model = self.model_fn(MODEL_DIR)
        self.lock = threading.Lock()
        self.default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", JSON)

    def invoke(self, body, content_type, accept):
        if not accept or accept == "*/*":
            accept = self.default_accept
        with self.lock:
            if self.transform_fn is not None:
                result = self.transform_fn(self.model, body, content_type, accept)
            else:
                data = self.input_fn(body, content_type)
                prediction = self.predict_fn(data, self.model)
                result = self.output_fn(prediction, accept)
        if isinstance(result, tuple):
            payload, out_type = result[0], result[1]
        else:
            payload, out_type = result, accept
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return bytes(payload), out_type


HANDLERS = None


class Server(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            self._answer(200, b"")
        elif self.path == "/execution-parameters":
            params = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
            self._answer(200, json.dumps(params).encode(), JSON)
        else:
            self._answer(404, b"not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != "/invocations":
            self._answer(404, b"not found")
            return
        try:
            payload, out_type = HANDLERS.invoke(body, self.headers.get("Content-Type", ""), self.headers.get("Accept", ""))
        except UnsupportedFormatError as e:
            self._answer(415, str(e).encode())
            return
        except Exception as e:  # the model's own failure: reported to the caller as a ModelError
            traceback.print_exc()
            self._answer(500, ("%s: %s" % (type(e).__name__, e)).encode())
            return
        self._answer(200, payload, out_type)


def main():
    global HANDLERS
    HANDLERS = Handlers(_load_user_module())
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Server)
    server.daemon_threads = True
    print("sluice framework server (%s) listening on %d" % (FRAMEWORK, port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
