package xgboost

import "unsafe"

// The tree walks below skip Go's bounds checks, which cost a third of the instructions on
// the hot path. They are safe because of two invariants:
//   - NewPredictor builds every node index (roots, children, self-looping leaves) inside
//     Predictor.nodes;
//   - every caller has checked that a row holds Predictor.NumFeature values, and every
//     split's feature index is below that.
// A leaf points to itself with a NaN threshold and missing-left, so a walk may take more
// steps than a path is long and still end on the leaf; that lets paths of several trees
// or rows advance in lockstep, which hides the memory latency of each step.

const nodeSize = unsafe.Sizeof(node{})

// nodesPtr returns the base of the node array for the unchecked walks.
func (p *Predictor) nodesPtr() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(p.nodes)) }

// stepDense moves one level down from node i for a row without missing values, where
// x >= threshold alone decides to go right.
func stepDense(nodes, row unsafe.Pointer, i int32) int32 {
	n := (*node)(unsafe.Add(nodes, uintptr(i)*nodeSize))
	v := *(*float32)(unsafe.Add(row, uintptr(n.feat)*4))
	var r int32
	if v >= n.cond {
		r = 1
	}
	return n.left + r
}

// stepMissing moves one level down from node i; a NaN feature follows the node's default
// direction. Branch-free: right = (x >= threshold) | (x is NaN & default is right).
func stepMissing(nodes, row unsafe.Pointer, i int32) int32 {
	n := (*node)(unsafe.Add(nodes, uintptr(i)*nodeSize))
	v := *(*float32)(unsafe.Add(row, uintptr(n.feat)*4))
	var ge, nan int32
	if v >= n.cond {
		ge = 1
	}
	if v != v {
		nan = 1
	}
	return n.left + (ge | (nan & n.missRight))
}

// walk1 walks one tree for one row and returns the leaf's node index.
func walk1(nodes, row unsafe.Pointer, t *treeRef, dense bool) int32 {
	i := t.root
	if dense {
		for d := t.depth; d > 0; d-- {
			i = stepDense(nodes, row, i)
		}
		return i
	}
	for d := t.depth; d > 0; d-- {
		i = stepMissing(nodes, row, i)
	}
	return i
}

// walk8Dense walks eight trees at once for one row without missing values. The indices
// are separate variables so that they stay in registers.
func walk8Dense(nodes, row unsafe.Pointer, t *[8]treeRef) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	i0, i1, i2, i3 = t[0].root, t[1].root, t[2].root, t[3].root
	i4, i5, i6, i7 = t[4].root, t[5].root, t[6].root, t[7].root
	for d := max(t[0].depth, t[1].depth, t[2].depth, t[3].depth, t[4].depth, t[5].depth, t[6].depth, t[7].depth); d > 0; d-- {
		i0 = stepDense(nodes, row, i0)
		i1 = stepDense(nodes, row, i1)
		i2 = stepDense(nodes, row, i2)
		i3 = stepDense(nodes, row, i3)
		i4 = stepDense(nodes, row, i4)
		i5 = stepDense(nodes, row, i5)
		i6 = stepDense(nodes, row, i6)
		i7 = stepDense(nodes, row, i7)
	}
	return
}

// walk8Missing is walk8Dense for a row that may hold missing values.
func walk8Missing(nodes, row unsafe.Pointer, t *[8]treeRef) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	i0, i1, i2, i3 = t[0].root, t[1].root, t[2].root, t[3].root
	i4, i5, i6, i7 = t[4].root, t[5].root, t[6].root, t[7].root
	for d := max(t[0].depth, t[1].depth, t[2].depth, t[3].depth, t[4].depth, t[5].depth, t[6].depth, t[7].depth); d > 0; d-- {
		i0 = stepMissing(nodes, row, i0)
		i1 = stepMissing(nodes, row, i1)
		i2 = stepMissing(nodes, row, i2)
		i3 = stepMissing(nodes, row, i3)
		i4 = stepMissing(nodes, row, i4)
		i5 = stepMissing(nodes, row, i5)
		i6 = stepMissing(nodes, row, i6)
		i7 = stepMissing(nodes, row, i7)
	}
	return
}

// rows8Dense walks one tree for eight consecutive rows (rowBytes apart) without missing
// values.
func rows8Dense(nodes, rows unsafe.Pointer, rowBytes uintptr, t *treeRef) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	r0, r1, r2, r3 := rows, unsafe.Add(rows, rowBytes), unsafe.Add(rows, 2*rowBytes), unsafe.Add(rows, 3*rowBytes)
	r4, r5, r6, r7 := unsafe.Add(rows, 4*rowBytes), unsafe.Add(rows, 5*rowBytes), unsafe.Add(rows, 6*rowBytes), unsafe.Add(rows, 7*rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 = t.root, t.root, t.root, t.root, t.root, t.root, t.root, t.root
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
	return
}

// rows8Missing is rows8Dense for rows that may hold missing values.
func rows8Missing(nodes, rows unsafe.Pointer, rowBytes uintptr, t *treeRef) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	r0, r1, r2, r3 := rows, unsafe.Add(rows, rowBytes), unsafe.Add(rows, 2*rowBytes), unsafe.Add(rows, 3*rowBytes)
	r4, r5, r6, r7 := unsafe.Add(rows, 4*rowBytes), unsafe.Add(rows, 5*rowBytes), unsafe.Add(rows, 6*rowBytes), unsafe.Add(rows, 7*rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 = t.root, t.root, t.root, t.root, t.root, t.root, t.root, t.root
	for d := t.depth; d > 0; d-- {
		i0 = stepMissing(nodes, r0, i0)
		i1 = stepMissing(nodes, r1, i1)
		i2 = stepMissing(nodes, r2, i2)
		i3 = stepMissing(nodes, r3, i3)
		i4 = stepMissing(nodes, r4, i4)
		i5 = stepMissing(nodes, r5, i5)
		i6 = stepMissing(nodes, r6, i6)
		i7 = stepMissing(nodes, r7, i7)
	}
	return
}

// hasNaN reports whether v holds a missing value.
func hasNaN(v []float32) bool {
	for _, x := range v {
		if x != x {
			return true
		}
	}
	return false
}
