package train

// binIndex is the storage type of a cell's bin within its feature: uint8 when every
// feature's bins (and its missing code) fit in a byte, uint16 otherwise.
type binIndex interface{ ~uint8 | ~uint16 }

// quantized is the training matrix as bins within each feature, stored twice for the two
// ways the grower reads it. bins is row-major, so building a histogram reads a row's
// features from one cache line; at a byte per cell it is as compact as XGBoost's own index,
// which matters more on large data than saving the offset addition per cell. colBins is
// column-major, so routing rows through a split reads one small contiguous column, as
// XGBoost's ColumnMatrix does.
//
// Histogram slots are laid out per feature: offsets[f]+b for bin b, and
// offsets[f]+numBins(f) for a missing value. In a feature with missing values the bin
// code numBins(f) marks a missing cell (features without any never need the code, so 256
// bins still fit a byte).
type quantized[B binIndex] struct {
	rows, cols int
	bins       []B
	colBins    []B
	offsets    []int32
	// missing[f] is feature f's missing code; hasMissing[f] says whether it can occur.
	missing    []B
	hasMissing []bool
}

// goesLeft says where a split on feature f after bin splitBin sends a cell with bin b.
func (q *quantized[B]) goesLeft(f int, b B, splitBin int32, defaultLeft bool) bool {
	if q.hasMissing[f] && b == q.missing[f] {
		return defaultLeft
	}
	return int32(b) <= splitBin
}

func (q *quantized[B]) numSlots() int { return int(q.offsets[q.cols]) }

// slotLayout returns per-feature histogram slot offsets (numBins+1 slots per feature).
func slotLayout(c *cuts) []int32 {
	nf := len(c.ptr) - 1
	off := make([]int32, nf+1)
	for f := 0; f < nf; f++ {
		off[f+1] = off[f] + int32(c.numBins(f)) + 1
	}
	return off
}

// fitsUint8 reports whether every feature's bins and missing code fit in a byte.
func fitsUint8(c *cuts) bool {
	for f := 0; f < len(c.ptr)-1; f++ {
		n := c.numBins(f)
		if c.hasMissing[f] {
			n++
		}
		if n > 256 {
			return false
		}
	}
	return true
}

// quantize bins every cell of m with the cuts, in parallel over row blocks.
func quantize[B binIndex](m *Matrix, c *cuts, threads int) *quantized[B] {
	q := &quantized[B]{rows: m.Rows, cols: m.Cols, bins: make([]B, m.Rows*m.Cols), colBins: make([]B, m.Rows*m.Cols), offsets: slotLayout(c),
		missing: make([]B, m.Cols), hasMissing: c.hasMissing}
	for f := range q.missing {
		q.missing[f] = B(c.numBins(f))
	}
	const block = 8192
	nblocks := (m.Rows + block - 1) / block
	parallelFor(nblocks, threads, func(bi int) {
		lo, hi := bi*block, min((bi+1)*block, m.Rows)
		for f := 0; f < m.Cols; f++ {
			fc := c.featureCuts(f)
			code := B(len(fc))
			col := m.Col(f)
			nb := len(fc)
			for i := lo; i < hi; i++ {
				x := col[i]
				var b B
				if isNaN(x) {
					b = code
				} else if nb <= 16 {
					// Few cuts: a linear scan beats binary search.
					j := 0
					for j < nb-1 && fc[j] <= x {
						j++
					}
					b = B(j)
				} else {
					b = B(searchBin(fc, x))
				}
				q.bins[i*m.Cols+f] = b
				q.colBins[f*m.Rows+i] = b
			}
		}
	})
	return q
}
