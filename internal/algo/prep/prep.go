// Package prep is the built-in `prep` processing image: the tabular preprocessing that
// SageMaker's abalone example runs with scikit-learn, without Python.
//
// It reads CSV, fills missing numbers with the column median and missing categories with
// "missing", optionally standardises the numeric columns, one-hot encodes the categorical
// ones (categories in sorted order), moves the target to the first column, shuffles with a
// seed and writes headerless train, validation and test CSVs — the files SageMaker's
// built-in XGBoost reads (label first, no header).
package prep

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// AbaloneColumns are the column names of the UCI abalone file, which has no header.
var AbaloneColumns = []string{"sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight", "rings"}

// Config is one preprocessing run.
type Config struct {
	// Input is a CSV file, or a directory whose *.csv files are read in name order.
	Input string
	// Header says whether each file starts with column names: "auto" (a first line with no
	// numeric cell is a header), "true" or "false".
	Header string
	// Columns names the columns when the files have no header.
	Columns []string
	// Target is the column to predict; it becomes the first output column.
	Target string
	// Categorical lists the columns to one-hot encode.
	Categorical []string
	// Standardize scales numeric feature columns to zero mean and unit variance.
	Standardize bool
	// Ratios are the train, validation and test fractions; they must sum to 1.
	Ratios [3]float64
	// Seed fixes the shuffle.
	Seed uint64
	// TrainDir, ValidationDir and TestDir receive train.csv, validation.csv and test.csv.
	TrainDir, ValidationDir, TestDir string
}

// Summary describes what Run wrote.
type Summary struct {
	// Columns are the output columns in order, the target first.
	Columns []string
	// Rows is the number of rows written to train, validation and test.
	Rows [3]int
}

// missing reports whether a cell counts as missing (pandas' and the UCI conventions).
func missing(cell string) bool {
	switch cell {
	case "", "NA", "N/A", "NaN", "nan", "null", "?":
		return true
	}
	return false
}

// table is the parsed input, column by column.
type table struct {
	names []string
	cells [][]string // per column
	// rows[r] locates row r for error messages.
	rows  []position
	files []string
}

// position is where a row came from.
type position struct{ file, line int32 }

// where names row r's file and line.
func (t *table) where(r int) string {
	p := t.rows[r]
	return fmt.Sprintf("%s line %d", t.files[p.file], p.line)
}

// Run preprocesses cfg.Input and writes the three splits.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	t, err := readInput(ctx, cfg)
	if err != nil {
		return Summary{}, err
	}
	n := len(t.rows)
	if n == 0 {
		return Summary{}, errors.New("prep: the input has no data rows")
	}
	target := t.index(cfg.Target)
	if target < 0 {
		return Summary{}, fmt.Errorf("prep: target column %q not found; columns are %s", cfg.Target, strings.Join(t.names, ", "))
	}
	isCat := make([]bool, len(t.names))
	for _, c := range cfg.Categorical {
		i := t.index(c)
		if i < 0 {
			return Summary{}, fmt.Errorf("prep: categorical column %q not found; columns are %s", c, strings.Join(t.names, ", "))
		}
		if i == target {
			return Summary{}, fmt.Errorf("prep: the target %q cannot be categorical", c)
		}
		isCat[i] = true
	}

	var out [][]float64 // output columns
	var names []string
	y := make([]float64, n)
	for r, cell := range t.cells[target] {
		if missing(cell) {
			return Summary{}, fmt.Errorf("prep: %s: the target %q is missing", t.where(r), t.names[target])
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Summary{}, fmt.Errorf("prep: %s: target %q: %q is not a number", t.where(r), t.names[target], cell)
		}
		y[r] = v
	}
	out = append(out, y)
	names = append(names, t.names[target])
	for c := range t.names {
		if c == target || isCat[c] {
			continue
		}
		col, err := numericColumn(t, c, cfg.Standardize)
		if err != nil {
			return Summary{}, err
		}
		out = append(out, col)
		names = append(names, t.names[c])
	}
	for c := range t.names {
		if !isCat[c] {
			continue
		}
		cols, levels := oneHot(t.cells[c])
		out = append(out, cols...)
		for _, l := range levels {
			names = append(names, t.names[c]+"_"+l)
		}
	}
	if err := ctx.Err(); err != nil {
		return Summary{}, fmt.Errorf("prep: %w", err)
	}

	order := permutation(n, cfg.Seed)
	b1 := int(cfg.Ratios[0] * float64(n))
	b2 := int((cfg.Ratios[0] + cfg.Ratios[1]) * float64(n))
	b2 = max(min(b2, n), b1)
	parts := [3][]int{order[:b1], order[b1:b2], order[b2:]}
	dirs := [3]string{cfg.TrainDir, cfg.ValidationDir, cfg.TestDir}
	files := [3]string{"train.csv", "validation.csv", "test.csv"}
	sum := Summary{Columns: names}
	for k := range parts {
		if err := writeCSV(ctx, filepath.Join(dirs[k], files[k]), out, parts[k]); err != nil {
			return Summary{}, err
		}
		sum.Rows[k] = len(parts[k])
	}
	return sum, nil
}

func (c *Config) validate() error {
	switch c.Header {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("prep: -header must be auto, true or false, got %q", c.Header)
	}
	var total float64
	for _, r := range c.Ratios {
		if r < 0 || math.IsNaN(r) {
			return fmt.Errorf("prep: split ratios must be >= 0, got %v", c.Ratios)
		}
		total += r
	}
	if math.Abs(total-1) > 1e-6 {
		return fmt.Errorf("prep: split ratios must sum to 1, got %v (sum %g)", c.Ratios, total)
	}
	if c.Target == "" {
		return errors.New("prep: -target is required")
	}
	if c.TrainDir == "" || c.ValidationDir == "" || c.TestDir == "" {
		return errors.New("prep: output directories are required")
	}
	return nil
}

