package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// TestGoldenTreesFromXGBoost trains on a tiny set whose trees real XGBoost 1.7.4 printed
// (tree_method=hist, max_depth=2, eta=0.5, min_child_weight=0, reg:squarederror, two
// rounds, a missing value in feature 1) and expects the same trees, statistics included.
func TestGoldenTreesFromXGBoost(t *testing.T) {
	nan := float32(math.NaN())
	x, err := NewMatrix([][]float32{{1, 2}, {2, 1}, {3, nan}, {4, 0}, {5, 5}, {6, 1}}, []float32{1, 2, 3, 4, 5, 7})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseParams(map[string]string{"num_round": "2", "max_depth": "2", "eta": "0.5", "min_child_weight": "0"})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	m, err := Train(context.Background(), p, x, nil, &log)
	if err != nil {
		t.Fatal(err)
	}
	want := []xgboost.Tree{
		{
			LeftChildren: []int32{1, -1, -1}, RightChildren: []int32{2, -1, -1}, Parents: []int32{xgboost.NoParent, 0, 0},
			SplitIndices: []int32{0, 0, 0}, SplitConditions: []float32{3.0, 0.33333334, 1.7}, DefaultLeft: []bool{false, false, false},
			BaseWeights: []float32{2.7142856, 0.33333334, 1.7}, LossChanges: []float32{7.561901, 0, 0}, SumHessian: []float32{6, 2, 4},
		},
		{
			LeftChildren: []int32{1, 3, -1, -1, -1}, RightChildren: []int32{2, 4, -1, -1, -1}, Parents: []int32{xgboost.NoParent, 0, 0, 1, 1},
			SplitIndices: []int32{0, 0, 0, 0, 0}, SplitConditions: []float32{4.0, 2.0, 1.175, 0.041666657, 0.32777777},
			DefaultLeft: []bool{false, false, false, false, false}, BaseWeights: []float32{1.647619, 0.5333333, 1.175, 0.041666657, 0.32777777},
			LossChanges: []float32{4.225239, 0.16537023, 0, 0, 0}, SumHessian: []float32{6, 3, 3, 1, 2},
		},
	}
	if len(m.Trees) != len(want) {
		t.Fatalf("%d trees, want %d", len(m.Trees), len(want))
	}
	for i := range want {
		compareTree(t, i, m.Trees[i], want[i], 1e-6)
	}
	// XGBoost printed train-rmse 2.45455 and 1.68890 for these rounds.
	if got := log.String(); got != "[0]\ttrain-rmse:2.45455\n[1]\ttrain-rmse:1.68890\n" {
		t.Errorf("log = %q", got)
	}
	if m.BaseScore != 0.5 || m.Objective != "reg:squarederror" || m.NumFeature != 2 {
		t.Errorf("model header: objective %s base_score %v features %d", m.Objective, m.BaseScore, m.NumFeature)
	}
}

func compareTree(t *testing.T, idx int, got, want xgboost.Tree, tol float64) {
	t.Helper()
	eqF := func(a, b []float32) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > tol*max(1, math.Abs(float64(b[i]))) {
				return false
			}
		}
		return true
	}
	switch {
	case !slices.Equal(got.LeftChildren, want.LeftChildren) || !slices.Equal(got.RightChildren, want.RightChildren):
		t.Errorf("tree %d children: left %v right %v, want %v %v", idx, got.LeftChildren, got.RightChildren, want.LeftChildren, want.RightChildren)
	case !slices.Equal(got.Parents, want.Parents):
		t.Errorf("tree %d parents %v, want %v", idx, got.Parents, want.Parents)
	case !slices.Equal(got.SplitIndices, want.SplitIndices):
		t.Errorf("tree %d split indices %v, want %v", idx, got.SplitIndices, want.SplitIndices)
	case !slices.Equal(got.DefaultLeft, want.DefaultLeft):
		t.Errorf("tree %d default left %v, want %v", idx, got.DefaultLeft, want.DefaultLeft)
	case !eqF(got.SplitConditions, want.SplitConditions):
		t.Errorf("tree %d split conditions %v, want %v", idx, got.SplitConditions, want.SplitConditions)
	case !eqF(got.BaseWeights, want.BaseWeights):
		t.Errorf("tree %d base weights %v, want %v", idx, got.BaseWeights, want.BaseWeights)
	case !lossClose(got.LossChanges, want.LossChanges, tol):
		t.Errorf("tree %d loss changes %v, want %v", idx, got.LossChanges, want.LossChanges)
	case !eqF(got.SumHessian, want.SumHessian):
		t.Errorf("tree %d sum hessian %v, want %v", idx, got.SumHessian, want.SumHessian)
	}
}

