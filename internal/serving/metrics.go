package serving

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram buckets are log-linear over nanoseconds: bucket 0 holds everything under
// 1.024 µs, then each power of two from 2^10 ns to 2^37 ns (≈137 s) is split into 8 equal
// buckets, which keeps any quantile within about 6% of the true value. Recording is two
// atomic adds and a few shifts; nothing allocates and nothing locks.
const (
	histMinExp   = 10
	histMaxExp   = 37
	histSubBits  = 3
	histSub      = 1 << histSubBits
	histBuckets  = (histMaxExp-histMinExp+1)*histSub + 1
	histMaxValue = uint64(1)<<(histMaxExp+1) - 1
)

// Histogram is a lock-free latency histogram. The zero value is ready to use.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	count  atomic.Uint64
	sumNs  atomic.Uint64
}

func histIndex(ns uint64) int {
	if ns < 1<<histMinExp {
		return 0
	}
	if ns > histMaxValue {
		ns = histMaxValue
	}
	e := bits.Len64(ns) - 1
	m := (ns >> (e - histSubBits)) & (histSub - 1)
	return (e-histMinExp)*histSub + int(m) + 1
}

// histUpper is the exclusive upper bound, in nanoseconds, of bucket i.
func histUpper(i int) uint64 {
	if i == 0 {
		return 1 << histMinExp
	}
	e := (i-1)/histSub + histMinExp
	m := uint64((i - 1) % histSub)
	return (histSub + m + 1) << (e - histSubBits)
}

// histLower is the inclusive lower bound, in nanoseconds, of bucket i.
func histLower(i int) uint64 {
	if i == 0 {
		return 0
	}
	return histUpper(i - 1)
}

// Observe records one duration; negative durations count as zero.
func (h *Histogram) Observe(d time.Duration) {
	ns := uint64(max(d, 0))
	h.counts[histIndex(ns)].Add(1)
	h.count.Add(1)
	h.sumNs.Add(ns)
}

// Snapshot copies the histogram's current counts.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sumNs.Load())
	return s
}

// HistogramSnapshot is a copy of a Histogram, for quantiles and for differences between two
// moments (a metric window).
type HistogramSnapshot struct {
	Counts [histBuckets]uint64
	Count  uint64
	Sum    time.Duration
}

// Sub returns the observations recorded between old and s.
func (s HistogramSnapshot) Sub(old HistogramSnapshot) HistogramSnapshot {
	var d HistogramSnapshot
	for i := range s.Counts {
		d.Counts[i] = s.Counts[i] - old.Counts[i]
		d.Count += d.Counts[i]
	}
	d.Sum = s.Sum - old.Sum
	return d
}

// Quantile returns an estimate of the q-quantile (0 ≤ q ≤ 1): the middle of the bucket that
// holds it. It returns 0 for an empty histogram.
func (s HistogramSnapshot) Quantile(q float64) time.Duration {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(s.Count-1)) + 1
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			return time.Duration((histLower(i) + histUpper(i)) / 2)
		}
	}
	return time.Duration(histUpper(histBuckets - 1))
}

// Mean returns the average observation.
func (s HistogramSnapshot) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.Count)
}

// cumulativeAt returns how many observations were below 2^exp nanoseconds; bucket edges fall
// on every power of two, so the count is exact.
func (s HistogramSnapshot) cumulativeAt(exp int) uint64 {
	var n uint64
	for i, c := range s.Counts {
		if histUpper(i) > 1<<exp {
			break
		}
		n += c
	}
	return n
}

// variantMetrics are the CloudWatch-style metrics of one endpoint variant.
type variantMetrics struct {
	invocations atomic.Uint64
	errors4xx   atomic.Uint64
	errors5xx   atomic.Uint64
	model       Histogram
	overhead    Histogram
}

// VariantMetrics is a snapshot of one variant's metrics, named as SageMaker names them in
// CloudWatch.
type VariantMetrics struct {
	VariantName         string
	Invocations         uint64
	Invocation4XXErrors uint64
	Invocation5XXErrors uint64
	ModelLatency        HistogramSnapshot
	OverheadLatency     HistogramSnapshot
}

func (m *variantMetrics) snapshot(variant string) VariantMetrics {
	return VariantMetrics{
		VariantName:         variant,
		Invocations:         m.invocations.Load(),
		Invocation4XXErrors: m.errors4xx.Load(),
		Invocation5XXErrors: m.errors5xx.Load(),
		ModelLatency:        m.model.Snapshot(),
		OverheadLatency:     m.overhead.Snapshot(),
	}
}
