package xgboost

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate testdata fixtures with real XGBoost (needs SLUICE_TEST_PYTHON)")

// maxDiff is the largest difference allowed between Sluice and XGBoost predictions.
const maxDiff = 1e-5

// cases is a NAME.cases.json file written by testdata/xgbcompat.py.
type cases struct {
	Rows        [][]*float64 `json:"rows"`
	Predictions [][]float64  `json:"predictions"`
	Margins     [][]float64  `json:"margins"`
}

// matrix returns the rows as float32, null = NaN.
func (c *cases) matrix() (flat []float32, nfeat int) {
	nfeat = len(c.Rows[0])
	for _, r := range c.Rows {
		for _, v := range r {
			if v == nil {
				flat = append(flat, float32(math.NaN()))
			} else {
				flat = append(flat, float32(*v))
			}
		}
	}
	return flat, nfeat
}

func readCases(t *testing.T, path string) *cases {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c cases
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(c.Rows) == 0 || len(c.Rows) != len(c.Predictions) || len(c.Rows) != len(c.Margins) {
		t.Fatalf("%s: %d rows, %d predictions, %d margins", path, len(c.Rows), len(c.Predictions), len(c.Margins))
	}
	return &c
}

func loadFile(t *testing.T, path string) *Model {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return m
}

// pythonOrSkip returns the interpreter named by SLUICE_TEST_PYTHON or skips loudly.
func pythonOrSkip(t testing.TB) string {
	t.Helper()
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: set SLUICE_TEST_PYTHON=/usr/bin/python3 (with python3-xgboost 1.7) to compare with real XGBoost")
	}
	return py
}

func runPython(t testing.TB, py string, args ...string) {
	t.Helper()
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "xgbcompat.py")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", py, strings.Join(args, " "), err, out)
	}
}

// checkPredictor compares every prediction path of p with XGBoost's recorded output.
func checkPredictor(t *testing.T, p *Predictor, c *cases) {
	t.Helper()
	flat, nfeat := c.matrix()
	n := len(c.Rows)
	if got, want := p.NumOutputs(), len(c.Predictions[0]); got != want {
		t.Fatalf("NumOutputs = %d, XGBoost gives %d values per row", got, want)
	}
	if got, want := p.NumGroups(), len(c.Margins[0]); got != want {
		t.Fatalf("NumGroups = %d, XGBoost gives %d margins per row", got, want)
	}
	single := make([]float32, n*p.NumOutputs())
	singleMargin := make([]float32, n*p.NumGroups())
	for r := 0; r < n; r++ {
		row := flat[r*nfeat : (r+1)*nfeat]
		if err := p.Predict(row, single[r*p.NumOutputs():]); err != nil {
			t.Fatal(err)
		}
		if err := p.PredictMargin(row, singleMargin[r*p.NumGroups():]); err != nil {
			t.Fatal(err)
		}
	}
	batch := make([]float32, n*p.NumOutputs())
	if err := p.PredictBatch(flat, nfeat, batch); err != nil {
		t.Fatal(err)
	}
	batchMargin := make([]float32, n*p.NumGroups())
	if err := p.PredictMarginBatch(flat, nfeat, batchMargin); err != nil {
		t.Fatal(err)
	}
	compare(t, "predict", single, c.Predictions)
	compare(t, "batch predict", batch, c.Predictions)
	compare(t, "margin", singleMargin, c.Margins)
	compare(t, "batch margin", batchMargin, c.Margins)
}

func compare(t *testing.T, what string, got []float32, want [][]float64) {
	t.Helper()
	k := len(want[0])
	worst, at := 0.0, -1
	for r, w := range want {
		for j, v := range w {
			d := math.Abs(float64(got[r*k+j]) - v)
			if math.IsNaN(d) || d > worst {
				worst, at = d, r
			}
		}
	}
	if worst > maxDiff || math.IsNaN(worst) {
		t.Errorf("%s: max abs diff %g at row %d: got %v, XGBoost %v", what, worst, at, got[at*k:(at+1)*k], want[at])
	}
}

// TestRealXGBoostFixtures checks models saved by real XGBoost 1.7 (committed under testdata,
// as JSON, UBJSON and the deprecated binary format) against the predictions XGBoost recorded for them, and that writing each
// model back out and reading it again changes nothing.
func TestRealXGBoostFixtures(t *testing.T) {
	if *update {
		py := pythonOrSkip(t)
		runPython(t, py, "train", "testdata", "--fixtures")
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "*.cases.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata (%v)", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".cases.json")
		c := readCases(t, path)
		for _, ext := range []string{".json", ".ubj", ".bin"} {
			t.Run(name+ext, func(t *testing.T) {
				m := loadFile(t, filepath.Join("testdata", name+ext))
				p, err := NewPredictor(m)
				if err != nil {
					t.Fatal(err)
				}
				checkPredictor(t, p, c)

				var buf bytes.Buffer
				if err := m.WriteJSON(&buf); err != nil {
					t.Fatal(err)
				}
				back, err := Parse(buf.Bytes())
				if err != nil {
					t.Fatalf("reading our own JSON: %v", err)
				}
				p2, err := NewPredictor(back)
				if err != nil {
					t.Fatal(err)
				}
				checkPredictor(t, p2, c)
			})
		}
	}
}

