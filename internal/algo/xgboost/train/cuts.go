package train

import (
	"cmp"
	"math"
	"slices"
)

// cuts are the histogram bin boundaries of every feature, laid out as XGBoost's
// HistogramCuts: feature f owns values[ptr[f]:ptr[f+1]], ascending. A value x falls in the
// first bin whose cut is greater than x (the last bin takes everything above), so a split
// after bin b is the test x < values[ptr[f]+b].
type cuts struct {
	ptr     []uint32
	values  []float32
	minVals []float32
	// hasMissing[f] says feature f has a missing value in the training data.
	hasMissing []bool
}

func (c *cuts) numBins(f int) int { return int(c.ptr[f+1] - c.ptr[f]) }

// featureCuts returns feature f's cut values.
func (c *cuts) featureCuts(f int) []float32 { return c.values[c.ptr[f]:c.ptr[f+1]] }

// searchBin returns the bin of value x for feature f's cuts fc (x must not be NaN): the
// first cut greater than x (XGBoost's upper_bound), or the last bin. The search is
// branch-free, since the comparisons are unpredictable.
func searchBin(fc []float32, x float32) int {
	base, n := 0, len(fc)
	for n > 1 {
		half := n / 2
		if fc[base+half-1] <= x {
			base += half
		}
		n -= half
	}
	// fc[:base] are all <= x; fc[base] is the candidate.
	if base < len(fc)-1 && fc[base] <= x {
		base++
	}
	return base
}

// summaryEntry is an entry of a weighted quantile summary: a value with the minimum and
// maximum rank it may have and its own weight (XGBoost's WQSummary entry). Ranks are
// float32 as in XGBoost, so that the pruning picks the same entries.
type summaryEntry struct {
	rmin, rmax, wmin float32
	value            float32
}

// sketchFactor is XGBoost's WQSketch::kFactor: the intermediate summary keeps
// max_bin*sketchFactor entries before the final pruning to max_bin.
const sketchFactor = 8

// buildCuts computes every feature's cuts from the training matrix, in parallel over
// features. Each feature's exact summary (sorted distinct values with counts) is pruned
// twice as XGBoost 1.7 prunes its sketch (to max_bin*8, then to max_bin+1) and turned into
// cut points as XGBoost's AddCutPoint does; on data small enough for XGBoost's sketch to be
// exact, the cuts are identical.
func buildCuts(m *Matrix, maxBin, threads int) *cuts {
	perFeature := make([][]float32, m.Cols)
	minVals := make([]float32, m.Cols)
	hasMissing := make([]bool, m.Cols)
	parallelFor(m.Cols, threads, func(f int) {
		vals := make([]float32, 0, m.Rows)
		var weights []float32
		if m.Weights != nil {
			weights = make([]float32, 0, m.Rows)
		}
		for i, v := range m.Col(f) {
			if !isNaN(v) {
				vals = append(vals, v)
				if weights != nil {
					weights = append(weights, m.Weights[i])
				}
			}
		}
		hasMissing[f] = len(vals) < m.Rows
		perFeature[f], minVals[f] = featureCuts(vals, weights, maxBin)
	})
	c := &cuts{ptr: make([]uint32, m.Cols+1), minVals: minVals, hasMissing: hasMissing}
	for f, fc := range perFeature {
		c.values = append(c.values, fc...)
		c.ptr[f+1] = uint32(len(c.values))
	}
	return c
}

// featureCuts returns the cut values and the minimum value XGBoost records for one
// feature. vals are the feature's non-missing values (reordered in place) and weights
// their instance weights, or nil for unit weights; like XGBoost's sketch, the quantiles
// are weighted and zero-weight values are left out.
func featureCuts(vals, weights []float32, maxBin int) ([]float32, float32) {
	n := len(vals)
	var exact []summaryEntry
	if weights == nil {
		exact = exactSummary(vals)
	} else {
		exact = weightedSummary(vals, weights)
	}
	if len(exact) == 0 {
		// An empty column gets a single bin, as in XGBoost.
		const mval = float32(1e-5)
		return []float32{mval + (abs32(mval) + 1e-5)}, mval
	}
	// XGBoost's column sketch keeps at most limit_size entries in its summary; while the
	// column fits its buffer the summary is exact and only this pruning applies. (Longer
	// columns go through its multi-level merge, which this exact summary approximates.)
	exact = prune(exact, sketchLimitSize(n, maxBin))
	intermediate := min(n, maxBin*sketchFactor)
	reduced := prune(exact, intermediate)
	maxNumBins := min(intermediate, maxBin)
	final := prune(reduced, maxNumBins+1)
	mval := final[0].value
	minVal := mval - (abs32(mval) + 1e-5)

	out := make([]float32, 0, min(len(final), maxNumBins)+1)
	required := min(len(final), maxNumBins)
	for i := 1; i < required; i++ {
		v := final[i].value
		if i == 1 || v > out[len(out)-1] {
			out = append(out, v)
		}
	}
	last := final[len(final)-1].value
	out = append(out, last+(abs32(last)+1e-5))
	return out, minVal
}

