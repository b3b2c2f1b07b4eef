package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAgainstScikitLearn scores real-XGBoost models (the predictor's fixtures) on labelled
// rows and compares every metric with scikit-learn's, computed on real XGBoost's predictions.
func TestAgainstScikitLearn(t *testing.T) {
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: set SLUICE_TEST_PYTHON=/usr/bin/python3 (with python3-xgboost and sklearn) to compare with scikit-learn")
	}
	tests := []struct {
		fixture, kind, section string
		label                  func(i int) string
		metrics                map[string]string // our name -> reference name
	}{
		{"reg_squarederror", "regression", "regression_metrics", func(i int) string { return strconv.FormatFloat(float64(i%7)-3.5, 'g', -1, 64) },
			map[string]string{"mse": "mse", "rmse": "rmse", "mae": "mae", "r2": "r2"}},
		{"binary_logistic", "binary", "binary_classification_metrics", func(i int) string { return strconv.Itoa(i * 7 % 3 % 2) },
			map[string]string{"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "f1", "f2": "f2", "auc": "auc"}},
		{"multi_softprob", "multiclass", "multiclass_classification_metrics", func(i int) string { return strconv.Itoa(i * 5 % 3) },
			map[string]string{"accuracy": "accuracy", "weighted_precision": "weighted_precision", "weighted_recall": "weighted_recall", "weighted_f1": "weighted_f1"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join("..", "xgboost", "testdata", tt.fixture+".json")
			rows := fixtureRows(t, filepath.Join("..", "xgboost", "testdata", tt.fixture+".cases.json"))
			var csv strings.Builder
			for i, r := range rows {
				csv.WriteString(tt.label(i))
				for _, v := range r {
					csv.WriteByte(',')
					if v != nil {
						csv.WriteString(strconv.FormatFloat(*v, 'g', -1, 64))
					}
				}
				csv.WriteByte('\n')
			}
			test := writeFile(t, filepath.Join(dir, "test", "test.csv"), csv.String())
			rep, err := Run(context.Background(), Config{Model: model, Test: test, Output: filepath.Join(dir, "eval"), Threshold: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			refPath := filepath.Join(dir, "ref.json")
			cmd := exec.Command(py, filepath.Join("testdata", "sklearn_metrics.py"), model, test, tt.kind, refPath)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var ref map[string]float64
			b, _ := os.ReadFile(refPath)
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			section := map[string]any{}
			switch {
			case rep.RegressionMetrics != nil:
				for k, v := range rep.RegressionMetrics {
					section[k] = v
				}
				if got, want := rep.RegressionMetrics["mse"].StandardDeviation, ref["mse_sd"]; math.Abs(got-want) > 1e-5 {
					t.Errorf("mse standard_deviation %v, reference %v", got, want)
				}
			case rep.BinaryMetrics != nil:
				section = rep.BinaryMetrics
			default:
				section = rep.MulticlassMetrics
			}
			for ours, theirs := range tt.metrics {
				m, ok := section[ours].(Metric)
				if !ok {
					t.Errorf("%s.%s missing", tt.section, ours)
					continue
				}
				if math.Abs(m.Value-ref[theirs]) > 1e-5*max(1, math.Abs(ref[theirs])) {
					t.Errorf("%s.%s = %v, scikit-learn %v", tt.section, ours, m.Value, ref[theirs])
				}
			}
			t.Log(fmt.Sprint(ref))
		})
	}
}

// fixtureRows reads the rows of a predictor fixture (null = missing).
func fixtureRows(t *testing.T, path string) [][]*float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Rows [][]*float64 `json:"rows"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Rows
}
