package alarm

import (
	"time"
)

// Datapoint is the value of one statistic over one period.
type Datapoint struct {
	// Start is the beginning of the period.
	Start time.Time
	// Present is false when the period has no data (or no value for this statistic).
	Present bool
	Value   float64
	// SampleCount is the number of samples behind the value.
	SampleCount float64
}

// source yields the datapoints of a metric: a recorded series or a derived ratio.
type source interface {
	datapoints(st Statistic, from time.Time, period time.Duration, n int) []Datapoint
	// watch makes new data of the source wake the evaluator.
	watch()
	unit() string
	// settlesEarly reports whether, once a period's partial value breaches under cmp, the
	// period's final value is certain to breach too: the statistic only moves one way as data
	// arrives (Sum of non-negative values, SampleCount and Maximum up, Minimum down).
	settlesEarly(st Statistic, cmp Comparison) bool
}

// source returns the data source of key, creating the series if needed so that an alarm can
// watch a metric before its first datapoint.
func (r *Recorder) source(key MetricKey) (source, error) {
	if key.Namespace == NamespaceSageMaker {
		var errMetric string
		switch key.MetricName {
		case MetricInvocation4XXErrorRate:
			errMetric = MetricInvocation4XXErrors
		case MetricInvocation5XXErrorRate:
			errMetric = MetricInvocation5XXErrors
		}
		if errMetric != "" {
			num := r.mustSeries(MetricKey{Namespace: key.Namespace, MetricName: errMetric, Dimensions: key.Dimensions})
			den := r.mustSeries(MetricKey{Namespace: key.Namespace, MetricName: MetricInvocations, Dimensions: key.Dimensions})
			return ratio{num: num, den: den}, nil
		}
	}
	s, err := r.Series(key)
	if err != nil {
		return nil, err
	}
	return seriesSource{s}, nil
}

type seriesSource struct{ s *Series }

func (src seriesSource) datapoints(st Statistic, from time.Time, period time.Duration, n int) []Datapoint {
	aggs := src.s.periods(from, period, n, st.Percentile())
	out := make([]Datapoint, n)
	for i, a := range aggs {
		out[i].Start = from.Add(time.Duration(i) * period)
		if a == nil {
			continue
		}
		out[i].Value, out[i].Present = st.Of(a)
		out[i].SampleCount = a.SampleCount
	}
	return out
}

func (src seriesSource) watch()       { src.s.watched.Store(true) }
func (src seriesSource) unit() string { return src.s.Unit() }

func (src seriesSource) settlesEarly(st Statistic, cmp Comparison) bool {
	up := cmp == GreaterThanThreshold || cmp == GreaterThanOrEqualToThreshold
	switch st.kind {
	case statSampleCount, statMaximum:
		return up
	case statSum:
		return up && !src.s.negative.Load()
	case statMinimum:
		return !up
	}
	return false
}

// ratio is a derived error rate: Sum(num) / Sum(den) per period.
type ratio struct{ num, den *Series }

func (r ratio) datapoints(st Statistic, from time.Time, period time.Duration, n int) []Datapoint {
	num := r.num.periods(from, period, n, false)
	den := r.den.periods(from, period, n, false)
	out := make([]Datapoint, n)
	for i := range out {
		out[i].Start = from.Add(time.Duration(i) * period)
		d := den[i]
		if d == nil || d.Sum <= 0 {
			continue
		}
		out[i].Present = true
		out[i].SampleCount = d.Sum
		if st.kind == statSampleCount {
			out[i].Value = d.Sum
			continue
		}
		if num[i] != nil {
			out[i].Value = num[i].Sum / d.Sum
		}
	}
	return out
}

func (r ratio) watch() {
	r.num.watched.Store(true)
	r.den.watched.Store(true)
}

func (r ratio) unit() string { return "None" }

func (r ratio) settlesEarly(Statistic, Comparison) bool { return false }
