package prep

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// defaults returns the abalone configuration Main uses, writing under dir.
func defaults(input, dir string) Config {
	return Config{
		Input: input, Header: "auto", Columns: AbaloneColumns, Target: "rings",
		Categorical: []string{"sex"}, Standardize: true, Ratios: [3]float64{0.7, 0.15, 0.15}, Seed: 42,
		TrainDir: filepath.Join(dir, "train"), ValidationDir: filepath.Join(dir, "validation"), TestDir: filepath.Join(dir, "test"),
	}
}

func readSplit(t *testing.T, path string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, len(recs))
	for i, r := range recs {
		for _, c := range r {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil {
				t.Fatalf("%s row %d: %q", path, i, c)
			}
			out[i] = append(out[i], v)
		}
	}
	return out
}

func readAll(t *testing.T, dir string) (all [][]float64, counts [3]int) {
	for k, name := range []string{"train/train.csv", "validation/validation.csv", "test/test.csv"} {
		rows := readSplit(t, filepath.Join(dir, name))
		counts[k] = len(rows)
		all = append(all, rows...)
	}
	return all, counts
}

func TestRunAbaloneShape(t *testing.T) {
	dir := t.TempDir()
	sum, err := Run(context.Background(), defaults(filepath.Join("testdata", "abalone_small.csv"), dir))
	if err != nil {
		t.Fatal(err)
	}
	wantCols := "rings,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,sex_F,sex_I,sex_M"
	if got := strings.Join(sum.Columns, ","); got != wantCols {
		t.Errorf("columns %s, want %s", got, wantCols)
	}
	all, counts := readAll(t, dir)
	if counts != [3]int{14, 3, 3} || sum.Rows != counts {
		t.Errorf("split %v (summary %v), want [14 3 3]", counts, sum.Rows)
	}
	// Every row keeps its target and gets exactly one sex; numeric columns are standardised.
	var rings []float64
	for i, r := range all {
		if len(r) != 11 {
			t.Fatalf("row %d has %d columns", i, len(r))
		}
		rings = append(rings, r[0])
		if s := r[8] + r[9] + r[10]; s != 1 {
			t.Errorf("row %d: one-hot sums to %v", i, s)
		}
	}
	slices.Sort(rings)
	var inputRings []float64
	b, _ := os.ReadFile(filepath.Join("testdata", "abalone_small.csv"))
	for _, line := range strings.Fields(string(b)) {
		v, _ := strconv.ParseFloat(line[strings.LastIndex(line, ",")+1:], 64)
		inputRings = append(inputRings, v)
	}
	slices.Sort(inputRings)
	if !slices.Equal(rings, inputRings) {
		t.Errorf("targets %v are not the input's %v", rings, inputRings)
	}
	for c := 1; c <= 7; c++ {
		var mean, ss float64
		for _, r := range all {
			mean += r[c]
		}
		mean /= float64(len(all))
		for _, r := range all {
			ss += (r[c] - mean) * (r[c] - mean)
		}
		if sd := math.Sqrt(ss / float64(len(all))); math.Abs(mean) > 1e-9 || math.Abs(sd-1) > 1e-9 {
			t.Errorf("column %d: mean %g sd %g, want 0 and 1", c, mean, sd)
		}
	}
	// The row "I,0.33,...,7" keeps its features together: its sex_I is set and its length
	// is the smallest.
	minLen := slices.MinFunc(all, func(a, b []float64) int { return int(math.Copysign(1, a[1]-b[1])) })
	if minLen[0] != 7 || minLen[9] != 1 {
		t.Errorf("shortest abalone row %v, want rings 7 and sex I", minLen)
	}
}

func TestRunIsDeterministicBySeed(t *testing.T) {
	in := filepath.Join("testdata", "abalone_small.csv")
	read := func(seed uint64) []byte {
		dir := t.TempDir()
		cfg := defaults(in, dir)
		cfg.Seed = seed
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "train", "train.csv"))
		return b
	}
	if !bytes.Equal(read(1), read(1)) {
		t.Error("same seed, different train.csv")
	}
	if bytes.Equal(read(1), read(2)) {
		t.Error("different seeds, same train.csv")
	}
}

func TestRunOptions(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	// Two files with a header, a missing number, a missing category and a quoted cell.
	os.WriteFile(filepath.Join(in, "a.csv"), []byte("Color,Size,Price\nred,1,10\n\"blue\",,20\n"), 0o644)
	os.WriteFile(filepath.Join(in, "b.csv"), []byte("Color,Size,Price\n,3,30\nred,4,40\n"), 0o644)
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("ignored"), 0o644)
	cfg := defaults(in, filepath.Join(dir, "out"))
	cfg.Target, cfg.Categorical, cfg.Standardize = "price", []string{"color"}, false
	cfg.Ratios = [3]float64{1, 0, 0}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sum.Columns, ","); got != "Price,Size,Color_blue,Color_missing,Color_red" {
		t.Errorf("columns %s", got)
	}
	rows, counts := readAll(t, filepath.Join(dir, "out"))
	if counts != [3]int{4, 0, 0} {
		t.Fatalf("counts %v", counts)
	}
	slices.SortFunc(rows, func(a, b []float64) int { return int(a[0] - b[0]) })
	want := [][]float64{{10, 1, 0, 0, 1}, {20, 3, 1, 0, 0}, {30, 3, 0, 1, 0}, {40, 4, 0, 0, 1}} // median of 1,3,4 is 3
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}
}

