package alarm

import "math"

// The quantile sketch keeps counts in logarithmic bins: bin i holds the values in
// (γ^(i-1), γ^i], and every value in a bin is reported as 2γ^i/(γ+1). With γ = 1.02 that
// representative is within (γ-1)/(γ+1) < 1% of any value in the bin, so a percentile read from
// the sketch is within 1% of the exact value of the same rank. Sketches merge by adding counts,
// which is what lets a period of any length be built from one-second buckets.
const (
	sketchGamma = 1.02
	// sketchMinValue is the smallest magnitude kept in a bin; smaller values count as zero (only denormal numbers are that small).
	sketchMinValue = 1e-300
	// sketchMaxBins bounds one side of a sketch. 4096 bins span a ratio of γ^4096 ≈ 1e35
	// between the smallest and the largest value kept exactly; beyond it the smallest bins
	// collapse into one, which only coarsens the lowest percentiles.
	sketchMaxBins = 4096
)

var (
	sketchLogGamma = math.Log(sketchGamma)
	// sketchAccuracy is the relative error bound of a percentile read from a sketch.
	sketchAccuracy = (sketchGamma - 1) / (sketchGamma + 1)
)

// SketchRelativeAccuracy is the bound on the relative error of percentile statistics.
func SketchRelativeAccuracy() float64 { return sketchAccuracy }

// bins is a dense run of counts starting at bin index off.
type bins struct {
	off int
	c   []float64
}

func (b *bins) empty() bool { return len(b.c) == 0 }

func (b *bins) reset() { b.c = b.c[:0] }

func (b *bins) add(i int, n float64) {
	if len(b.c) == 0 {
		b.off = i
		b.c = append(b.c, n)
		return
	}
	switch {
	case i < b.off:
		grow := b.off - i
		if len(b.c)+grow > sketchMaxBins {
			// Collapse: the new value is below everything kept and the sketch is full; count it
			// in the lowest bin instead of widening further.
			if len(b.c) >= sketchMaxBins {
				b.c[0] += n
				return
			}
			grow = sketchMaxBins - len(b.c)
			n2 := b.off - grow
			b.prepend(grow)
			b.off = n2
			b.c[0] += n
			return
		}
		b.prepend(grow)
		b.off = i
		b.c[0] += n
	case i >= b.off+len(b.c):
		need := i - b.off + 1
		if need > sketchMaxBins {
			// Drop the lowest bins into the new lowest so the top can extend.
			shift := need - sketchMaxBins
			if shift >= len(b.c) {
				total := 0.0
				for _, v := range b.c {
					total += v
				}
				b.c = b.c[:1]
				b.c[0] = total
				b.off = i - sketchMaxBins + 1
			} else {
				for k := 0; k < shift; k++ {
					b.c[shift] += b.c[k]
				}
				b.c = append(b.c[:0], b.c[shift:]...)
				b.off += shift
			}
			need = i - b.off + 1
		}
		for len(b.c) < need {
			b.c = append(b.c, 0)
		}
		b.c[i-b.off] += n
	default:
		b.c[i-b.off] += n
	}
}

// prepend inserts n zero bins at the front.
func (b *bins) prepend(n int) {
	old := len(b.c)
	if cap(b.c) >= old+n {
		b.c = b.c[:old+n]
		copy(b.c[n:], b.c[:old])
	} else {
		c := make([]float64, old+n, (old+n)*2)
		copy(c[n:], b.c)
		b.c = c
	}
	for k := 0; k < n; k++ {
		b.c[k] = 0
	}
}

