package alarm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the nearest-rank quantile ⌈q·n⌉ of sorted values, the definition the
// sketch approximates.
func exactQuantile(sorted []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(sorted)) - 1e-9))
	if k < 1 {
		k = 1
	}
	return sorted[k-1]
}

func TestSketchRelativeError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := []struct {
		name string
		gen  func() float64
	}{
		{"lognormal latency µs", func() float64 { return math.Exp(8 + 1.5*rng.NormFloat64()) }},
		{"uniform 0..1", func() float64 { return rng.Float64() }},
		{"exponential", func() float64 { return rng.ExpFloat64() * 250 }},
		{"pareto heavy tail", func() float64 { return 100 / math.Pow(1-rng.Float64(), 1/1.2) }},
		{"mixed signs", func() float64 { return rng.NormFloat64() * 1000 }},
		{"wide range", func() float64 { return math.Pow(10, rng.Float64()*30-15) }},
		{"zeros and ones", func() float64 { return float64(rng.IntN(2)) }},
	}
	quantiles := []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			// Build the sketch from 10 parts merged together, as a period is built from buckets.
			var whole Sketch
			var vals []float64
			for part := 0; part < 10; part++ {
				var s Sketch
				for i := 0; i < 5000; i++ {
					v := d.gen()
					vals = append(vals, v)
					s.Add(v, 1)
				}
				whole.Merge(&s)
			}
			slices.Sort(vals)
			if whole.Count() != float64(len(vals)) {
				t.Fatalf("count %v, want %d", whole.Count(), len(vals))
			}
			for _, q := range quantiles {
				want := exactQuantile(vals, q)
				got := whole.Quantile(q)
				if err := relErr(got, want); err > SketchRelativeAccuracy()+1e-12 {
					t.Errorf("p%v: got %v, exact %v, relative error %.4f > %.4f", q*100, got, want, err, SketchRelativeAccuracy())
				}
			}
		})
	}
}

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestSketchEdges(t *testing.T) {
	var s Sketch
	if !math.IsNaN(s.Quantile(0.5)) {
		t.Fatal("empty sketch should give NaN")
	}
	s.Add(math.NaN(), 1)
	s.Add(5, 0)
	if s.Count() != 0 {
		t.Fatalf("NaN and zero counts must be ignored, count %v", s.Count())
	}
	s.Add(42, 3.5) // fractional counts come from PutMetricData Counts
	if got := s.Quantile(0.99); relErr(got, 42) > SketchRelativeAccuracy() {
		t.Fatalf("single value: %v", got)
	}
	// Decimal percentiles land on the exact rank: p99.9 of 1000 values is the 999th.
	var dec Sketch
	dec.Add(10, 900)
	dec.Add(20, 99)
	dec.Add(500, 1)
	p999, _ := ParseStatistic("p99.9")
	if got := dec.Quantile(p999.q); relErr(got, 20) > SketchRelativeAccuracy() {
		t.Fatalf("p99.9 of 900×10, 99×20, 1×500 = %v, want ≈20", got)
	}
	// A sketch past its bin budget keeps the top exact and coarsens only the bottom.
	var wide Sketch
	for e := -300; e <= 300; e++ {
		wide.Add(math.Pow(10, float64(e)), 1)
	}
	if got := wide.Quantile(1); relErr(got, 1e300) > SketchRelativeAccuracy() {
		t.Fatalf("top of a collapsed sketch: %v", got)
	}
	if got := wide.Quantile(0.99); relErr(got, 1e294) > SketchRelativeAccuracy() {
		t.Fatalf("p99 of a collapsed sketch: %v, want ≈1e294 (rank 595 of 601)", got)
	}
	if n := len(wide.pos.c); n > sketchMaxBins {
		t.Fatalf("sketch holds %d bins, more than %d", n, sketchMaxBins)
	}
	// Reset keeps nothing.
	wide.Reset()
	if wide.Count() != 0 || !math.IsNaN(wide.Quantile(0.5)) {
		t.Fatal("reset sketch not empty")
	}
}

func TestStatisticParsing(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		q    float64
		perc bool
	}{
		{"Sum", true, 0, false},
		{"Average", true, 0, false},
		{"SampleCount", true, 0, false},
		{"p99", true, 0.99, true},
		{"p99.9", true, 0.999, true},
		{"p99.99", true, 0.9999, true},
		{"p0", true, 0, true},
		{"p100", true, 1, true},
		{"p100.1", false, 0, false},
		{"p99.999", false, 0, false},
		{"p", false, 0, false},
		{"tm99", false, 0, false},
		{"TM(10%:90%)", false, 0, false},
		{"p-1", false, 0, false},
		{"p1e1", false, 0, false},
		{"sum", false, 0, false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			st, err := ParseStatistic(c.in)
			if (err == nil) != c.ok {
				t.Fatalf("ParseStatistic(%q) error %v, want ok=%v", c.in, err, c.ok)
			}
			if c.ok && (st.Percentile() != c.perc || math.Abs(st.q-c.q) > 1e-12) {
				t.Fatalf("ParseStatistic(%q) = %+v", c.in, st)
			}
		})
	}
}

func TestStatisticOf(t *testing.T) {
	var a Aggregate
	for _, v := range []float64{4, 1, 3, 2} {
		a.add(v, 1)
	}
	want := map[string]float64{"SampleCount": 4, "Sum": 10, "Average": 2.5, "Minimum": 1, "Maximum": 4, "p0": 1, "p100": 4, "p50": 2}
	for name, w := range want {
		st, _ := ParseStatistic(name)
		got, ok := st.Of(&a)
		if !ok || relErr(got, w) > SketchRelativeAccuracy() {
			t.Errorf("%s = %v (%v), want %v", name, got, ok, w)
		}
	}
	// A statistic set with a spread hides the values: no percentile, as in CloudWatch.
	a.addSet(10, 100, 5, 15)
	p99, _ := ParseStatistic("p99")
	if _, ok := p99.Of(&a); ok {
		t.Fatal("percentile over a statistic set with a spread should be unavailable")
	}
	if got, _ := (Statistic{kind: statSum}).Of(&a); got != 110 {
		t.Fatalf("Sum with a statistic set = %v, want 110", got)
	}
	// Sets whose values are all equal stay exact.
	var b Aggregate
	b.addSet(3, 21, 7, 7)
	if got, ok := p99.Of(&b); !ok || relErr(got, 7) > SketchRelativeAccuracy() {
		t.Fatalf("p99 of an equal-valued set = %v (%v)", got, ok)
	}
}
