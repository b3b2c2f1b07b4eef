//go:build unix

package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/algo/xgboost/train"
)

// dataset is a train/test pair held row-major for writing and column-major for training.
type dataset struct {
	name        string
	train, test *train.Matrix
}

// higgsLike generates a deterministic binary problem shaped like HIGGS: 21 "low-level"
// features (transverse momenta that are positive and skewed, pseudorapidities, angles,
// b-tag flags) and 7 "high-level" features that are nonlinear functions of them (invariant
// masses with detector noise). The label is drawn from a logistic model of a nonlinear
// score, so the Bayes error is well above zero and trees have real work to do.
func higgsLike(rows int, seed uint64) *train.Matrix {
	const cols = 28
	rng := rand.New(rand.NewPCG(seed, 0x6869676773))
	m := &train.Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols), Labels: make([]float32, rows)}
	x := make([]float64, cols)
	for i := 0; i < rows; i++ {
		// Five objects (lepton, missing energy, jets) with pt, eta, phi (+ b-tag for jets).
		j := 0
		for obj := 0; obj < 5; obj++ {
			pt := math.Exp(rng.NormFloat64()*0.5) * (0.8 + 0.1*float64(obj))
			eta := rng.NormFloat64() * 1.1
			phi := (rng.Float64()*2 - 1) * math.Pi
			x[j], x[j+1], x[j+2] = pt, eta, phi
			j += 3
			if obj >= 2 {
				btag := 0.0
				if rng.Float64() < 0.3 {
					btag = 1 + math.Floor(rng.Float64()*2)
				}
				x[j] = btag
				j++
			}
		}
		x[j] = rng.ExpFloat64() // extra low-level feature
		j++
		// High-level: pair masses m = sqrt(2 pt1 pt2 (cosh(deta) - cos(dphi))) with noise.
		pairs := [7][2]int{{0, 3}, {6, 10}, {10, 14}, {6, 14}, {14, 18}, {0, 6}, {3, 18}}
		for _, p := range pairs {
			a, b := p[0], p[1]
			mass := math.Sqrt(2 * x[a] * x[b] * (math.Cosh(x[a+1]-x[b+1]) - math.Cos(x[a+2]-x[b+2])))
			x[j] = mass * math.Exp(rng.NormFloat64()*0.1)
			j++
		}
		score := 1.2*math.Tanh(x[21]-1.2) - 0.8*math.Abs(x[22]-1.5) + 0.6*x[9]*x[13]/(1+x[9]*x[13]) +
			0.5*math.Sin(2*x[2])*x[0] + 0.4*(x[12]+x[16]) - 0.7*math.Abs(x[4]) + 0.3*math.Log1p(x[24]*x[25]) +
			0.5*math.Cos(x[5]-x[8]) - 0.4
		y := 0.0
		if rng.Float64() < 1/(1+math.Exp(-2*score)) {
			y = 1
		}
		for f := 0; f < cols; f++ {
			m.Data[f*rows+i] = float32(x[f])
		}
		m.Labels[i] = float32(y)
	}
	return m
}

// abalone reads ../shared/data/abalone.csv: sex one-hot (F, I, M), seven measurements,
// rings as the label; every fifth row is test data.
func abalone(path string) (*dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var tr, te [][]float32
	var trY, teY []float32
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		cells := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(cells) != 9 {
			return nil, fmt.Errorf("%s line %d: %d cells", path, line, len(cells))
		}
		row := make([]float32, 0, 10)
		for _, s := range []string{"F", "I", "M"} {
			v := float32(0)
			if cells[0] == s {
				v = 1
			}
			row = append(row, v)
		}
		for _, c := range cells[1:] {
			v, err := strconv.ParseFloat(c, 32)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", path, line, err)
			}
			row = append(row, float32(v))
		}
		label := row[len(row)-1]
		row = row[:len(row)-1]
		if (line-2)%5 == 4 {
			te, teY = append(te, row), append(teY, label)
		} else {
			tr, trY = append(tr, row), append(trY, label)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	trm, err := train.NewMatrix(tr, trY)
	if err != nil {
		return nil, err
	}
	tem, err := train.NewMatrix(te, teY)
	if err != nil {
		return nil, err
	}
	return &dataset{name: "abalone", train: trm, test: tem}, nil
}

// writeBinary writes m's features row-major as float32 and its labels as float32, the
// layout xgb_bench.py reads with numpy.fromfile.
func writeBinary(m *train.Matrix, dir, prefix string) (xPath, yPath string, err error) {
	xPath, yPath = filepath.Join(dir, prefix+"_x.f32"), filepath.Join(dir, prefix+"_y.f32")
	buf := make([]float32, m.Rows*m.Cols)
	for i := 0; i < m.Rows; i++ {
		for j := 0; j < m.Cols; j++ {
			buf[i*m.Cols+j] = m.At(i, j)
		}
	}
	if err := writeFloats(xPath, buf); err != nil {
		return "", "", err
	}
	return xPath, yPath, writeFloats(yPath, m.Labels)
}

func writeFloats(path string, v []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := binary.Write(w, binary.NativeEndian, v); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
