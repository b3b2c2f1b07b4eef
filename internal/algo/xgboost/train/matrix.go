package train

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Matrix is a training or validation set: features column-major as float32 with NaN for a
// missing value, one label per row and optional instance weights.
type Matrix struct {
	// Rows and Cols are the number of rows and feature columns.
	Rows, Cols int
	// Data holds feature j of row i at Data[j*Rows+i].
	Data []float32
	// Labels holds one label per row.
	Labels []float32
	// Weights holds one instance weight per row, or is nil for unit weights.
	Weights []float32
}

// Col returns feature column j.
func (m *Matrix) Col(j int) []float32 { return m.Data[j*m.Rows : (j+1)*m.Rows] }

// At returns feature j of row i.
func (m *Matrix) At(i, j int) float32 { return m.Data[j*m.Rows+i] }

// NewMatrix builds a Matrix from row-major features (NaN for missing) and labels.
func NewMatrix(rows [][]float32, labels []float32) (*Matrix, error) {
	if len(rows) != len(labels) {
		return nil, fmt.Errorf("matrix: %d rows but %d labels", len(rows), len(labels))
	}
	cols := 0
	if len(rows) > 0 {
		cols = len(rows[0])
	}
	m := &Matrix{Rows: len(rows), Cols: cols, Data: make([]float32, len(rows)*cols), Labels: slices.Clone(labels)}
	for i, r := range rows {
		if len(r) != cols {
			return nil, fmt.Errorf("matrix: row %d has %d columns, row 1 has %d", i+1, len(r), cols)
		}
		for j, v := range r {
			m.Data[j*m.Rows+i] = v
		}
	}
	return m, nil
}

// Validate checks that the matrix is non-empty and its slices agree with Rows and Cols.
func (m *Matrix) Validate() error {
	switch {
	case m == nil || m.Rows == 0:
		return errors.New("no rows")
	case m.Cols == 0:
		return errors.New("no feature columns")
	case len(m.Data) != m.Rows*m.Cols:
		return fmt.Errorf("data has %d values for %d×%d", len(m.Data), m.Rows, m.Cols)
	case len(m.Labels) != m.Rows:
		return fmt.Errorf("%d labels for %d rows", len(m.Labels), m.Rows)
	case m.Weights != nil && len(m.Weights) != m.Rows:
		return fmt.Errorf("%d weights for %d rows", len(m.Weights), m.Rows)
	}
	for i, w := range m.Weights {
		if !(w >= 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("row %d: weight %v must be finite and non-negative", i+1, w)
		}
	}
	return nil
}

// Content types a channel may declare.
const (
	ContentTypeCSV    = "text/csv"
	ContentTypeLibSVM = "text/libsvm"
)

// ParseContentType maps a channel's ContentType to ContentTypeCSV or ContentTypeLibSVM.
// It accepts parameters (text/csv;label_size=1) and the aliases SageMaker's XGBoost
// accepts (csv, libsvm, text/x-libsvm); an empty type means CSV.
func ParseContentType(ct string) (string, error) {
	base, params, _ := strings.Cut(strings.ToLower(strings.TrimSpace(ct)), ";")
	base = strings.TrimSpace(base)
	switch base {
	case "", "csv", "text/csv":
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if k == "label_size" && strings.TrimSpace(v) != "1" {
				return "", fmt.Errorf("content type %q: only label_size=1 is supported", ct)
			}
		}
		return ContentTypeCSV, nil
	case "libsvm", "text/libsvm", "text/x-libsvm", "application/x-libsvm":
		return ContentTypeLibSVM, nil
	}
	return "", fmt.Errorf("content type %q is not supported (use text/csv or text/libsvm)", ct)
}

// ReadDir reads every regular file under dir (recursively, in name order, skipping hidden
// files) as one data set of the given content type. weightColumn says a CSV's second column
// holds instance weights (SageMaker's csv_weights=1).
func ReadDir(dir, contentType string, weightColumn bool) (*Matrix, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read data: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read data: no files in %s", dir)
	}
	b := newBuilder()
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("read data: %w", err)
		}
		name, _ := filepath.Rel(dir, f)
		switch contentType {
		case ContentTypeLibSVM:
			err = b.readLibSVM(fh, name)
		default:
			err = b.readCSV(fh, name, weightColumn)
		}
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	return b.matrix(contentType == ContentTypeLibSVM)
}

// ReadCSV reads CSV without a header: the label first, then (with weightColumn) the
// instance weight, then the features. Empty cells and "nan" are missing values.
func ReadCSV(r io.Reader, weightColumn bool) (*Matrix, error) {
	b := newBuilder()
	if err := b.readCSV(r, "", weightColumn); err != nil {
		return nil, err
	}
	return b.matrix(false)
}

// ReadLibSVM reads LIBSVM text: "label[:weight] index:value ...", where index is the
// zero-based feature column as XGBoost reads it; absent entries are missing values.
func ReadLibSVM(r io.Reader) (*Matrix, error) {
	b := newBuilder()
	if err := b.readLibSVM(r, ""); err != nil {
		return nil, err
	}
	return b.matrix(true)
}

// builder accumulates rows column by column, so a file never needs a row-major copy.
type builder struct {
	cols    [][]float32
	labels  []float32
	weights []float32
	// anyWeight records that some libsvm row carried an explicit weight.
	anyWeight bool
	// ncol is the CSV width seen so far (-1 before the first row).
	ncol int
}

func newBuilder() *builder { return &builder{ncol: -1} }

