package xgboost

import (
	"fmt"
	"runtime"
	"sync"
)

const (
	// blockRows rows are pushed through one tree before moving to the next, so the tree
	// stays in L1 cache while the rows' features do too.
	blockRows = 64
	// minRowsPerWorker keeps small batches on the calling goroutine, where starting
	// goroutines would cost more than it saves.
	minRowsPerWorker = 512
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

// parallel splits [0,n) into contiguous block-aligned ranges, one per worker.
func (p *Predictor) parallel(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+minRowsPerWorker-1)/minRowsPerWorker)
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	chunk = (chunk + blockRows - 1) / blockRows * blockRows
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Go(func() { fn(lo, hi) })
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
// eight at a time so their independent paths overlap.
func (p *Predictor) addTree(t *treeRef, block []float32, nfeat, nb int, m []float32, stride int, dense bool) {
	nodes, values := p.nodes, p.values
	r := 0
	if dense && !p.dart {
		for ; r+8 <= nb; r += 8 {
			rows := block[r*nfeat : (r+8)*nfeat]
			i0, i1, i2, i3, i4, i5, i6, i7 := t.root, t.root, t.root, t.root, t.root, t.root, t.root, t.root
			r0, r1, r2, r3 := rows[0:nfeat], rows[nfeat:2*nfeat], rows[2*nfeat:3*nfeat], rows[3*nfeat:4*nfeat]
			r4, r5, r6, r7 := rows[4*nfeat:5*nfeat], rows[5*nfeat:6*nfeat], rows[6*nfeat:7*nfeat], rows[7*nfeat:8*nfeat]
			for d := t.depth; d > 0; d-- {
				i0 = stepDense(nodes, r0, i0)
				i1 = stepDense(nodes, r1, i1)
				i2 = stepDense(nodes, r2, i2)
				i3 = stepDense(nodes, r3, i3)
				i4 = stepDense(nodes, r4, i4)
				i5 = stepDense(nodes, r5, i5)
				i6 = stepDense(nodes, r6, i6)
				i7 = stepDense(nodes, r7, i7)
			}
			mm := m[r*stride:]
			mm[0] += values[i0]
			mm[stride] += values[i1]
			mm[2*stride] += values[i2]
			mm[3*stride] += values[i3]
			mm[4*stride] += values[i4]
			mm[5*stride] += values[i5]
			mm[6*stride] += values[i6]
			mm[7*stride] += values[i7]
		}
	}
	for ; r < nb; r++ {
		v := values[p.leaf(t, block[r*nfeat:(r+1)*nfeat])]
		if p.dart {
			v = float32(v * t.weight)
		}
		m[r*stride] += v
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
