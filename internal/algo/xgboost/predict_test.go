package xgboost

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// stump returns a one-split model: x[f] < cond goes to leaf lv, else rv.
func stump(objective string, base float32, f int32, cond, lv, rv float32, defaultLeft bool) *Model {
	return &Model{
		Objective: objective, BaseScore: base, NumFeature: 2,
		Trees: []Tree{{
			LeftChildren:    []int32{1, -1, -1},
			RightChildren:   []int32{2, -1, -1},
			SplitIndices:    []int32{f, 0, 0},
			SplitConditions: []float32{cond, lv, rv},
			DefaultLeft:     []bool{defaultLeft, false, false},
		}},
	}
}

var nan = float32(math.NaN())

// TestPredictGolden pins the decision rule and every transform on hand-built models.
func TestPredictGolden(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct {
		name  string
		model *Model
		row   []float32
		want  []float32
	}{
		{"below threshold goes left", stump("reg:squarederror", 0.5, 0, 1, -1, 2, false), []float32{0.5, 9}, []float32{-0.5}},
		{"equal to threshold goes right", stump("reg:squarederror", 0.5, 0, 1, -1, 2, true), []float32{1, 9}, []float32{2.5}},
		{"missing follows default left", stump("reg:squarederror", 0, 0, 1, -1, 2, true), []float32{nan, 9}, []float32{-1}},
		{"missing follows default right", stump("reg:squarederror", 0, 0, 1, -1, 2, false), []float32{nan, 9}, []float32{2}},
		{"+inf is a value, not missing", stump("reg:squarederror", 0, 0, 1, -1, 2, true), []float32{inf, 0}, []float32{2}},
		{"-inf goes left", stump("reg:squarederror", 0, 0, 1, -1, 2, false), []float32{-inf, 0}, []float32{-1}},
		{"second feature", stump("reg:squarederror", 0, 1, 0, 3, 4, false), []float32{-5, 0.25}, []float32{4}},
		{"float32 rounding of the input", stump("reg:squarederror", 0, 0, 0.1, -1, 2, false), []float32{float32(0.1), 0}, []float32{2}},
		{"logistic: base 0.5 is margin 0", stump("binary:logistic", 0.5, 0, 1, 0, 2, false), []float32{0, 0}, []float32{0.5}},
		{"logistic: sigmoid of margin", stump("binary:logistic", 0.5, 0, 1, 0, 2, false), []float32{3, 0}, []float32{float32(1 / (1 + math.Exp(-2)))}},
		{"logistic: base score is a probability", stump("binary:logistic", 0.25, 0, 1, 0, 2, false), []float32{0, 0}, []float32{0.25}},
		{"logitraw: identity, base is a margin", stump("binary:logitraw", 0.5, 0, 1, 0, 2, false), []float32{3, 0}, []float32{2.5}},
		{"poisson: exp of log base plus leaf", stump("count:poisson", 2, 0, 1, 0, 1, false), []float32{3, 0}, []float32{float32(2 * math.E)}},
		{"hinge: positive margin is 1", stump("binary:hinge", 0, 0, 1, -0.5, 0.25, false), []float32{3, 0}, []float32{1}},
		{"hinge: negative margin is 0", stump("binary:hinge", 0, 0, 1, -0.5, 0.25, false), []float32{0, 0}, []float32{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPredictor(tt.model)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, p.NumOutputs())
			if err := p.Predict(tt.row, got); err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// multiModel is a 3-class model with one stump per class and a second round for class 2.
func multiModel(objective string) *Model {
	m := &Model{Objective: objective, BaseScore: 0.5, NumClass: 3, NumFeature: 1}
	for g, leaves := range [][2]float32{{1, 0}, {0, 1}, {0.5, 0.5}, {0, 0.25}} {
		s := stump("reg:squarederror", 0, 0, 0, leaves[0], leaves[1], false).Trees[0]
		s.Group = int32(min(g, 2))
		m.Trees = append(m.Trees, s)
	}
	return m
}

func TestPredictMulticlass(t *testing.T) {
	softmax := func(m ...float64) []float32 {
		var s float64
		for _, v := range m {
			s += math.Exp(v)
		}
		out := make([]float32, len(m))
		for i, v := range m {
			out[i] = float32(math.Exp(v) / s)
		}
		return out
	}
	tests := []struct {
		name      string
		objective string
		row       float32
		want      []float32
	}{
		{"softprob left", "multi:softprob", -1, softmax(1.5, 0.5, 1.0)},
		{"softprob right", "multi:softprob", 1, softmax(0.5, 1.5, 1.25)},
		{"softmax left is class 0", "multi:softmax", -1, []float32{0}},
		{"softmax right is class 1", "multi:softmax", 1, []float32{1}},
		{"softmax tie picks the first", "multi:softmax", nan, []float32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := multiModel(tt.objective)
			if tt.row != tt.row {
				m.Trees[0].SplitConditions[2] = 1 // class 0 and 1 both reach 1.5 on missing
				m.Trees[1].SplitConditions[2] = 1.5
			}
			p, err := NewPredictor(m)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, p.NumOutputs())
			if err := p.Predict([]float32{tt.row}, got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d outputs, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestPredictShapeErrors(t *testing.T) {
	p, err := NewPredictor(stump("reg:squarederror", 0, 0, 1, -1, 2, false))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 4)
	if err := p.Predict([]float32{1}, out); !errors.Is(err, ErrFeatureMismatch) {
		t.Errorf("short row: got %v, want ErrFeatureMismatch", err)
	}
	if err := p.Predict([]float32{1, 2, 3}, out); !errors.Is(err, ErrFeatureMismatch) {
		t.Errorf("long row: got %v, want ErrFeatureMismatch", err)
	}
	if err := p.Predict([]float32{1, 2}, nil); err == nil {
		t.Error("no room for output: no error")
	}
	if err := p.PredictBatch(make([]float32, 6), 3, out); !errors.Is(err, ErrFeatureMismatch) {
		t.Errorf("batch with wrong width: got %v", err)
	}
	if err := p.PredictBatch(make([]float32, 5), 2, out); err == nil {
		t.Error("ragged batch: no error")
	}
	if err := p.PredictBatch(make([]float32, 10), 2, out); err == nil {
		t.Error("batch output too small: no error")
	}
}

// TestPredictBatchMatchesSingle covers block edges and the parallel split.
func TestPredictBatchMatchesSingle(t *testing.T) {
	for _, tc := range []struct {
		objective string
		numClass  int
		dart      bool
	}{{"reg:squarederror", 0, false}, {"binary:logistic", 0, true}, {"multi:softprob", 3, false}, {"multi:softmax", 4, true}} {
		t.Run(tc.objective, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const nfeat = 5
			m := randomModel(rng, tc.objective, tc.numClass, 24, 5, nfeat)
			if tc.dart {
				m.Booster = BoosterDart
				for range m.Trees {
					m.WeightDrop = append(m.WeightDrop, float32(rng.Float64()))
				}
			}
			p, err := NewPredictor(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{0, 1, 63, 64, 65, 1000, 3 * minRowsPerWorker * runtime.GOMAXPROCS(0)} {
				rows := randomRows(rng, n, nfeat)
				batch := make([]float32, n*p.NumOutputs())
				if err := p.PredictBatch(rows, nfeat, batch); err != nil {
					t.Fatal(err)
				}
				one := make([]float32, p.NumOutputs())
				for r := range n {
					if err := p.Predict(rows[r*nfeat:(r+1)*nfeat], one); err != nil {
						t.Fatal(err)
					}
					for j, v := range one {
						if got := batch[r*p.NumOutputs()+j]; got != v {
							t.Fatalf("n=%d row %d output %d: batch %v, single %v", n, r, j, got, v)
						}
					}
				}
			}
		})
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		objective string
		numClass  int
	}{{"binary:logistic", 0}, {"multi:softprob", 3}, {"multi:softmax", 3}, {"multi:softmax", 80}} {
		t.Run(tc.objective, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			p, err := NewPredictor(randomModel(rng, tc.objective, tc.numClass, 160, 6, 8))
			if err != nil {
				t.Fatal(err)
			}
			row := randomRows(rng, 1, 8)
			out := make([]float32, p.NumOutputs())
			margin := make([]float32, p.NumGroups())
			if a := testing.AllocsPerRun(200, func() {
				_ = p.Predict(row, out)
				_ = p.PredictMargin(row, margin)
			}); a != 0 {
				t.Errorf("%v allocations per row, want 0", a)
			}
		})
	}
}

// benchModel is the reference model: 100 full trees of depth 6 over 10 features, with
// 100,000 rows without missing values (set SLUICE_BENCH_MISSING=0.1 to add them).
func benchModel(b *testing.B) (*Predictor, []float32) {
	rng := rand.New(rand.NewPCG(7, 7))
	p, err := NewPredictor(randomModel(rng, "reg:squarederror", 0, 100, 6, 10))
	if err != nil {
		b.Fatal(err)
	}
	missing := 0.0
	if s := os.Getenv("SLUICE_BENCH_MISSING"); s != "" {
		if missing, err = strconv.ParseFloat(s, 64); err != nil {
			b.Fatal(err)
		}
	}
	return p, randomRowsMissing(rng, 100_000, 10, missing)
}

func BenchmarkPredictSingleRow(b *testing.B) {
	p, rows := benchModel(b)
	out := make([]float32, 1)
	const distinct = 1024
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := i % distinct
		if err := p.Predict(rows[r*10:(r+1)*10], out); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPredictBatch100k(b *testing.B) {
	p, rows := benchModel(b)
	out := make([]float32, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.PredictBatch(rows, 10, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "rows/s")
}

// TestPredictMatchesTextbookWalk compares the compiled, interleaved walks with the plain
// walk over the model arrays, bit for bit, on rows with and without missing values.
func TestPredictMatchesTextbookWalk(t *testing.T) {
	for _, tc := range []struct {
		name      string
		objective string
		numClass  int
		trees     int
		dart      bool
	}{
		{"regression, 37 trees", "reg:squarederror", 0, 37, false},
		{"dart, 21 trees", "reg:squarederror", 0, 21, true},
		{"4 classes, 44 trees", "multi:softprob", 4, 44, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			const nfeat = 9
			m := randomModel(rng, tc.objective, tc.numClass, tc.trees, 7, nfeat)
			// Prune some subtrees so that depths differ between trees and within a tree.
			for k := range m.Trees {
				tr := &m.Trees[k]
				for i := range 7 {
					if rng.IntN(3) == 0 {
						tr.LeftChildren[i], tr.RightChildren[i] = NoChild, NoChild
						tr.SplitConditions[i] = float32(rng.NormFloat64())
					}
				}
				tr.Parents = nil
			}
			if tc.dart {
				m.Booster = BoosterDart
				for range m.Trees {
					m.WeightDrop = append(m.WeightDrop, float32(rng.Float64()))
				}
			}
			p, err := NewPredictor(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, missing := range []float64{0, 0.2} {
				rows := randomRowsMissing(rng, 300, nfeat, missing)
				batch := make([]float32, 300*p.NumGroups())
				if err := p.PredictMarginBatch(rows, nfeat, batch); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, p.NumGroups())
				for r := range 300 {
					row := rows[r*nfeat : (r+1)*nfeat]
					if err := p.PredictMargin(row, got); err != nil {
						t.Fatal(err)
					}
					want := refMargin(m, row)
					for g := range want {
						if got[g] != want[g] || batch[r*p.NumGroups()+g] != want[g] {
							t.Fatalf("row %d group %d: single %v batch %v, textbook %v", r, g, got[g], batch[r*p.NumGroups()+g], want[g])
						}
					}
				}
			}
		})
	}
}