// lossClose compares loss changes. A loss change is the float32 difference of two large
// float32 gains whose float64 sums XGBoost adds up in another order, so it carries an
// absolute error of a few ulps of the node's gain: allow 1e-5 of the tree's largest.
func lossClose(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	var scale float64
	for _, v := range b {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5*scale+tol*math.Abs(float64(b[i])) {
			return false
		}
	}
	return true
}

// synthetic makes a deterministic data set for an objective: a few informative features,
// one noise feature, and (with missing) about 10% missing cells.
func synthetic(rows int, objective string, numClass int, missing bool, seed uint64) *Matrix {
	rng := rand.New(rand.NewPCG(seed, 99))
	const cols = 5
	m := &Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols), Labels: make([]float32, rows)}
	for i := 0; i < rows; i++ {
		x := make([]float64, cols)
		for j := range x {
			x[j] = rng.NormFloat64()
			if j == 3 {
				x[j] = math.Round(x[j] * 2) // a discrete feature with few values
			}
		}
		score := 1.5*x[0] - x[1]*x[2] + 0.5*x[3] + 0.3*rng.NormFloat64()
		var y float64
		switch objective {
		case "reg:squarederror", "reg:linear":
			y = 10 + 3*score
		case "reg:logistic":
			y = 1 / (1 + math.Exp(-score))
		case "binary:logistic":
			if rng.Float64() < 1/(1+math.Exp(-2*score)) {
				y = 1
			}
		case "count:poisson":
			y = float64(min(50, int(math.Exp(0.5*score+1)+rng.Float64()*2)))
		case "multi:softprob", "multi:softmax":
			y = float64(min(numClass-1, max(0, int(score+float64(numClass)/2))))
		}
		for j := range x {
			v := float32(x[j])
			if missing && j < 3 && rng.IntN(10) == 0 {
				v = float32(math.NaN())
			}
			m.Data[j*rows+i] = v
		}
		m.Labels[i] = float32(y)
	}
	return m
}

var objectiveCases = []struct {
	objective string
	numClass  int
	metric    string
}{
	{"reg:squarederror", 0, "rmse"},
	{"reg:linear", 0, "rmse"},
	{"reg:logistic", 0, "rmse"},
	{"binary:logistic", 0, "logloss"},
	{"count:poisson", 0, "poisson-nloglik"},
	{"multi:softprob", 3, "mlogloss"},
	{"multi:softmax", 4, "mlogloss"},
}

