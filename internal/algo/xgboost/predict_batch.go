package xgboost

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

const (
	// blockRows rows are pushed through one tree before moving to the next, so the tree
	// stays in L1 cache while the rows' features do too.
	blockRows = 64
	// minRowsPerWorker keeps small batches on the calling goroutine, where starting
	// goroutines would cost more than it saves.
	minRowsPerWorker = 512
	// chunkRows is the unit of work a batch worker takes at a time (a multiple of blockRows).
	chunkRows = 2048
)

// PredictBatch predicts n rows held row-major in rows (len n*nfeat, NaN = missing) into
// out[:n*NumOutputs()], using all cores (GOMAXPROCS) for large batches. Results are
// identical to calling Predict on each row.
func (p *Predictor) PredictBatch(rows []float32, nfeat int, out []float32) error {
	n, err := p.batchRows(rows, nfeat, out, p.outputs)
	if err != nil {
		return err
	}
	p.parallel(n, func(lo, hi int) { p.predictRange(rows, nfeat, lo, hi, out, true) })
	return nil
}

// PredictMarginBatch is PredictBatch for untransformed margins (out[:n*NumGroups()]).
func (p *Predictor) PredictMarginBatch(rows []float32, nfeat int, out []float32) error {
	n, err := p.batchRows(rows, nfeat, out, p.groups)
	if err != nil {
		return err
	}
	p.parallel(n, func(lo, hi int) { p.predictRange(rows, nfeat, lo, hi, out, false) })
	return nil
}

// batchRows checks a batch's shape and returns its row count.
func (p *Predictor) batchRows(rows []float32, nfeat int, out []float32, perRow int) (int, error) {
	if nfeat != p.numFeature {
		return 0, fmt.Errorf("xgboost predict: %w: rows have %d features, model expects %d", ErrFeatureMismatch, nfeat, p.numFeature)
	}
	var n int
	if nfeat == 0 {
		n = len(out) / perRow
	} else {
		if len(rows)%nfeat != 0 {
			return 0, fmt.Errorf("xgboost predict: %d values do not divide into rows of %d features", len(rows), nfeat)
		}
		n = len(rows) / nfeat
	}
	if len(out) < n*perRow {
		return 0, fmt.Errorf("xgboost predict: output has room for %d values, need %d", len(out), n*perRow)
	}
	return n, nil
}

// parallel runs fn over [0,n) on up to GOMAXPROCS goroutines. Workers take chunks of
// chunkRows from a shared counter rather than one fixed share each, so a core that is busy
// with other work does not hold up the whole batch.
func (p *Predictor) parallel(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+minRowsPerWorker-1)/minRowsPerWorker)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(chunkRows)) - chunkRows
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunkRows, n))
			}
		})
	}
	wg.Wait()
}

// predictRange predicts rows [lo,hi) block by block.
func (p *Predictor) predictRange(rows []float32, nfeat, lo, hi int, out []float32, transformed bool) {
	var stack [blockRows]float32
	var margins []float32
	if p.groups == 1 {
		margins = stack[:]
	} else {
		margins = make([]float32, blockRows*p.groups)
	}
	g := p.groups
	for b := lo; b < hi; b += blockRows {
		e := min(b+blockRows, hi)
		nb := e - b
		m := margins[:nb*g]
		for i := range m {
			m[i] = p.baseMargin
		}
		block := rows[b*nfeat : e*nfeat]
		dense := !hasNaN(block)
		for k := range p.trees {
			t := &p.trees[k]
			p.addTree(t, block, nfeat, nb, m[t.group:], g, dense)
		}
		p.finish(m, nb, out, b, transformed)
	}
}

// addTree adds one tree's leaves for nb rows of block to m[r*stride]. Rows are walked
// eight at a time so that their independent paths overlap.
func (p *Predictor) addTree(t *treeRef, block []float32, nfeat, nb int, m []float32, stride int, dense bool) {
	nodes, values := p.nodesPtr(), p.values
	base := unsafe.Pointer(unsafe.SliceData(block))
	rowBytes := uintptr(nfeat) * 4
	walk := rows8Missing
	if dense {
		walk = rows8Dense
	}
	r := 0
	for ; r+8 <= nb; r += 8 {
		i0, i1, i2, i3, i4, i5, i6, i7 := walk(nodes, unsafe.Add(base, uintptr(r)*rowBytes), rowBytes, t)
		mm := m[r*stride : r*stride+7*stride+1]
		mm[0] += float32(values[i0] * t.weight)
		mm[stride] += float32(values[i1] * t.weight)
		mm[2*stride] += float32(values[i2] * t.weight)
		mm[3*stride] += float32(values[i3] * t.weight)
		mm[4*stride] += float32(values[i4] * t.weight)
		mm[5*stride] += float32(values[i5] * t.weight)
		mm[6*stride] += float32(values[i6] * t.weight)
		mm[7*stride] += float32(values[i7] * t.weight)
	}
	for ; r < nb; r++ {
		row := unsafe.Add(base, uintptr(r)*rowBytes)
		m[r*stride] += float32(values[walk1(nodes, row, t, dense)] * t.weight)
	}
}

// finish writes a block's margins, transformed or not, to out starting at row b.
func (p *Predictor) finish(m []float32, nb int, out []float32, b int, transformed bool) {
	g := p.groups
	if !transformed {
		copy(out[b*g:(b+nb)*g], m)
		return
	}
	if g == 1 {
		o := out[b : b+nb]
		for r := range o {
			o[r] = p.transformOne(m[r])
		}
		return
	}
	for r := 0; r < nb; r++ {
		p.transformMulti(m[r*g:(r+1)*g], out[(b+r)*p.outputs:(b+r+1)*p.outputs])
	}
}