func TestRunRejects(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		edit    func(*Config)
		wantErr string
	}{
		{"ragged row", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\nF,0.5,0.4\n", nil, "line 2: 3 fields, expected 9"},
		{"non-numeric cell", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\nF,0.5,abc,0.1,0.5,0.2,0.1,0.15,9\n", nil, `line 2: column "diameter": "abc" is not a number`},
		{"non-numeric target", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,old\n", nil, `target "rings": "old" is not a number`},
		{"missing target", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,\n", nil, "the target \"rings\" is missing"},
		{"unknown target", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\n", func(c *Config) { c.Target = "age" }, `target column "age" not found`},
		{"unknown categorical", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\n", func(c *Config) { c.Categorical = []string{"colour"} }, `categorical column "colour" not found`},
		{"categorical target", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\n", func(c *Config) { c.Categorical = []string{"rings"} }, "cannot be categorical"},
		{"ratios", "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\n", func(c *Config) { c.Ratios = [3]float64{0.7, 0.2, 0.2} }, "sum to 1"},
		{"empty", "", nil, "no data rows"},
		{"bad quoting", "M,\"0.4,0.3\n", nil, "abalone.csv"},
		{"header flag", "x\n", func(c *Config) { c.Header = "maybe" }, "-header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "abalone.csv")
			os.WriteFile(in, []byte(tt.input), 0o644)
			cfg := defaults(in, dir)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Run(context.Background(), defaults(t.TempDir(), t.TempDir())); err == nil || !strings.Contains(err.Error(), "no .csv files") {
		t.Errorf("empty input dir: %v", err)
	}
}

func TestMainFlags(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"-input", filepath.Join("testdata", "abalone_small.csv"), "-output", dir, "-test-dir", filepath.Join(dir, "holdout"), "-split", "0.5,0.25,0.25"}
	if err := Main(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wrote 10 train rows") {
		t.Errorf("stdout: %s", out.String())
	}
	if rows := readSplit(t, filepath.Join(dir, "holdout", "test.csv")); len(rows) != 5 {
		t.Errorf("%d test rows, want 5", len(rows))
	}
	for _, bad := range [][]string{{"-split", "0.5,0.5"}, {"-split", "a,b,c"}, {"-nope"}, {"extra"}} {
		if err := Main(context.Background(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestRealAbalone runs the defaults on the real UCI file (with its header) when present.
func TestRealAbalone(t *testing.T) {
	path := realAbalone(t)
	dir := t.TempDir()
	sum, err := Run(context.Background(), defaults(path, dir))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != [3]int{2923, 627, 627} || len(sum.Columns) != 11 {
		t.Errorf("rows %v columns %v", sum.Rows, sum.Columns)
	}
}

// realAbalone finds ../shared/data/abalone.csv next to the module root, or skips loudly.
func realAbalone(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("SKIPPED: go.mod not found above the package")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "data", "abalone.csv")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("SKIPPED: real abalone data not found at %s", path)
	}
	return path
}

// TestMatchesScikitLearn compares prep's output on the real abalone file with the
// scikit-learn preprocessing of SageMaker's abalone example (rows compared as sorted sets,
// since the shuffles differ).
func TestMatchesScikitLearn(t *testing.T) {
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: set SLUICE_TEST_PYTHON=/usr/bin/python3 (with sklearn and pandas) to compare with scikit-learn")
	}
	path := realAbalone(t)
	dir := t.TempDir()
	cfg := defaults(path, dir)
	cfg.Ratios = [3]float64{1, 0, 0}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "sklearn.csv")
	if out, err := exec.Command(py, filepath.Join("testdata", "sklearn_preprocess.py"), path, ref).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ours, theirs := readSplit(t, filepath.Join(dir, "train", "train.csv")), readSplit(t, ref)
	if len(ours) != len(theirs) {
		t.Fatalf("%d rows, scikit-learn %d", len(ours), len(theirs))
	}
	order := func(a, b []float64) int { return slices.Compare(a, b) }
	slices.SortFunc(ours, order)
	slices.SortFunc(theirs, order)
	for i := range ours {
		for j := range ours[i] {
			if math.Abs(ours[i][j]-theirs[i][j]) > 1e-9 {
				t.Fatalf("sorted row %d column %d: %v, scikit-learn %v", i, j, ours[i], theirs[i])
			}
		}
	}
}