func where(file string, line int) string {
	if file == "" {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s line %d", file, line)
}

func (b *builder) readCSV(r io.Reader, file string, weightColumn bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	var fields [][]byte
	for sc.Scan() {
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		fields = splitComma(text, fields[:0])
		first := 1
		if weightColumn {
			first = 2
		}
		if len(fields) <= first {
			return fmt.Errorf("read csv: %s: %d column(s); need the label%s and at least one feature",
				where(file, line), len(fields), map[bool]string{true: ", the weight", false: ""}[weightColumn])
		}
		if b.ncol < 0 {
			b.ncol = len(fields)
			b.cols = make([][]float32, len(fields)-first)
		} else if len(fields) != b.ncol {
			return fmt.Errorf("read csv: %s: row has %d columns, earlier rows have %d (ragged CSV)",
				where(file, line), len(fields), b.ncol)
		}
		label, missing, err := parseCell(fields[0])
		if err != nil || missing {
			return fmt.Errorf("read csv: %s column 1: label %q is not a number", where(file, line), fields[0])
		}
		b.labels = append(b.labels, label)
		if weightColumn {
			w, missing, err := parseCell(fields[1])
			if err != nil || missing {
				return fmt.Errorf("read csv: %s column 2: weight %q is not a number", where(file, line), fields[1])
			}
			b.weights = append(b.weights, w)
		}
		for j, f := range fields[first:] {
			v, _, err := parseCell(f)
			if err != nil {
				return fmt.Errorf("read csv: %s column %d: %q is not a number", where(file, line), j+first+1, f)
			}
			b.cols[j] = append(b.cols[j], v)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read csv: %s: %w", where(file, line+1), err)
	}
	return nil
}

func splitComma(s []byte, out [][]byte) [][]byte {
	for {
		i := bytes.IndexByte(s, ',')
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

// parseCell parses one number; an empty cell or NaN is a missing value.
func parseCell(c []byte) (float32, bool, error) {
	c = bytes.TrimSpace(c)
	if len(c) == 0 {
		return float32(math.NaN()), true, nil
	}
	f, err := strconv.ParseFloat(string(c), 32)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return float32(f), false, nil
		}
		return 0, false, err
	}
	if math.IsNaN(f) {
		return float32(f), true, nil
	}
	return float32(f), false, nil
}

func (b *builder) readLibSVM(r io.Reader, file string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		toks := strings.Fields(text)
		if len(toks) == 0 {
			continue
		}
		row := len(b.labels)
		ls, ws, hasW := strings.Cut(toks[0], ":")
		label, err := strconv.ParseFloat(ls, 32)
		if err != nil || math.IsNaN(label) {
			return fmt.Errorf("read libsvm: %s: label %q is not a number", where(file, line), toks[0])
		}
		w := 1.0
		if hasW {
			if w, err = strconv.ParseFloat(ws, 32); err != nil {
				return fmt.Errorf("read libsvm: %s: weight %q is not a number", where(file, line), ws)
			}
			b.anyWeight = true
		}
		b.labels = append(b.labels, float32(label))
		b.weights = append(b.weights, float32(w))
		for _, t := range toks[1:] {
			is, vs, ok := strings.Cut(t, ":")
			if !ok {
				return fmt.Errorf("read libsvm: %s: entry %q is not index:value", where(file, line), t)
			}
			if is == "qid" {
				continue
			}
			idx, err := strconv.Atoi(is)
			if err != nil || idx < 0 || idx > 1<<24 {
				return fmt.Errorf("read libsvm: %s: feature index %q is not a non-negative integer", where(file, line), is)
			}
			v, err := strconv.ParseFloat(vs, 32)
			if err != nil {
				return fmt.Errorf("read libsvm: %s: value %q of feature %d is not a number", where(file, line), vs, idx)
			}
			for len(b.cols) <= idx {
				b.cols = append(b.cols, nil)
			}
			col := b.cols[idx]
			for len(col) < row {
				col = append(col, float32(math.NaN()))
			}
			if len(col) > row {
				return fmt.Errorf("read libsvm: %s: feature %d appears twice", where(file, line), idx)
			}
			b.cols[idx] = append(col, float32(v))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read libsvm: %s: %w", where(file, line+1), err)
	}
	return nil
}

// matrix assembles the columns; sparse (libsvm) columns are padded with missing values.
func (b *builder) matrix(sparse bool) (*Matrix, error) {
	n := len(b.labels)
	if n == 0 {
		return nil, errors.New("read data: no rows")
	}
	if len(b.cols) == 0 {
		return nil, errors.New("read data: no feature columns")
	}
	m := &Matrix{Rows: n, Cols: len(b.cols), Data: make([]float32, n*len(b.cols)), Labels: b.labels}
	if !sparse || b.anyWeight {
		m.Weights = b.weights
	}
	for j, c := range b.cols {
		dst := m.Col(j)
		copy(dst, c)
		for i := len(c); i < n; i++ {
			dst[i] = float32(math.NaN())
		}
	}
	return m, nil
}

// widen pads m with missing columns up to cols (a libsvm validation set may use fewer
// feature indices than the training set).
func (m *Matrix) widen(cols int) {
	if m.Cols >= cols {
		return
	}
	extra := make([]float32, (cols-m.Cols)*m.Rows)
	for i := range extra {
		extra[i] = float32(math.NaN())
	}
	m.Data = append(m.Data, extra...)
	m.Cols = cols
}