// exactSummary is the exact weighted quantile summary of unit-weight values: distinct
// values with their counts.
func exactSummary(vals []float32) []summaryEntry {
	sortFloat32(vals)
	exact := make([]summaryEntry, 0, 64)
	var wsum float32
	for i := 0; i < len(vals); {
		j := i + 1
		for j < len(vals) && vals[j] == vals[i] {
			j++
		}
		w := float32(j - i)
		exact = append(exact, summaryEntry{rmin: wsum, rmax: wsum + w, wmin: w, value: vals[i]})
		wsum += w
		i = j
	}
	return exact
}

// weightedSummary is the exact summary of weighted values: distinct values with their
// summed weights, zero weights skipped.
func weightedSummary(vals, weights []float32) []summaryEntry {
	type vw struct{ v, w float32 }
	pairs := make([]vw, 0, len(vals))
	for i, v := range vals {
		if weights[i] != 0 {
			pairs = append(pairs, vw{v, weights[i]})
		}
	}
	slices.SortFunc(pairs, func(a, b vw) int { return cmp.Compare(a.v, b.v) })
	exact := make([]summaryEntry, 0, 64)
	var wsum float32
	for i := 0; i < len(pairs); {
		w := pairs[i].w
		j := i + 1
		for j < len(pairs) && pairs[j].v == pairs[i].v {
			w += pairs[j].w
			j++
		}
		exact = append(exact, summaryEntry{rmin: wsum, rmax: wsum + w, wmin: w, value: pairs[i].v})
		wsum += w
		i = j
	}
	return exact
}

// sketchLimitSize is WQuantileSketch::LimitSizeLevel's limit_size for a column of n
// values with eps = 1/(min(maxBin, n)*kFactor), as XGBoost's HostSketchContainer sets it.
func sketchLimitSize(n, maxBin int) int {
	nBins := max(1, min(maxBin, n))
	eps := 1.0 / float64(float32(nBins*sketchFactor))
	for level := 1; ; level++ {
		limit := min(n, int(math.Ceil(float64(level)/eps))+1)
		if (1<<level)*limit >= n || level >= 62 {
			return limit
		}
	}
}

// prune keeps at most maxSize entries of a summary, chosen by rank as XGBoost's
// WQSummary::SetPrune chooses them.
func prune(src []summaryEntry, maxSize int) []summaryEntry {
	if len(src) <= maxSize {
		return src
	}
	out := make([]summaryEntry, 0, maxSize)
	begin := src[0].rmax
	rng := src[len(src)-1].rmin - src[0].rmax
	n := maxSize - 1
	out = append(out, src[0])
	i, last := 1, 0
	for k := 1; k < n; k++ {
		dx2 := 2 * ((float32(k)*rng)/float32(n) + begin)
		for i < len(src)-1 && dx2 >= src[i+1].rmax+src[i+1].rmin {
			i++
		}
		if i == len(src)-1 {
			break
		}
		if dx2 < (src[i].rmin+src[i].wmin)+(src[i+1].rmax-src[i+1].wmin) {
			if i != last {
				out = append(out, src[i])
				last = i
			}
		} else if i+1 != last {
			out = append(out, src[i+1])
			last = i + 1
		}
	}
	if last != len(src)-1 {
		out = append(out, src[len(src)-1])
	}
	return out
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

func isNaN(x float32) bool { return x != x }

// sortFloat32 sorts non-NaN float32 values ascending. Large slices use a radix sort on
// the order-preserving bit pattern, which is several times faster than a comparison sort.
func sortFloat32(v []float32) {
	if len(v) < 4096 {
		slices.Sort(v)
		return
	}
	keys := make([]uint32, len(v))
	for i, x := range v {
		b := math.Float32bits(x)
		if b&0x80000000 != 0 {
			b = ^b
		} else {
			b |= 0x80000000
		}
		keys[i] = b
	}
	tmp := make([]uint32, len(v))
	for shift := uint(0); shift < 32; shift += 8 {
		var count [256]int
		for _, k := range keys {
			count[(k>>shift)&0xff]++
		}
		if count[(keys[0]>>shift)&0xff] == len(keys) {
			continue // every key has the same byte here
		}
		pos := 0
		for b := range count {
			c := count[b]
			count[b] = pos
			pos += c
		}
		for _, k := range keys {
			d := (k >> shift) & 0xff
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	for i, b := range keys {
		if b&0x80000000 != 0 {
			b &^= 0x80000000
		} else {
			b = ^b
		}
		v[i] = math.Float32frombits(b)
	}
}
