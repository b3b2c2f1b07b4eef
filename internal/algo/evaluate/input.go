package evaluate

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// ModelFileName is the file SageMaker's XGBoost writes into model.tar.gz.
const ModelFileName = "xgboost-model"

// LoadModel reads a model from a model.tar.gz (as a training job's S3ModelArtifacts), a
// bare model file, or a directory holding either.
func LoadModel(p string) (*xgboost.Model, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("evaluate: model: %w", err)
	}
	if st.IsDir() {
		found := ""
		for _, name := range []string{"model.tar.gz", ModelFileName} {
			if _, err := os.Stat(filepath.Join(p, name)); err == nil {
				found = filepath.Join(p, name)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("evaluate: model: neither model.tar.gz nor %s in %s", ModelFileName, p)
		}
		p = found
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("evaluate: model: %w", err)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		if data, err = modelFromTarGz(data); err != nil {
			return nil, fmt.Errorf("evaluate: model: %s: %w", filepath.Base(p), err)
		}
	}
	m, err := xgboost.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("evaluate: model: %w", err)
	}
	return m, nil
}

// modelFromTarGz returns xgboost-model from a gzipped tar, or its only regular file.
func modelFromTarGz(data []byte) ([]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	var only []byte
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		names = append(names, h.Name)
		body, err := io.ReadAll(io.LimitReader(tr, 1<<30))
		if err != nil {
			return nil, err
		}
		if path.Base(path.Clean(h.Name)) == ModelFileName {
			return body, nil
		}
		only = body
	}
	if len(names) == 1 {
		return only, nil
	}
	return nil, fmt.Errorf("no %s in the archive (it holds %s)", ModelFileName, strings.Join(names, ", "))
}

// testData is the test set: labels and row-major features.
type testData struct {
	labels   []float64
	features []float32
	nfeat    int
}

// readTest reads headerless label-first CSV from a file or from every *.csv in a directory.
// Empty cells are missing values.
func readTest(ctx context.Context, p string) (*testData, error) {
	files := []string{p}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("evaluate: test data: %w", err)
	}
	if st.IsDir() {
		if files, err = filepath.Glob(filepath.Join(p, "*.csv")); err != nil {
			return nil, fmt.Errorf("evaluate: test data: %w", err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("evaluate: no .csv files in %s", p)
		}
		slices.Sort(files)
	}
	d := &testData{nfeat: -1}
	for _, f := range files {
		if err := d.readFile(ctx, f); err != nil {
			return nil, err
		}
	}
	if len(d.labels) == 0 {
		return nil, errors.New("evaluate: the test data has no rows")
	}
	return d, nil
}

func (d *testData) readFile(ctx context.Context, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	name := filepath.Base(p)
	for n := 0; ; n++ {
		if n%65536 == 65535 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("evaluate: %w", err)
			}
		}
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("evaluate: %s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		if d.nfeat < 0 {
			if len(rec) < 2 {
				return fmt.Errorf("evaluate: %s line %d: need a label and at least one feature", name, line)
			}
			d.nfeat = len(rec) - 1
		}
		if len(rec) != d.nfeat+1 {
			return fmt.Errorf("evaluate: %s line %d: %d fields, expected %d (label and %d features)", name, line, len(rec), d.nfeat+1, d.nfeat)
		}
		for i, cell := range rec {
			cell = strings.TrimSpace(cell)
			if i == 0 {
				v, err := strconv.ParseFloat(cell, 64)
				if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("evaluate: %s line %d: label %q is not a number", name, line, cell)
				}
				d.labels = append(d.labels, v)
				continue
			}
			if cell == "" {
				d.features = append(d.features, float32(math.NaN()))
				continue
			}
			// Parse as float64 and round once to float32, as XGBoost's Python reader does.
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return fmt.Errorf("evaluate: %s line %d column %d: %q is not a number", name, line, i+1, cell)
			}
			d.features = append(d.features, float32(v))
		}
	}
}
