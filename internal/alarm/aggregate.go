package alarm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Aggregate summarises the values of one metric over a span of time: what CloudWatch calls a
// statistic set, plus a quantile sketch for percentiles.
type Aggregate struct {
	SampleCount float64
	Sum         float64
	Minimum     float64
	Maximum     float64
	// Sketch holds every value for percentiles; nil when none were recorded.
	Sketch *Sketch
	// Unsketched counts values that arrived as statistic sets whose spread is unknown; while it
	// is non-zero, percentiles are unavailable, as in CloudWatch.
	Unsketched float64
}

func (a *Aggregate) empty() bool { return a.SampleCount <= 0 }

// add records value v n times.
func (a *Aggregate) add(v, n float64) {
	if a.SampleCount <= 0 {
		a.Minimum, a.Maximum = v, v
	} else {
		a.Minimum = min(a.Minimum, v)
		a.Maximum = max(a.Maximum, v)
	}
	a.SampleCount += n
	a.Sum += v * n
	if a.Sketch == nil {
		a.Sketch = &Sketch{}
	}
	a.Sketch.Add(v, n)
}

// addSet records a statistic set. Sets whose values are all equal are exact and go into the
// sketch; others only into the count, sum and extremes.
func (a *Aggregate) addSet(count, sum, lo, hi float64) {
	if count <= 0 {
		return
	}
	if lo == hi || count == 1 {
		v := lo
		if count == 1 {
			v = sum
		}
		a.add(v, count)
		// Keep the caller's sum exactly, even if it disagrees slightly with count×value.
		a.Sum += sum - v*count
		return
	}
	if a.SampleCount <= 0 {
		a.Minimum, a.Maximum = lo, hi
	} else {
		a.Minimum = min(a.Minimum, lo)
		a.Maximum = max(a.Maximum, hi)
	}
	a.SampleCount += count
	a.Sum += sum
	a.Unsketched += count
}

// merge adds o into a, sketch included.
func (a *Aggregate) merge(o *Aggregate) { a.mergeStats(o, true) }

// mergeStats adds o into a; the sketch only when withSketch, which statistics other than
// percentiles do not need.
func (a *Aggregate) mergeStats(o *Aggregate, withSketch bool) {
	if o == nil || o.empty() {
		return
	}
	if a.empty() {
		a.Minimum, a.Maximum = o.Minimum, o.Maximum
	} else {
		a.Minimum = min(a.Minimum, o.Minimum)
		a.Maximum = max(a.Maximum, o.Maximum)
	}
	a.SampleCount += o.SampleCount
	a.Sum += o.Sum
	a.Unsketched += o.Unsketched
	if withSketch && o.Sketch != nil && o.Sketch.Count() > 0 {
		if a.Sketch == nil {
			a.Sketch = &Sketch{}
		}
		a.Sketch.Merge(o.Sketch)
	}
}

// reset empties a, keeping the sketch's memory for reuse.
func (a *Aggregate) reset() {
	sk := a.Sketch
	*a = Aggregate{}
	if sk != nil {
		sk.Reset()
		a.Sketch = sk
	}
}

// clone returns an independent copy.
func (a *Aggregate) clone() *Aggregate {
	c := *a
	if a.Sketch != nil {
		c.Sketch = a.Sketch.Clone()
	}
	return &c
}

// Statistic is what a datapoint reports about a period: one of CloudWatch's five statistics or
// a percentile ("p99", "p99.9").
type Statistic struct {
	// Name is the statistic as written on the wire: "Sum", "Average", …, or "p99".
	Name string
	kind statKind
	// q is the percentile as a fraction, for percentiles.
	q float64
}

type statKind uint8

const (
	statSampleCount statKind = iota + 1
	statAverage
	statSum
	statMinimum
	statMaximum
	statPercentile
)

// Standard statistics, in CloudWatch's names.
const (
	SampleCount = "SampleCount"
	Average     = "Average"
	Sum         = "Sum"
	Minimum     = "Minimum"
	Maximum     = "Maximum"
)

// StandardStatistics lists the statistics Statistic accepts besides percentiles.
var StandardStatistics = []string{SampleCount, Average, Sum, Minimum, Maximum}

// ParseStatistic reads a standard statistic name or a percentile "pNN" / "pNN.NN" with NN in
// [0, 100]. Other extended statistics (trimmed means, TM(…), PR(…) …) are refused.
func ParseStatistic(s string) (Statistic, error) {
	switch s {
	case SampleCount:
		return Statistic{Name: s, kind: statSampleCount}, nil
	case Average:
		return Statistic{Name: s, kind: statAverage}, nil
	case Sum:
		return Statistic{Name: s, kind: statSum}, nil
	case Minimum:
		return Statistic{Name: s, kind: statMinimum}, nil
	case Maximum:
		return Statistic{Name: s, kind: statMaximum}, nil
	}
	return ParseExtendedStatistic(s)
}

// ParseExtendedStatistic reads a percentile statistic "pNN" or "pNN.NN".
func ParseExtendedStatistic(s string) (Statistic, error) {
	num, ok := strings.CutPrefix(s, "p")
	if !ok || num == "" {
		return Statistic{}, fmt.Errorf("statistic %q: expected SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p99 or p99.9 (trimmed means and other extended statistics are not supported)", s)
	}
	if i := strings.IndexByte(num, '.'); i >= 0 && len(num)-i-1 > 2 {
		return Statistic{}, fmt.Errorf("percentile %q: at most two decimal places are allowed, e.g. p99.99", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v > 100 || math.IsNaN(v) || strings.ContainsAny(num, "eE+-") {
		return Statistic{}, fmt.Errorf("percentile %q: expected p followed by a number from 0 to 100, e.g. p99 or p99.9", s)
	}
	return Statistic{Name: s, kind: statPercentile, q: v / 100}, nil
}

// Percentile reports whether the statistic is a percentile.
func (s Statistic) Percentile() bool { return s.kind == statPercentile }

// Of computes the statistic over a; ok is false when the value is unavailable (no samples, or
// a percentile over statistic sets).
func (s Statistic) Of(a *Aggregate) (v float64, ok bool) {
	if a == nil || a.empty() {
		return 0, false
	}
	switch s.kind {
	case statSampleCount:
		return a.SampleCount, true
	case statAverage:
		return a.Sum / a.SampleCount, true
	case statSum:
		return a.Sum, true
	case statMinimum:
		return a.Minimum, true
	case statMaximum:
		return a.Maximum, true
	case statPercentile:
		if a.Unsketched > 0 || a.Sketch == nil || a.Sketch.Count() == 0 {
			return 0, false
		}
		switch s.q {
		case 0:
			return a.Minimum, true
		case 1:
			return a.Maximum, true
		}
		// The bin's representative may lie outside the values actually seen; clamp to them.
		return min(max(a.Sketch.Quantile(s.q), a.Minimum), a.Maximum), true
	}
	return 0, false
}

// lowSampleCount reports whether a percentile over n samples is too thin to be meaningful:
// CloudWatch's rule is fewer than 10/(1-p) samples (1000 for p99).
func (s Statistic) lowSampleCount(n float64) bool {
	if s.kind != statPercentile || s.q >= 1 {
		return false
	}
	return n < 10/(1-s.q)
}
