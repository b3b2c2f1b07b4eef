package evaluate

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// stump is a one-feature model: x < 0.5 gives lv, else rv (plus the base margin).
func stump(objective string, base, lv, rv float32) *xgboost.Model {
	return &xgboost.Model{
		Objective: objective, BaseScore: base, NumFeature: 1,
		Trees: []xgboost.Tree{{
			LeftChildren: []int32{1, -1, -1}, RightChildren: []int32{2, -1, -1},
			SplitIndices: []int32{0, 0, 0}, SplitConditions: []float32{0.5, lv, rv},
			DefaultLeft: []bool{true, false, false},
		}},
	}
}

// modelTarGz writes m as xgboost-model (under name) inside dir/model.tar.gz, as a
// training job's artifact.
func modelTarGz(t *testing.T, dir, name string, m *xgboost.Model) string {
	t.Helper()
	var model bytes.Buffer
	if m != nil {
		if err := m.WriteJSON(&model); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(model.Len())})
	tw.Write(model.Bytes())
	if name != "notes.txt" {
		tw.WriteHeader(&tar.Header{Name: "notes.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
		tw.Write([]byte("hi"))
	}
	tw.Close()
	gz.Close()
	path := filepath.Join(dir, "model.tar.gz")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runEval runs Main and returns evaluation.json decoded generically.
func runEval(t *testing.T, m *xgboost.Model, test string, extra ...string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	modelTarGz(t, filepath.Join(dir, "model"), "xgboost-model", m)
	writeFile(t, filepath.Join(dir, "test", "test.csv"), test)
	args := append([]string{"-model", filepath.Join(dir, "model"), "-test", filepath.Join(dir, "test"), "-output", filepath.Join(dir, "evaluation")}, extra...)
	var stdout bytes.Buffer
	if err := Main(context.Background(), args, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "evaluation", "evaluation.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// get follows a JsonGet-style dotted path.
func get(t *testing.T, doc map[string]any, path string) any {
	t.Helper()
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not an object", path, k)
		}
		if cur, ok = m[k]; !ok {
			t.Fatalf("%s: no %q", path, k)
		}
	}
	return cur
}

func near(t *testing.T, doc map[string]any, path string, want float64) {
	t.Helper()
	if got := get(t, doc, path).(float64); math.Abs(got-want) > 1e-6 {
		t.Errorf("%s = %v, want %v", path, got, want)
	}
}

func TestRegressionReport(t *testing.T) {
	// Predictions 1,1,3,3 for labels 1,2,3,5: residuals 0,1,0,2.
	rep := runEval(t, stump("reg:squarederror", 0, 1, 3), "1,0\n2,0\n3,1\n5,1\n")
	near(t, rep, "regression_metrics.mse.value", 1.25)
	near(t, rep, "regression_metrics.mse.standard_deviation", math.Sqrt(0.6875))
	near(t, rep, "regression_metrics.rmse.value", math.Sqrt(1.25))
	near(t, rep, "regression_metrics.mae.value", 0.75)
	near(t, rep, "regression_metrics.r2.value", 1-5/8.75)
	if sd := get(t, rep, "regression_metrics.mae.standard_deviation").(float64); sd <= 0 || sd > 1 {
		t.Errorf("bootstrap sd of mae = %v", sd)
	}
	if len(rep) != 1 {
		t.Errorf("report has sections %v, want only regression_metrics", rep)
	}
}

func TestBinaryReport(t *testing.T) {
	// Scores sigmoid(-2) for x=0 and sigmoid(2) for x=1.
	rep := runEval(t, stump("binary:logistic", 0.5, -2, 2), "0,0\n1,0\n1,1\n1,1\n0,1\n")
	m := "binary_classification_metrics."
	near(t, rep, m+"accuracy.value", 0.6)
	near(t, rep, m+"precision.value", 2.0/3)
	near(t, rep, m+"recall.value", 2.0/3)
	near(t, rep, m+"f1.value", 2.0/3)
	near(t, rep, m+"false_positive_rate.value", 0.5)
	near(t, rep, m+"auc.value", 3.5/6)
	near(t, rep, m+"confusion_matrix.0.0", 1)
	near(t, rep, m+"confusion_matrix.0.1", 1)
	near(t, rep, m+"confusion_matrix.1.0", 1)
	near(t, rep, m+"confusion_matrix.1.1", 2)
	// A stricter threshold predicts nothing positive.
	rep = runEval(t, stump("binary:logistic", 0.5, -2, 2), "0,0\n1,0\n1,1\n1,1\n0,1\n", "-threshold", "0.95")
	near(t, rep, m+"recall.value", 0)
	near(t, rep, m+"accuracy.value", 0.4)
}

func TestMulticlassReport(t *testing.T) {
	m := &xgboost.Model{Objective: "multi:softprob", BaseScore: 0.5, NumClass: 3, NumFeature: 1}
	for g, leaves := range [][2]float32{{2, 0}, {0, 2}, {0, 0}} {
		s := stump("reg:squarederror", 0, leaves[0], leaves[1]).Trees[0]
		s.Group = int32(g)
		m.Trees = append(m.Trees, s)
	}
	// x=0 predicts class 0, x=1 class 1; labels 0,0,1,2 → 2 of 4... plus one right class 1.
	test := "0,0\n0,0\n1,1\n2,1\n1,0\n"
	rep := runEval(t, m, test)
	p := "multiclass_classification_metrics."
	near(t, rep, p+"accuracy.value", 0.6)
	// class 0: p=2/3 r=1 (support 2); class 1: p=1/2 r=1/2 (2); class 2: p=0 r=0 (1).
	near(t, rep, p+"weighted_precision.value", (2*2.0/3+2*0.5)/5)
	near(t, rep, p+"weighted_recall.value", (2*1+2*0.5)/5)
	near(t, rep, p+"weighted_f1.value", (2*0.8+2*0.5)/5)
	near(t, rep, p+"confusion_matrix.2.1", 1)
	m.Objective = "multi:softmax"
	rep = runEval(t, m, test)
	near(t, rep, p+"accuracy.value", 0.6)
}

func TestLoadModelForms(t *testing.T) {
	m := stump("reg:squarederror", 0, 1, 3)
	tests := []struct {
		name    string
		setup   func(dir string) string
		wantErr string
	}{
		{"tar.gz in a directory", func(dir string) string { modelTarGz(t, dir, "xgboost-model", m); return dir }, ""},
		{"tar.gz with ./ prefix", func(dir string) string { return modelTarGz(t, dir, "./xgboost-model", m) }, ""},
		{"tar.gz whose only file has another name", func(dir string) string { return modelTarGz(t, dir, "notes.txt", m) }, ""},
		{"bare model file in a directory", func(dir string) string {
			var b bytes.Buffer
			m.WriteJSON(&b)
			writeFile(t, filepath.Join(dir, "xgboost-model"), b.String())
			return dir
		}, ""},
		{"tar.gz without the model", func(dir string) string { return modelTarGz(t, dir, "model.bin", m) }, "no xgboost-model in the archive"},
		{"empty directory", func(dir string) string { return dir }, "neither model.tar.gz nor xgboost-model"},
		{"pickle", func(dir string) string { return writeFile(t, filepath.Join(dir, "xgboost-model"), "\x80\x04pickle") }, "not an XGBoost JSON, UBJSON or binary model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadModel(tt.setup(t.TempDir()))
			if tt.wantErr == "" {
				if err != nil || got.Objective != "reg:squarederror" {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunRejects(t *testing.T) {
	tests := []struct {
		name    string
		model   *xgboost.Model
		test    string
		problem string
		wantErr string
	}{
		{"ragged row", stump("reg:squarederror", 0, 1, 3), "1,0\n2,0,5\n", "", "line 2: 3 fields, expected 2"},
		{"non-numeric feature", stump("reg:squarederror", 0, 1, 3), "1,0\n2,abc\n", "", `line 2 column 2: "abc" is not a number`},
		{"non-numeric label", stump("reg:squarederror", 0, 1, 3), "x,0\n", "", `label "x" is not a number`},
		{"too many features", stump("reg:squarederror", 0, 1, 3), "1,0,0\n", "", "has 2 feature columns after the label, the model expects 1"},
		{"no rows", stump("reg:squarederror", 0, 1, 3), "", "", "no rows"},
		{"binary labels", stump("binary:logistic", 0.5, -1, 1), "2,0\n", "", "labels 0 or 1"},
		{"multiclass on a regressor", stump("reg:squarederror", 0, 1, 3), "1,0\n", ProblemMulticlass, "not multi-class"},
		{"unknown problem", stump("reg:squarederror", 0, 1, 3), "1,0\n", "ranking", "unknown problem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{
				Model:   modelTarGz(t, filepath.Join(dir, "model"), "xgboost-model", tt.model),
				Test:    writeFile(t, filepath.Join(dir, "test", "test.csv"), tt.test),
				Output:  filepath.Join(dir, "evaluation"),
				Problem: tt.problem, Threshold: 0.5,
			}
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(cfg.Output, "evaluation.json")); err == nil {
				t.Error("evaluation.json written despite the error")
			}
		})
	}
}

func TestRocAUCTies(t *testing.T) {
	y := []float64{0, 0, 1, 1}
	for _, tc := range []struct {
		score []float64
		want  float64
	}{
		{[]float64{0.1, 0.2, 0.8, 0.9}, 1},
		{[]float64{0.9, 0.8, 0.2, 0.1}, 0},
		{[]float64{0.5, 0.5, 0.5, 0.5}, 0.5},
		{[]float64{0.1, 0.4, 0.35, 0.8}, 0.75},
	} {
		if got := rocAUC(y, tc.score, all(4)); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("auc(%v) = %v, want %v", tc.score, got, tc.want)
		}
	}
	if got := rocAUC([]float64{1, 1}, []float64{0.2, 0.3}, all(2)); !math.IsNaN(got) {
		t.Errorf("one class: %v, want NaN", got)
	}
}
