package serving

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/runtime"
)

// pythonOrSkip returns the interpreter of the gated suites.
func pythonOrSkip(t *testing.T) string {
	t.Helper()
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: Python model servers not tested; set SLUICE_TEST_PYTHON=/usr/bin/python3 (with python3-sklearn) to run them")
	}
	return py
}

// userServer is a user's own model server, written against SageMaker's serving contract with
// nothing but the standard library: it doubles each number of a CSV row.
const userServer = `
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ping":
            self.send_response(200)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.path != "/invocations":
            self.send_response(404)
            self.end_headers()
            return
        try:
            out = ",".join(str(2 * float(x)) for x in body.strip().split(","))
        except ValueError as e:
            msg = str(e).encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        data = out.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))), Handler).serve_forever()
`

func TestPythonUserServer(t *testing.T) {
	py := pythonOrSkip(t)
	script := filepath.Join(t.TempDir(), "serve.py")
	os.WriteFile(script, []byte(userServer), 0o644)
	e := newTestEnv(t, runtime.Mapping{Image: "registry.example/doubler:*", Entrypoint: []string{py, script}})
	s := startHelper(t, e, ModelSpec{Name: "doubler", Replicas: 2, Containers: []ContainerSpec{{Image: "registry.example/doubler:1"}}})
	if got := invoke(t, s, "1,2.5", "text/csv", ""); got.Status != 200 || string(got.Body) != "2.0,5.0" || got.ContentType != "text/csv" {
		t.Fatalf("answer %d %q %q", got.Status, got.ContentType, got.Body)
	}
	if got := invoke(t, s, "x", "text/csv", ""); got.Status != 400 {
		t.Fatalf("bad input answered %d %q", got.Status, got.Body)
	}
}

const trainSKLearn = `
import sys, joblib
from sklearn.linear_model import LinearRegression
import numpy as np
m = LinearRegression().fit([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [1.0, 3.0, 5.0])
# Exact coefficients, so answers print exactly: y = 1 + 2*x0 + 4*x1.
m.coef_, m.intercept_ = np.array([2.0, 4.0]), 1.0
joblib.dump(m, sys.argv[1])
`

// SageMaker's scikit-learn image serving a model with a user script, as the SDK's SKLearnModel
// deploys it: the archive holds model.joblib and code/inference.py.
func TestSKLearnFramework(t *testing.T) {
	py := pythonOrSkip(t)
	dir := t.TempDir()
	if out, err := exec.Command(py, "-c", trainSKLearn, filepath.Join(dir, "model.joblib")).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	model, _ := os.ReadFile(filepath.Join(dir, "model.joblib"))
	e := newTestEnv(t)
	const image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
	tests := []struct {
		name, script, program string
		body, ct, accept      string
		status                int
		want                  string
	}{
		{"model_fn only: default decode, predict and encode", `
import joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
`, "inference.py", "1,1\n0,0", "text/csv", "application/json", 200, "[7.0, 1.0]"},
		{"csv answer", `
import joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
`, "inference.py", "[[1, 0]]", "application/json", "text/csv", 200, "3.0"},
		{"all four handlers", `
import json, joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
def input_fn(body, content_type):
    return [json.loads(body)["x"]]
def predict_fn(data, model):
    return model.predict(data) * 10
def output_fn(prediction, accept):
    return json.dumps({"y": prediction.tolist()}), "application/vnd+custom"
`, "serve_me.py", `{"x": [0, 1]}`, "application/json", "", 200, `{"y": [50.0]}`},
		{"transform_fn replaces the others", `
def model_fn(model_dir):
    return "m"
def transform_fn(model, body, content_type, accept):
    return body.upper(), "text/plain"
`, "inference.py", "abc", "text/plain", "", 200, "ABC"},
		{"unsupported content type", `
import joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
`, "inference.py", "x", "image/png", "", 415, "image/png is not supported"},
		{"the model raises", `
def model_fn(model_dir):
    return None
def predict_fn(data, model):
    raise ValueError("bad features")
`, "inference.py", "1,1", "text/csv", "", 500, "ValueError: bad features"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := e.putTarGz(t, "sk/"+string(rune('a'+i))+".tar.gz", map[string][]byte{"model.joblib": model, "code/" + tc.program: []byte(tc.script)})
			s := startHelper(t, e, ModelSpec{Name: "sk", Replicas: 1, Containers: []ContainerSpec{{Image: image, ModelDataURL: url,
				Environment: map[string]string{"SAGEMAKER_PROGRAM": tc.program, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}}}})
			if st := s.Status(); st.Kind != "framework" {
				t.Fatalf("status %+v", st)
			}
			got := invoke(t, s, tc.body, tc.ct, tc.accept)
			if got.Status != tc.status || !strings.Contains(strings.TrimSpace(string(got.Body)), tc.want) {
				t.Fatalf("answer %d %q, want %d %q", got.Status, got.Body, tc.status, tc.want)
			}
		})
	}
}