// TestObjectivesLearnAndModelAgrees trains every objective on data with missing values and
// checks that the metric falls, and that the written trees, evaluated on the float
// features, give exactly the margins the trainer kept through bins and row partitions.
func TestObjectivesLearnAndModelAgrees(t *testing.T) {
	for _, oc := range objectiveCases {
		t.Run(oc.objective, func(t *testing.T) {
			x := synthetic(3000, oc.objective, oc.numClass, true, 1)
			hps := map[string]string{"num_round": "20", "objective": oc.objective, "max_depth": "4", "max_bin": "32", "subsample": "0.8", "colsample_bytree": "0.8"}
			if oc.numClass > 0 {
				hps["num_class"] = strconv.Itoa(oc.numClass)
			}
			p, err := ParseParams(hps)
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			m, margins, err := trainMargins(context.Background(), p, x, nil, &log)
			if err != nil {
				t.Fatal(err)
			}
			if want := 20 * max(1, oc.numClass); len(m.Trees) != want {
				t.Errorf("%d trees, want %d", len(m.Trees), want)
			}
			got := modelMargins(m, x)
			for i := range got {
				if math.Abs(float64(got[i]-margins[i])) > 1e-5 {
					t.Fatalf("row %d: model margin %v, trainer margin %v", i/m.NumGroups(), got[i], margins[i])
				}
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			first, last := metricValue(t, lines[0], "train-"+oc.metric), metricValue(t, lines[len(lines)-1], "train-"+oc.metric)
			if !(last < first*0.9) {
				t.Errorf("train-%s went from %v to %v", oc.metric, first, last)
			}
			var defaultLeft bool
			for _, tr := range m.Trees {
				defaultLeft = defaultLeft || slices.Contains(tr.DefaultLeft, true)
			}
			if !defaultLeft {
				t.Errorf("no split learned to send missing values left")
			}
		})
	}
}

func metricValue(t *testing.T, line, name string) float64 {
	t.Helper()
	for _, f := range strings.Split(line, "\t")[1:] {
		k, v, _ := strings.Cut(f, ":")
		if k == name {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
	}
	t.Fatalf("no %s in %q", name, line)
	return 0
}

func TestLogFormatMatchesSageMakerMetricRegex(t *testing.T) {
	x := synthetic(500, "reg:squarederror", 0, false, 1)
	v := synthetic(200, "reg:squarederror", 0, false, 2)
	p, _ := ParseParams(map[string]string{"num_round": "3", "eval_metric": "mae,rmse"})
	var log bytes.Buffer
	if _, err := Train(context.Background(), p, x, v, &log); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("log has %d lines:\n%s", len(lines), log.String())
	}
	format := regexp.MustCompile(`^\[2\]\ttrain-mae:[0-9.]+\ttrain-rmse:[0-9.]+\tvalidation-mae:[0-9.]+\tvalidation-rmse:[0-9.]+$`)
	if !format.MatchString(lines[2]) {
		t.Errorf("line %q does not have XGBoost's format", lines[2])
	}
	// CloudWatch shows the tab as #011; SageMaker's metric definitions match that.
	cw := strings.ReplaceAll(lines[2], "\t", "#011")
	found := 0
	for _, d := range MetricDefinitions() {
		if d.Name != "validation:rmse" && d.Name != "train:mae" {
			continue
		}
		sub := regexp.MustCompile(d.Regex).FindStringSubmatch(cw)
		if sub == nil {
			t.Errorf("%s: regex %s does not match %q", d.Name, d.Regex, cw)
			continue
		}
		found++
		name := strings.Replace(d.Name, ":", "-", 1)
		if want := metricValue(t, lines[2], name); sub[1] != strconv.FormatFloat(want, 'f', 5, 64) {
			t.Errorf("%s: read %s, want %v", d.Name, sub[1], want)
		}
	}
	if found != 2 {
		t.Errorf("found %d of 2 metric definitions", found)
	}
}

func TestEarlyStopping(t *testing.T) {
	x := synthetic(400, "reg:squarederror", 0, false, 1)
	v := synthetic(400, "reg:squarederror", 0, false, 2)
	// Deep trees on few rows overfit, so validation error turns up and training stops.
	p, _ := ParseParams(map[string]string{"num_round": "500", "max_depth": "8", "eta": "0.5", "min_child_weight": "0",
		"lambda": "0", "early_stopping_rounds": "5"})
	var log bytes.Buffer
	m, err := Train(context.Background(), p, x, v, &log)
	if err != nil {
		t.Fatal(err)
	}
	best, err := strconv.Atoi(m.Attributes["best_iteration"])
	if err != nil {
		t.Fatalf("best_iteration attribute: %v (%v)", err, m.Attributes)
	}
	if len(m.Trees) != best+6 || len(m.Trees) >= 500 {
		t.Errorf("%d trees with best_iteration %d; want best+early_stopping_rounds+1", len(m.Trees), best)
	}
	if m.Attributes["best_ntree_limit"] != strconv.Itoa(best+1) {
		t.Errorf("best_ntree_limit = %q", m.Attributes["best_ntree_limit"])
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	bestScore, _ := strconv.ParseFloat(m.Attributes["best_score"], 64)
	for _, l := range lines {
		if !strings.HasPrefix(l, "[") || strings.Contains(l, "best") {
			continue
		}
		if v := metricValue(t, l, "validation-rmse"); v < bestScore-5e-6 {
			t.Errorf("round %q beats best_score %v", l, bestScore)
		}
	}
	if !strings.Contains(lines[len(lines)-1], "best validation-rmse") {
		t.Errorf("last line %q does not report the best round", lines[len(lines)-1])
	}
}

func TestSeedDeterminesSampling(t *testing.T) {
	x := synthetic(2000, "binary:logistic", 0, true, 1)
	trainWith := func(seed string, threads string) *xgboost.Model {
		p, err := ParseParams(map[string]string{"num_round": "5", "objective": "binary:logistic", "subsample": "0.6",
			"colsample_bytree": "0.6", "colsample_bylevel": "0.8", "colsample_bynode": "0.8", "seed": seed, "nthread": threads})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Train(context.Background(), p, x, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var a, b, c bytes.Buffer
	trainWith("1", "1").WriteJSON(&a)
	trainWith("1", "4").WriteJSON(&b)
	trainWith("2", "2").WriteJSON(&c)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed with 1 and 4 threads gave different models")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("different seeds gave the same model")
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	good := synthetic(50, "binary:logistic", 0, false, 1)
	tests := []struct {
		name    string
		hps     map[string]string
		train   *Matrix
		valid   *Matrix
		wantErr string
	}{
		{name: "logistic label out of range", hps: map[string]string{"num_round": "1", "objective": "binary:logistic"},
			train: &Matrix{Rows: 2, Cols: 1, Data: []float32{1, 2}, Labels: []float32{0, 2}}, wantErr: "label 2 in row 2 must be in [0, 1]"},
		{name: "class label above num_class", hps: map[string]string{"num_round": "1", "objective": "multi:softmax", "num_class": "2"},
			train: &Matrix{Rows: 2, Cols: 1, Data: []float32{1, 2}, Labels: []float32{0, 2}}, wantErr: "must be an integer class in [0, 2)"},
		{name: "negative poisson count", hps: map[string]string{"num_round": "1", "objective": "count:poisson"},
			train: &Matrix{Rows: 2, Cols: 1, Data: []float32{1, 2}, Labels: []float32{-1, 2}}, wantErr: "must be non-negative"},
		{name: "validation width", hps: map[string]string{"num_round": "1", "objective": "binary:logistic"}, train: good,
			valid: &Matrix{Rows: 1, Cols: 1, Data: []float32{1}, Labels: []float32{0}}, wantErr: "validation data has 1 feature columns, training data has 5"},
		{name: "multi-class metric on binary objective", hps: map[string]string{"num_round": "1", "objective": "binary:logistic", "eval_metric": "merror"},
			train: good, wantErr: "eval_metric merror does not apply"},
		{name: "no rows", hps: map[string]string{"num_round": "1"}, train: &Matrix{Cols: 1}, wantErr: "no rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseParams(tt.hps)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Train(context.Background(), p, tt.train, tt.valid, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTrainStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, _ := ParseParams(map[string]string{"num_round": "10"})
	_, err := Train(ctx, p, synthetic(100, "reg:squarederror", 0, false, 1), nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCuts(t *testing.T) {
	t.Run("few distinct values: one bin per value", func(t *testing.T) {
		vals := []float32{3, 1, 2, 2, 5, 1, 3}
		fc, minVal := featureCuts(vals, nil, 256)
		want := []float32{2, 3, 5, 5 + 5 + 1e-5}
		if !slices.Equal(fc, want) {
			t.Errorf("cuts %v, want %v", fc, want)
		}
		one, eps := float32(1), float32(1e-5)
		if minVal != one-(one+eps) {
			t.Errorf("min %v", minVal)
		}
		for _, v := range []float32{1, 2, 3, 5} {
			b := searchBin(fc, v)
			if !(v < fc[b]) || (b > 0 && v < fc[b-1]) {
				t.Errorf("value %v in bin %d of %v", v, b, fc)
			}
		}
	})
	t.Run("many values: at most max_bin equal-count bins", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		vals := make([]float32, 100000)
		for i := range vals {
			vals[i] = float32(rng.NormFloat64())
		}
		fc, _ := featureCuts(slices.Clone(vals), nil, 16)
		if len(fc) != 16 || !slices.IsSorted(fc) {
			t.Fatalf("cuts %v", fc)
		}
		counts := make([]int, len(fc))
		for _, v := range vals {
			counts[searchBin(fc, v)]++
		}
		for b, c := range counts {
			if c < 100000/16*8/10 || c > 100000/16*12/10 {
				t.Errorf("bin %d holds %d values, want about %d", b, c, 100000/16)
			}
		}
	})
	t.Run("radix sort matches comparison sort", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		vals := make([]float32, 10000)
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * 1e3)
			if i%7 == 0 {
				vals[i] = -vals[i]
			}
		}
		want := slices.Clone(vals)
		slices.Sort(want)
		sortFloat32(vals)
		if !slices.Equal(vals, want) {
			t.Error("radix sort order differs")
		}
	})
}

// TestTwoByteBins covers the uint16 bin storage: more than 256 bins, or 256 bins plus the
// missing code, and checks the trainer's margins against the written trees.
func TestTwoByteBins(t *testing.T) {
	for _, maxBin := range []string{"300", "256"} {
		t.Run("max_bin="+maxBin, func(t *testing.T) {
			x := synthetic(3000, "reg:squarederror", 0, true, 4)
			p, err := ParseParams(map[string]string{"num_round": "5", "max_bin": maxBin})
			if err != nil {
				t.Fatal(err)
			}
			if fitsUint8(buildCuts(x, p.MaxBin, 2)) {
				t.Fatal("cuts fit one byte; the test does not reach the uint16 path")
			}
			m, margins, err := trainMargins(context.Background(), p, x, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range modelMargins(m, x) {
				if math.Abs(float64(v-margins[i])) > 1e-5 {
					t.Fatalf("row %d: model margin %v, trainer margin %v", i, v, margins[i])
				}
			}
		})
	}
}

// TestWideData covers a histogram of more than 65535 slots (300 features of 256 bins).
func TestWideData(t *testing.T) {
	const rows, cols = 1200, 300
	rng := rand.New(rand.NewPCG(9, 9))
	x := &Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols), Labels: make([]float32, rows)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for i := range x.Labels {
		x.Labels[i] = x.At(i, 7) - 2*x.At(i, 250)
	}
	p, err := ParseParams(map[string]string{"num_round": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if n := slotLayout(buildCuts(x, p.MaxBin, 2))[cols]; n <= 1<<16 {
		t.Fatalf("%d histogram slots; want more than 65536", n)
	}
	m, margins, err := trainMargins(context.Background(), p, x, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range modelMargins(m, x) {
		if math.Abs(float64(v-margins[i])) > 1e-5 {
			t.Fatalf("row %d: model margin %v, trainer margin %v", i, v, margins[i])
		}
	}
	if f := m.Trees[0].SplitIndices[0]; f != 7 && f != 250 {
		t.Errorf("first split on feature %d, want 7 or 250", f)
	}
}