func (b *bins) merge(o *bins) {
	if len(o.c) == 0 {
		return
	}
	lo, hi := o.off, o.off+len(o.c)-1
	if len(b.c) > 0 {
		lo, hi = min(lo, b.off), max(hi, b.off+len(b.c)-1)
	}
	if hi-lo+1 > sketchMaxBins {
		// The union would exceed the budget: go bin by bin so add collapses the bottom.
		for k, v := range o.c {
			if v != 0 {
				b.add(o.off+k, v)
			}
		}
		return
	}
	// Widen once to cover both ranges, then add the counts in one pass.
	if len(b.c) == 0 {
		b.off = o.off
		b.c = append(b.c[:0], o.c...)
		return
	}
	if lo < b.off {
		b.prepend(b.off - lo)
		b.off = lo
	}
	for len(b.c) < hi-b.off+1 {
		b.c = append(b.c, 0)
	}
	dst := b.c[o.off-b.off:]
	for k, v := range o.c {
		dst[k] += v
	}
}

func (b *bins) clone() bins {
	return bins{off: b.off, c: append([]float64(nil), b.c...)}
}

// Sketch is a mergeable quantile sketch with bounded relative error (see sketchGamma). The zero
// value is empty and ready to use. It is not safe for concurrent use.
type Sketch struct {
	pos, neg bins
	zero     float64
	count    float64
	// lastValue and lastIndex remember the previous positive value's bin: counters and error
	// flags (1 per request) then skip the logarithm.
	lastValue float64
	lastIndex int
}

func sketchIndex(v float64) int {
	return int(math.Ceil(math.Log(v) / sketchLogGamma))
}

func sketchValue(i int) float64 {
	return 2 * math.Exp(float64(i)*sketchLogGamma) / (sketchGamma + 1)
}

// Add counts value v n times.
func (s *Sketch) Add(v, n float64) {
	if n <= 0 || math.IsNaN(v) {
		return
	}
	s.count += n
	switch {
	case v == s.lastValue && v != 0:
		s.pos.add(s.lastIndex, n)
	case v >= sketchMinValue:
		i := sketchIndex(v)
		s.lastValue, s.lastIndex = v, i
		s.pos.add(i, n)
	case v <= -sketchMinValue:
		s.neg.add(sketchIndex(-v), n)
	default:
		s.zero += n
	}
}

// Count is the number of values added.
func (s *Sketch) Count() float64 { return s.count }

// Merge adds every value of o.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.count == 0 {
		return
	}
	s.pos.merge(&o.pos)
	s.neg.merge(&o.neg)
	s.zero += o.zero
	s.count += o.count
}

// Reset empties s, keeping its memory.
func (s *Sketch) Reset() {
	s.pos.reset()
	s.neg.reset()
	s.zero, s.count = 0, 0
	s.lastValue, s.lastIndex = 0, 0
}

// Clone returns an independent copy.
func (s *Sketch) Clone() *Sketch {
	return &Sketch{pos: s.pos.clone(), neg: s.neg.clone(), zero: s.zero, count: s.count, lastValue: s.lastValue, lastIndex: s.lastIndex}
}

// Quantile returns the value of nearest rank ⌈q·n⌉ (q in [0, 1]), within the sketch's
// relative accuracy; NaN when the sketch is empty.
func (s *Sketch) Quantile(q float64) float64 {
	if s.count <= 0 {
		return math.NaN()
	}
	q = min(max(q, 0), 1)
	// The epsilon keeps decimal percentiles exact: 0.999 × 1000 is 999.0000000000001 in floating
	// point, whose ceiling would skip to rank 1000.
	rank := math.Ceil(q*s.count - 1e-9)
	if rank < 1 {
		rank = 1
	}
	seen := 0.0
	// Negative values, most negative first: the highest bin index of the magnitudes.
	for k := len(s.neg.c) - 1; k >= 0; k-- {
		seen += s.neg.c[k]
		if seen >= rank {
			return -sketchValue(s.neg.off + k)
		}
	}
	seen += s.zero
	if seen >= rank {
		return 0
	}
	for k, c := range s.pos.c {
		seen += c
		if seen >= rank {
			return sketchValue(s.pos.off + k)
		}
	}
	// Floating-point rounding of fractional counts can leave rank a hair above the total.
	if n := len(s.pos.c); n > 0 {
		return sketchValue(s.pos.off + n - 1)
	}
	if s.zero > 0 {
		return 0
	}
	return -sketchValue(s.neg.off)
}
