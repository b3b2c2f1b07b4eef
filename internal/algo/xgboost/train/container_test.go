package train

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// mlRoot lays out a SageMaker training directory: config files and channel data.
func mlRoot(t *testing.T, hps map[string]string, channels map[string]string, data map[string]string) string {
	t.Helper()
	root := t.TempDir()
	cfg := filepath.Join(root, "input", "config")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cfg, "hyperparameters.json"), hps)
	idc := map[string]map[string]string{}
	for ch, ct := range channels {
		idc[ch] = map[string]string{"ContentType": ct, "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
	}
	write(filepath.Join(cfg, "inputdataconfig.json"), idc)
	for rel, content := range data {
		p := filepath.Join(root, "input", "data", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// csvText renders a matrix as the label-first CSV a channel holds.
func csvText(t *testing.T, m *Matrix) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.csv")
	writeCSV(t, m, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMainTrainsAndWritesModel(t *testing.T) {
	train := synthetic(600, "reg:squarederror", 0, true, 1)
	valid := synthetic(200, "reg:squarederror", 0, true, 2)
	trainText := csvText(t, train)
	half := strings.Index(trainText[len(trainText)/2:], "\n") + len(trainText)/2 + 1
	root := mlRoot(t,
		// Values as the SageMaker SDK sends them: some JSON-encoded, some plain.
		map[string]string{"num_round": `"8"`, "max_depth": "3", "eta": "0.3", "objective": "reg:linear", "sagemaker_region": `"us-east-1"`},
		map[string]string{"train": "text/csv;label_size=1", "validation": "text/csv"},
		map[string]string{"train/part-0.csv": trainText[:half], "train/part-1.csv": trainText[half:], "validation/valid.csv": csvText(t, valid)})
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), []string{"train", "--ml-root", root}, &stdout, &stderr); err != nil {
		t.Fatalf("Main: %v\nstderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[7], "[7]\ttrain-rmse:") || !strings.Contains(lines[7], "\tvalidation-rmse:") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	f, err := os.Open(filepath.Join(root, "model", ModelFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := xgboost.Load(f)
	if err != nil {
		t.Fatalf("load written model: %v", err)
	}
	if len(m.Trees) != 8 || m.NumFeature != 5 || m.Objective != "reg:squarederror" {
		t.Errorf("model: %d trees, %d features, objective %s", len(m.Trees), m.NumFeature, m.Objective)
	}
	if _, err := os.Stat(filepath.Join(root, "output", "failure")); err == nil {
		t.Error("failure file written on success")
	}
}

func TestMainFindsOptMLFromEnvironment(t *testing.T) {
	root := mlRoot(t, map[string]string{"num_round": "1"}, map[string]string{"train": "text/csv"},
		map[string]string{"train/d.csv": "1,2\n2,3\n"})
	t.Setenv(optMLEnvVar, root)
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), []string{"train"}, &stdout, &stderr); err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(root, "model", ModelFileName)); err != nil {
		t.Fatal(err)
	}
}

func TestMainLibSVM(t *testing.T) {
	root := mlRoot(t, map[string]string{"num_round": "3", "objective": "binary:logistic", "eval_metric": "auc", "min_child_weight": "0"},
		map[string]string{"train": "text/libsvm", "validation": "libsvm"},
		map[string]string{
			"train/a.libsvm":      "1 0:1 2:5\n0 0:-1 1:2\n1 0:2 2:4\n0 0:-2\n1 0:3 1:1 2:6\n0 0:-3 1:3\n",
			"validation/b.libsvm": "1 0:1.5\n0 0:-1.5 1:1\n",
		})
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), []string{"--ml-root", root}, &stdout, &stderr); err != nil {
		t.Fatalf("Main: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "[2]\ttrain-auc:1.00000\tvalidation-auc:1.00000") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

// TestMainFailures checks that bad input fails the job with a reason a person can act on,
// written to output/failure, and no model.
func TestMainFailures(t *testing.T) {
	tests := []struct {
		name    string
		hps     map[string]string
		data    map[string]string
		wantErr string
	}{
		{name: "ragged csv rows", hps: map[string]string{"num_round": "2"},
			data:    map[string]string{"train/d.csv": "1,2,3\n2,3\n"},
			wantErr: "channel train: read csv: d.csv line 2: row has 2 columns, earlier rows have 3 (ragged CSV)"},
		{name: "non-numeric cell", hps: map[string]string{"num_round": "2"},
			data:    map[string]string{"train/d.csv": "1,2,3\n2,x3,4\n"},
			wantErr: `channel train: read csv: d.csv line 2 column 2: "x3" is not a number`},
		{name: "unknown objective", hps: map[string]string{"num_round": "2", "objective": "reg:banana"},
			data:    map[string]string{"train/d.csv": "1,2\n"},
			wantErr: `unknown objective "reg:banana"`},
		{name: "num_class missing for multi-class", hps: map[string]string{"num_round": "2", "objective": "multi:softmax"},
			data:    map[string]string{"train/d.csv": "1,2\n"},
			wantErr: "objective multi:softmax needs num_class >= 2 (num_class is missing)"},
		{name: "num_round missing", hps: map[string]string{"max_depth": "2"},
			data:    map[string]string{"train/d.csv": "1,2\n"},
			wantErr: "num_round is required"},
		{name: "no train channel", hps: map[string]string{"num_round": "2"},
			data:    map[string]string{"validation/d.csv": "1,2\n"},
			wantErr: "channel train is required"},
		{name: "early stopping without validation", hps: map[string]string{"num_round": "2", "early_stopping_rounds": "3"},
			data:    map[string]string{"train/d.csv": "1,2\n"},
			wantErr: "early_stopping_rounds needs a validation channel"},
		{name: "validation width differs", hps: map[string]string{"num_round": "2"},
			data:    map[string]string{"train/d.csv": "1,2,3\n", "validation/d.csv": "1,2\n"},
			wantErr: "validation data has 1 feature columns, training data has 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			channels := map[string]string{}
			for rel := range tt.data {
				channels[strings.Split(rel, "/")[0]] = "text/csv"
			}
			root := mlRoot(t, tt.hps, channels, tt.data)
			var stdout, stderr bytes.Buffer
			err := Main(context.Background(), []string{"--ml-root", root}, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			failure, ferr := os.ReadFile(filepath.Join(root, "output", "failure"))
			if ferr != nil || !strings.Contains(string(failure), tt.wantErr) {
				t.Errorf("output/failure = %q (%v), want it to contain %q", failure, ferr, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(root, "model", ModelFileName)); err == nil {
				t.Error("a model was written for a failed job")
			}
		})
	}
}
