package train

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// repoRoot walks up from the package directory to the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// loadAbalone reads ../shared/data/abalone.csv (relative to the repository root) with sex
// one-hot encoded (F, I, M) before the seven measurements and rings as the label, and
// splits it deterministically: every fifth row is test data. It skips the test loudly
// when the file is absent.
func loadAbalone(t testing.TB) (train, test *Matrix) {
	t.Helper()
	path := filepath.Join(repoRoot(t), "..", "shared", "data", "abalone.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("SKIPPED: abalone data not available at %s: %v", path, err)
	}
	defer f.Close()
	var trRows, teRows [][]float32
	var trLab, teLab []float32
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		cells := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(cells) != 9 {
			t.Fatalf("abalone line %d: %d cells", line, len(cells))
		}
		row := make([]float32, 0, 10)
		for _, s := range []string{"F", "I", "M"} {
			row = append(row, map[bool]float32{true: 1, false: 0}[cells[0] == s])
		}
		for _, c := range cells[1:8] {
			v, err := strconv.ParseFloat(c, 32)
			if err != nil {
				t.Fatalf("abalone line %d: %v", line, err)
			}
			row = append(row, float32(v))
		}
		rings, err := strconv.ParseFloat(cells[8], 32)
		if err != nil {
			t.Fatalf("abalone line %d: %v", line, err)
		}
		if (line-2)%5 == 4 {
			teRows, teLab = append(teRows, row), append(teLab, float32(rings))
		} else {
			trRows, trLab = append(trRows, row), append(trLab, float32(rings))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var err1, err2 error
	train, err1 = NewMatrix(trRows, trLab)
	test, err2 = NewMatrix(teRows, teLab)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return train, test
}

// writeCSV writes m as label-first CSV without a header, with NaN as an empty cell, and
// the weight as the second column when m has weights.
func writeCSV(t testing.TB, m *Matrix, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < m.Rows; i++ {
		w.WriteString(strconv.FormatFloat(float64(m.Labels[i]), 'g', -1, 32))
		if m.Weights != nil {
			w.WriteByte(',')
			w.WriteString(strconv.FormatFloat(float64(m.Weights[i]), 'g', -1, 32))
		}
		for j := 0; j < m.Cols; j++ {
			w.WriteByte(',')
			if v := m.At(i, j); !isNaN(v) {
				w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// pythonXGBoost returns the interpreter named by SLUICE_TEST_PYTHON, or skips loudly.
func pythonXGBoost(t testing.TB) string {
	t.Helper()
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: set SLUICE_TEST_PYTHON=/usr/bin/python3 (with python3-xgboost 1.7) to compare with real XGBoost")
	}
	return py
}

// compareResult is what testdata/xgb_compare.py reports.
type compareResult struct {
	Version      string          `json:"version"`
	XGBPred      []float64       `json:"xgb_pred"`
	XGBMargin    []float64       `json:"xgb_margin"`
	OursPred     []float64       `json:"ours_pred"`
	OursMargin   []float64       `json:"ours_margin"`
	OursNumTrees int             `json:"ours_num_trees"`
	XGBModel     json.RawMessage `json:"xgb_model"`
	TrainSeconds float64         `json:"train_seconds"`
}

// runCompare runs testdata/xgb_compare.py with spec.
func runCompare(t testing.TB, py string, spec map[string]any) compareResult {
	t.Helper()
	dir := t.TempDir()
	specPath, outPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "out.json")
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repoRoot(t), "internal", "algo", "xgboost", "train", "testdata", "xgb_compare.py")
	cmd := exec.Command(py, script, specPath, outPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xgb_compare.py: %v\n%s", err, out)
	}
	var res compareResult
	b, err = os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func rmse(pred []float64, labels []float32) float64 {
	var s float64
	for i, y := range labels {
		d := pred[i] - float64(y)
		s += d * d
	}
	return math.Sqrt(s / float64(len(labels)))
}

// modelMargins predicts margins (row-major, one per group) with the written model's trees,
// independently of the trainer's own bookkeeping.
func modelMargins(m *xgboost.Model, x *Matrix) []float32 {
	k := m.NumGroups()
	out := make([]float32, x.Rows*k)
	base := m.BaseMargin()
	for i := range out {
		out[i] = base
	}
	for _, t := range m.Trees {
		for r := 0; r < x.Rows; r++ {
			id := int32(0)
			for t.LeftChildren[id] != xgboost.NoChild {
				v := x.At(r, int(t.SplitIndices[id]))
				left := v < t.SplitConditions[id]
				if isNaN(v) {
					left = t.DefaultLeft[id]
				}
				if left {
					id = t.LeftChildren[id]
				} else {
					id = t.RightChildren[id]
				}
			}
			out[r*k+int(t.Group)] += t.SplitConditions[id]
		}
	}
	return out
}
