package synth

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func generate(t *testing.T, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteIsDeterministic(t *testing.T) {
	a := generate(t, Options{Rows: 500, Seed: 7, Header: true})
	b := generate(t, Options{Rows: 500, Seed: 7, Header: true})
	c := generate(t, Options{Rows: 500, Seed: 8, Header: true})
	if !bytes.Equal(a, b) {
		t.Error("same seed gave different output")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same output")
	}
	// A longer file starts with the shorter one: rows do not depend on the row count.
	long := generate(t, Options{Rows: 800, Seed: 7, Header: true})
	if !bytes.HasPrefix(long, a) {
		t.Error("the first 500 rows change with the row count")
	}
}

func TestWriteShape(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		header bool
	}{
		{"with header", Options{Rows: 2000, Seed: 1, Header: true}, true},
		{"without header", Options{Rows: 10, Seed: 1}, false},
		{"empty", Options{Rows: 0, Seed: 1, Header: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := csv.NewReader(bytes.NewReader(generate(t, tt.opts))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if tt.header {
				if got := strings.Join(recs[0], ","); got != strings.Join(Columns, ",") {
					t.Fatalf("header %q", got)
				}
				recs = recs[1:]
			}
			if len(recs) != tt.opts.Rows {
				t.Fatalf("%d rows, want %d", len(recs), tt.opts.Rows)
			}
			for i, r := range recs {
				if r[0] != "M" && r[0] != "F" && r[0] != "I" {
					t.Fatalf("row %d: sex %q", i, r[0])
				}
				for j := 1; j < len(r); j++ {
					v, err := strconv.ParseFloat(r[j], 64)
					if err != nil || v <= 0 || math.IsInf(v, 0) {
						t.Fatalf("row %d column %s: %q", i, Columns[j], r[j])
					}
				}
				if rings, _ := strconv.Atoi(r[8]); rings < 1 || rings > 29 {
					t.Fatalf("row %d: rings %q", i, r[8])
				}
			}
		})
	}
}

// TestRingsAreLearnable checks the property the demo relies on: rings correlate with the
// measurements about as strongly as in the real abalone data (shell weight r ≈ 0.63).
func TestRingsAreLearnable(t *testing.T) {
	recs, err := csv.NewReader(bytes.NewReader(generate(t, Options{Rows: 20000, Seed: 3}))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(j int) []float64 {
		out := make([]float64, len(recs))
		for i, r := range recs {
			out[i], _ = strconv.ParseFloat(r[j], 64)
		}
		return out
	}
	rings := col(8)
	for j, name := range Columns[1:8] {
		r := correlation(col(j+1), rings)
		if r < 0.45 || r > 0.8 {
			t.Errorf("corr(%s, rings) = %.3f, want within [0.45, 0.8]", name, r)
		}
	}
	var mean float64
	for _, v := range rings {
		mean += v
	}
	if mean /= float64(len(rings)); mean < 9 || mean > 11 {
		t.Errorf("mean rings %.2f, want about 9.9", mean)
	}
}

func correlation(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, syy, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		syy += y[i] * y[i]
		sxy += x[i] * y[i]
	}
	return (sxy - sx*sy/n) / math.Sqrt((sxx-sx*sx/n)*(syy-sy*sy/n))
}

func TestMain(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), []string{"-rows", "25", "-seed", "9", "-output", dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "abalone.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, generate(t, Options{Rows: 25, Seed: 9, Header: true})) {
		t.Error("Main wrote something other than Write")
	}
	stdout.Reset()
	if err := Main(context.Background(), []string{"-rows", "3", "-header=false", "-output", "-"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 3 {
		t.Errorf("stdout has %d lines, want 3", n)
	}
	for _, args := range [][]string{{"-rows", "-1", "-output", dir}, {"-rows", "x"}, {"-file", "../x.csv", "-output", dir}, {"extra"}} {
		if err := Main(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Main(ctx, []string{"-rows", "10", "-output", "-"}, io.Discard, io.Discard); err == nil {
		t.Error("cancelled context: no error")
	}
}

func BenchmarkWriteMillionRows(b *testing.B) {
	for b.Loop() {
		if err := Write(context.Background(), io.Discard, Options{Rows: 1_000_000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAppendFixed4(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0.43412, "0.4341"}, {0.15, "0.15"}, {1, "1"}, {2.82549, "2.8255"}, {0.00005, "0.0001"}, {0.0001, "0.0001"}, {12.3, "12.3"}, {0.02, "0.02"}} {
		if got := string(appendFixed4(nil, tc.v)); got != tc.want {
			t.Errorf("appendFixed4(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