// TestCompatWithXGBoost trains a wider set of models with real XGBoost, checks that Sluice
// predicts them identically, then has XGBoost load the JSON that Sluice writes for each one
// and checks that XGBoost's predictions do not change.
func TestCompatWithXGBoost(t *testing.T) {
	py := pythonOrSkip(t)
	dir := t.TempDir()
	runPython(t, py, "train", dir)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.cases.json"))
	if len(paths) < len(fixtureNames(t))+5 {
		t.Fatalf("only %d cases trained", len(paths))
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".cases.json")
		t.Run(name, func(t *testing.T) {
			c := readCases(t, path)
			for _, ext := range []string{".json", ".ubj", ".bin"} {
				m := loadFile(t, filepath.Join(dir, name+ext))
				p, err := NewPredictor(m)
				if err != nil {
					t.Fatal(err)
				}
				checkPredictor(t, p, c)
			}
			// Our JSON, under a name without extension as SageMaker's xgboost-model is,
			// written from the UBJSON and from the binary model.
			for _, ext := range []string{".ubj", ".bin"} {
				m := loadFile(t, filepath.Join(dir, name+ext))
				out := filepath.Join(dir, name+ext+"-sluice", "xgboost-model")
				writeModel(t, m, out)
				got := pythonPredict(t, py, out, path)
				compareCases(t, "XGBoost on Sluice's JSON from "+ext, got, c)
			}
		})
	}
}

func fixtureNames(t *testing.T) []string {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.cases.json"))
	return paths
}

func writeModel(t *testing.T, m *Model, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pythonPredict has real XGBoost load modelPath and predict the rows of rowsPath.
func pythonPredict(t *testing.T, py, modelPath, rowsPath string) *cases {
	t.Helper()
	out := modelPath + ".pred.json"
	runPython(t, py, "predict", modelPath, rowsPath, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var c cases
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// compareCases compares two sets of XGBoost outputs for the same rows.
func compareCases(t *testing.T, what string, got, want *cases) {
	t.Helper()
	flat := func(v [][]float64) []float32 {
		var out []float32
		for _, r := range v {
			for _, x := range r {
				out = append(out, float32(x))
			}
		}
		return out
	}
	if len(got.Predictions) != len(want.Predictions) {
		t.Fatalf("%s: %d rows predicted, want %d", what, len(got.Predictions), len(want.Predictions))
	}
	compare(t, what+" (predict)", flat(got.Predictions), want.Predictions)
	compare(t, what+" (margin)", flat(got.Margins), want.Margins)
}

// Example-free sanity: a readable failure when a fixture is missing its model files.
func TestFixtureFilesComplete(t *testing.T) {
	for _, path := range fixtureNames(t) {
		name := strings.TrimSuffix(path, ".cases.json")
		for _, ext := range []string{".json", ".ubj", ".bin"} {
			if _, err := os.Stat(name + ext); err != nil {
				t.Errorf("%s: %v", path, fmt.Errorf("model file missing: %w", err))
			}
		}
	}
}

// TestXGBoostLoadsSluiceModels builds models as the trainer does (no parents, no statistics),
// writes them, and checks that real XGBoost predicts what the Sluice predictor predicts.
func TestXGBoostLoadsSluiceModels(t *testing.T) {
	py := pythonOrSkip(t)
	dir := t.TempDir()
	tests := []struct {
		objective string
		numClass  int
		base      float32
		dart      bool
	}{
		{objective: "reg:squarederror", base: 7.25},
		{objective: "reg:linear", base: 0.5},
		{objective: "binary:logistic", base: 0.3},
		{objective: "reg:logistic", base: 0.5},
		{objective: "count:poisson", base: 2.5},
		{objective: "multi:softprob", numClass: 4, base: 0.5},
		{objective: "multi:softmax", numClass: 3, base: 0.5},
		{objective: "reg:squarederror", base: 1, dart: true},
	}
	for i, tt := range tests {
		name := fmt.Sprintf("%d_%s", i, strings.ReplaceAll(tt.objective, ":", "_"))
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			const nfeat, nrows = 7, 300
			m := randomModel(rng, tt.objective, tt.numClass, 12, 4, nfeat)
			m.BaseScore = tt.base
			m.FeatureNames = []string{"a", "b", "c", "d", "e", "f", "g"}
			m.FeatureTypes = []string{"float", "float", "float", "int", "float", "q", "float"}
			if tt.dart {
				m.Booster = BoosterDart
				for k := range m.Trees {
					m.WeightDrop = append(m.WeightDrop, 0.5+float32(k%3)*0.25)
				}
			}
			p, err := NewPredictor(m)
			if err != nil {
				t.Fatal(err)
			}
			rows := randomRows(rng, nrows, nfeat)
			c := &cases{}
			for r := range nrows {
				var row []*float64
				for _, v := range rows[r*nfeat : (r+1)*nfeat] {
					if v != v {
						row = append(row, nil)
					} else {
						f := float64(v)
						row = append(row, &f)
					}
				}
				c.Rows = append(c.Rows, row)
			}
			rowsPath := filepath.Join(dir, name+".rows.json")
			b, _ := json.Marshal(c)
			if err := os.WriteFile(rowsPath, b, 0o644); err != nil {
				t.Fatal(err)
			}
			modelPath := filepath.Join(dir, name, "xgboost-model")
			writeModel(t, m, modelPath)
			got := pythonPredict(t, py, modelPath, rowsPath)
			c.Predictions, c.Margins = got.Predictions, got.Margins
			checkPredictor(t, p, c)
		})
	}
}
