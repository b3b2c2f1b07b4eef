//go:build linux

package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// pythonCatalog returns a catalog whose "python3" is SLUICE_TEST_PYTHON, or
// skips loudly.
func pythonCatalog(t *testing.T) *Catalog {
	t.Helper()
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: set SLUICE_TEST_PYTHON to a python3 with pandas and scikit-learn (e.g. /usr/bin/python3) to run user scripts under the SageMaker contract")
	}
	c, err := NewCatalog(CatalogConfig{Executable: testExecutable(t), Python: py})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func copyFixture(t *testing.T, name, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

// The abalone pipeline's preprocessing step: SKLearn image, python3 entrypoint,
// a script that knows only hard-coded /opt/ml paths, no network.
func TestPythonProcessingJob(t *testing.T) {
	c := pythonCatalog(t)
	p := nsProcess(t)
	ws := t.TempDir()
	copyFixture(t, "preprocessing.py", filepath.Join(ws, "processing/input/code/preprocessing.py"))
	copyFixture(t, "data.csv", filepath.Join(ws, "processing/input/data.csv"))

	cmd, err := c.Resolve(Request{
		Image:      sklearnURI,
		Mode:       ModeProcess,
		Entrypoint: []string{"python3", "/opt/ml/processing/input/code/preprocessing.py"},
		Arguments:  []string{"--input-data", "s3://bucket/abalone.csv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	exit, out, errOut := run(t, p, Spec{Command: cmd, Workspace: ws, NetworkIsolation: true})
	if exit.Code != 0 {
		t.Fatalf("exit %+v\nstdout %s\nstderr %s", exit, out, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	want := map[string]any{"argv": []any{"--input-data", "s3://bucket/abalone.csv"}, "rows": 8.0, "train": 6.0, "test": 2.0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("script reported %v, want %v", got, want)
	}
	for _, f := range []string{"processing/train/train.csv", "processing/test/test.csv"} {
		if _, err := os.Stat(filepath.Join(ws, f)); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
}

// Script mode: sagemaker_program selects the entry script, the other
// hyperparameters become arguments, and the SM_* environment tells it where
// things are.
func TestPythonScriptModeTraining(t *testing.T) {
	c := pythonCatalog(t)
	p := nsProcess(t)
	ws := t.TempDir()
	copyFixture(t, "train.py", filepath.Join(ws, "code/train.py"))
	copyFixture(t, "data.csv", filepath.Join(ws, "input/data/train/train.csv"))
	if err := os.MkdirAll(filepath.Join(ws, "model"), 0o755); err != nil {
		t.Fatal(err)
	}
	hps := map[string]string{
		"sagemaker_program":          `"train.py"`,
		"sagemaker_submit_directory": `"s3://bucket/code/sourcedir.tar.gz"`,
		"sagemaker_region":           `"us-east-1"`,
		"alpha":                      "0.5",
		"fit_intercept":              "false",
		"label":                      `"rings"`,
	}
	cmd, err := c.Resolve(Request{Image: sklearnURI, Mode: ModeTrain, HyperParameters: hps})
	if err != nil {
		t.Fatal(err)
	}
	env := TrainingEnv(TrainingEnvConfig{
		JobName:         "ridge-1",
		HyperParameters: hps,
		Channels:        map[string]ChannelConfig{"train": {ContentType: "text/csv", TrainingInputMode: "File", S3DistributionType: "FullyReplicated", RecordWrapperType: "None"}},
	})
	exit, out, errOut := run(t, p, Spec{Command: cmd, Workspace: ws, Env: env, NetworkIsolation: true})
	if exit.Code != 0 {
		t.Fatalf("exit %+v\nstdout %s\nstderr %s", exit, out, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	want := map[string]any{
		"alpha":            0.5,
		"fit_intercept":    "False",
		"cwd":              "/opt/ml/code",
		"hps":              map[string]any{"alpha": 0.5, "fit_intercept": false, "label": "rings"},
		"user_entry_point": "train.py",
		"channels":         []any{"train"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("script reported %v\nwant %v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(ws, "model/model.joblib")); err != nil || fi.Size() == 0 {
		t.Errorf("model/model.joblib: %v", err)
	}
}