// index finds a column by name, ignoring case and surrounding space.
func (t *table) index(name string) int {
	return slices.IndexFunc(t.names, func(n string) bool { return strings.EqualFold(n, strings.TrimSpace(name)) })
}

// inputFiles lists the CSV files to read.
func inputFiles(input string) ([]string, error) {
	st, err := os.Stat(input)
	if err != nil {
		return nil, fmt.Errorf("prep: input: %w", err)
	}
	if !st.IsDir() {
		return []string{input}, nil
	}
	files, err := filepath.Glob(filepath.Join(input, "*.csv"))
	if err != nil {
		return nil, fmt.Errorf("prep: input: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("prep: no .csv files in %s", input)
	}
	slices.Sort(files)
	return files, nil
}

// readInput reads every input file into one table.
func readInput(ctx context.Context, cfg Config) (*table, error) {
	files, err := inputFiles(cfg.Input)
	if err != nil {
		return nil, err
	}
	t := &table{}
	for fi, path := range files {
		if err := t.readFile(ctx, path, fi == 0, cfg); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *table) readFile(ctx context.Context, path string, first bool, cfg Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1 // ragged rows get a clearer message below
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	name := filepath.Base(path)
	defer func() { t.files = append(t.files, name) }()
	for recNo := 0; ; recNo++ {
		if recNo%65536 == 65535 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("prep: %w", err)
			}
		}
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("prep: %s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if recNo == 0 {
			header := cfg.Header == "true" || (cfg.Header == "auto" && looksLikeHeader(rec))
			if first {
				names := cfg.Columns
				if header {
					names = slices.Clone(rec)
				}
				if len(names) == 0 {
					return fmt.Errorf("prep: %s has no header; name the columns with -columns", name)
				}
				t.names = names
				t.cells = make([][]string, len(names))
			}
			if header {
				if len(rec) != len(t.names) {
					return fmt.Errorf("prep: %s: header has %d columns, expected %d", name, len(rec), len(t.names))
				}
				continue
			}
		}
		if len(rec) != len(t.names) {
			return fmt.Errorf("prep: %s line %d: %d fields, expected %d (%s)", name, line, len(rec), len(t.names), strings.Join(t.names, ","))
		}
		for c, cell := range rec {
			t.cells[c] = append(t.cells[c], strings.Clone(cell))
		}
		t.rows = append(t.rows, position{int32(len(t.files)), int32(line)})
	}
	return nil
}

// looksLikeHeader is true when no cell of the first line is a number.
func looksLikeHeader(rec []string) bool {
	for _, c := range rec {
		if missing(c) {
			return false
		}
		if _, err := strconv.ParseFloat(c, 64); err == nil {
			return false
		}
	}
	return true
}

// numericColumn parses column c, fills missing cells with the median and optionally
// standardises it (population standard deviation, as scikit-learn's StandardScaler).
func numericColumn(t *table, c int, standardize bool) ([]float64, error) {
	col := make([]float64, len(t.cells[c]))
	present := make([]float64, 0, len(col))
	for r, cell := range t.cells[c] {
		if missing(cell) {
			col[r] = math.NaN()
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("prep: %s: column %q: %q is not a number (list the column in -categorical if it holds categories)", t.where(r), t.names[c], cell)
		}
		col[r] = v
		present = append(present, v)
	}
	if len(present) == 0 {
		return nil, fmt.Errorf("prep: column %q has no values", t.names[c])
	}
	slices.Sort(present)
	med := present[len(present)/2]
	if len(present)%2 == 0 {
		med = (present[len(present)/2-1] + present[len(present)/2]) / 2
	}
	var mean float64
	for r, v := range col {
		if math.IsNaN(v) {
			col[r] = med
		}
		mean += col[r]
	}
	if !standardize {
		return col, nil
	}
	mean /= float64(len(col))
	var ss float64
	for _, v := range col {
		ss += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(ss / float64(len(col)))
	if sd == 0 {
		sd = 1 // a constant column stays constant, as in scikit-learn
	}
	for r, v := range col {
		col[r] = (v - mean) / sd
	}
	return col, nil
}

// oneHot encodes a categorical column: one 0/1 column per level, levels sorted, missing
// cells as the level "missing".
func oneHot(cells []string) ([][]float64, []string) {
	seen := map[string]bool{}
	for _, c := range cells {
		if missing(c) {
			c = "missing"
		}
		seen[c] = true
	}
	levels := make([]string, 0, len(seen))
	for l := range seen {
		levels = append(levels, l)
	}
	slices.Sort(levels)
	pos := make(map[string]int, len(levels))
	for i, l := range levels {
		pos[l] = i
	}
	cols := make([][]float64, len(levels))
	for i := range cols {
		cols[i] = make([]float64, len(cells))
	}
	for r, c := range cells {
		if missing(c) {
			c = "missing"
		}
		cols[pos[c]][r] = 1
	}
	return cols, levels
}

// permutation is a seeded Fisher-Yates shuffle of 0..n-1.
func permutation(n int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	rng.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// writeCSV writes the given rows of the column set as a headerless CSV.
func writeCSV(ctx context.Context, path string, cols [][]float64, rows []int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	buf := make([]byte, 0, 1<<16)
	for i, r := range rows {
		for c, col := range cols {
			if c > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, col[r], 'g', -1, 64)
		}
		buf = append(buf, '\n')
		if len(buf) > 1<<15 || i == len(rows)-1 {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return fmt.Errorf("prep: %w", err)
			}
			buf = buf[:0]
			if err := ctx.Err(); err != nil {
				f.Close()
				return fmt.Errorf("prep: %w", err)
			}
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	return nil
}
