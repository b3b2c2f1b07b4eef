package xgboost

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// ErrFeatureMismatch reports a row whose length is not the model's number of features.
var ErrFeatureMismatch = errors.New("feature count mismatch")

// node is one tree node in the predictor's compact form. The children of a split are
// adjacent (right = left+1), so the next node is left + goRight and the walk has no
// unpredictable branch. A leaf points to itself with a NaN threshold and missing-left, so
// extra steps stay on it; that lets every walk through a tree take the same number of
// steps (the tree's depth).
type node struct {
	cond      float32 // split threshold; NaN at leaves
	feat      uint32  // feature index
	left      int32   // index of the left child in Predictor.nodes; itself at leaves
	missRight int32   // 1 when a missing value goes right
}

// treeRef locates one tree in the flattened node array.
type treeRef struct {
	root   int32
	depth  int32
	group  int32
	weight float32 // dart weight; 1 for gbtree
}

// Predictor predicts with a Model exactly as XGBoost 1.7's predict does (not output_margin):
// features are float32, a split sends x < threshold left, NaN is missing and follows the
// node's default direction, leaves are summed in float32 in tree order from the base margin,
// and the objective's transform is applied (sigmoid, softmax, exp, argmax for multi:softmax).
// Callers holding float64 features (parsed CSV, JSON) convert each with float32(x), which
// rounds to nearest as XGBoost's Python and C readers do; sparse input (libsvm) fills the
// absent features with NaN. A Predictor is immutable and safe for concurrent use.
type Predictor struct {
	nodes      []node
	values     []float32 // leaf value per node (0 for splits)
	trees      []treeRef
	numFeature int
	groups     int
	outputs    int
	baseMargin float32
	transform  transform
	dart       bool
	scratch    sync.Pool // *[]float32 of len groups, for multi-class margins beyond the stack buffer
}

// maxStackGroups is how many class margins a single-row prediction keeps on the stack.
const maxStackGroups = 64

// NewPredictor validates m and compiles it into a Predictor. The Predictor does not keep m.
func NewPredictor(m *Model) (*Predictor, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("xgboost predictor: %w", err)
	}
	info, _ := lookupObjective(m.Objective)
	p := &Predictor{
		numFeature: m.NumFeature,
		groups:     m.NumGroups(),
		outputs:    m.NumGroups(),
		baseMargin: m.BaseMargin(),
		transform:  info.transform,
		dart:       m.Booster == BoosterDart,
		trees:      make([]treeRef, len(m.Trees)),
	}
	if info.transform == transformArgmax {
		p.outputs = 1
	}
	total := 0
	for i := range m.Trees {
		total += m.Trees[i].NumNodes()
	}
	p.nodes = make([]node, 0, total)
	p.values = make([]float32, 0, total)
	queue := make([]int32, 0, 64)
	for i := range m.Trees {
		t := &m.Trees[i]
		depth, err := t.depth(m.NumFeature)
		if err != nil {
			return nil, fmt.Errorf("xgboost predictor: tree %d: %w", i, err)
		}
		ref := treeRef{root: int32(len(p.nodes)), depth: int32(depth), group: t.Group, weight: 1}
		if p.dart {
			ref.weight = m.WeightDrop[i]
		}
		p.trees[i] = ref
		// Breadth-first renumbering: the queue holds original node ids in the order of
		// their new slots, and each split reserves two adjacent slots for its children.
		queue = append(queue[:0], 0)
		for k := 0; k < len(queue); k++ {
			orig := queue[k]
			self := ref.root + int32(k)
			if t.IsLeaf(int(orig)) {
				p.nodes = append(p.nodes, node{cond: float32(math.NaN()), left: self})
				p.values = append(p.values, t.SplitConditions[orig])
				continue
			}
			f := uint32(t.SplitIndices[orig])
			p.numFeature = max(p.numFeature, int(f)+1)
			var mr int32
			if !t.DefaultLeft[orig] {
				mr = 1
			}
			left := ref.root + int32(len(queue))
			queue = append(queue, t.LeftChildren[orig], t.RightChildren[orig])
			p.nodes = append(p.nodes, node{cond: t.SplitConditions[orig], feat: f, left: left, missRight: mr})
			p.values = append(p.values, 0)
		}
	}
	p.scratch.New = func() any {
		s := make([]float32, p.groups)
		return &s
	}
	return p, nil
}

// NumFeature returns the row length the predictor expects.
func (p *Predictor) NumFeature() int { return p.numFeature }

// NumOutputs returns how many values Predict writes per row: the number of classes for
// multi:softprob, otherwise 1 (multi:softmax writes the class index).
func (p *Predictor) NumOutputs() int { return p.outputs }

// NumGroups returns how many margins PredictMargin writes per row.
func (p *Predictor) NumGroups() int { return p.groups }

// Predict writes the prediction for one row (NaN = missing) into out[:NumOutputs()].
// It does not allocate.
func (p *Predictor) Predict(row, out []float32) error {
	if len(row) != p.numFeature {
		return fmt.Errorf("xgboost predict: %w: row has %d features, model expects %d", ErrFeatureMismatch, len(row), p.numFeature)
	}
	if len(out) < p.outputs {
		return fmt.Errorf("xgboost predict: output has room for %d values, need %d", len(out), p.outputs)
	}
	if p.groups == 1 {
		out[0] = p.transformOne(p.marginOne(row))
		return nil
	}
	var stack [maxStackGroups]float32
	var margins []float32
	if p.transform == transformSoftmax {
		margins = out[:p.groups]
	} else if p.groups <= maxStackGroups {
		margins = stack[:p.groups]
	} else {
		buf := p.scratch.Get().(*[]float32)
		defer p.scratch.Put(buf)
		margins = *buf
	}
	p.marginsMulti(row, margins)
	p.transformMulti(margins, out)
	return nil
}

// PredictMargin writes the untransformed margins for one row into out[:NumGroups()], as
// XGBoost's predict(output_margin=True) does. It does not allocate.
func (p *Predictor) PredictMargin(row, out []float32) error {
	if len(row) != p.numFeature {
		return fmt.Errorf("xgboost predict: %w: row has %d features, model expects %d", ErrFeatureMismatch, len(row), p.numFeature)
	}
	if len(out) < p.groups {
		return fmt.Errorf("xgboost predict: output has room for %d values, need %d", len(out), p.groups)
	}
	if p.groups == 1 {
		out[0] = p.marginOne(row)
		return nil
	}
	p.marginsMulti(row, out[:p.groups])
	return nil
}

// marginOne sums a single-group model's leaves for one row, in tree order, from the base
// margin. Each leaf is multiplied by its tree's weight, which is exactly 1 for gbtree, so
// the sum is the same float32 sequence XGBoost computes.
func (p *Predictor) marginOne(row []float32) float32 {
	acc := p.baseMargin
	nodes, values, trees := p.nodesPtr(), p.values, p.trees
	rp := unsafe.Pointer(unsafe.SliceData(row))
	dense := !hasNaN(row)
	k := 0
	if !p.dart {
		walk := walk8Missing
		if dense {
			walk = walk8Dense
		}
		for ; k+8 <= len(trees); k += 8 {
			i0, i1, i2, i3, i4, i5, i6, i7 := walk(nodes, rp, (*[8]treeRef)(trees[k:k+8]))
			acc += values[i0]
			acc += values[i1]
			acc += values[i2]
			acc += values[i3]
			acc += values[i4]
			acc += values[i5]
			acc += values[i6]
			acc += values[i7]
		}
	}
	for ; k < len(trees); k++ {
		t := &trees[k]
		acc += float32(values[walk1(nodes, rp, t, dense)] * t.weight)
	}
	return acc
}

// marginsMulti fills margins[:groups] for one row.
func (p *Predictor) marginsMulti(row, margins []float32) {
	for g := range margins {
		margins[g] = p.baseMargin
	}
	nodes, values, trees := p.nodesPtr(), p.values, p.trees
	rp := unsafe.Pointer(unsafe.SliceData(row))
	dense := !hasNaN(row)
	walk := walk8Missing
	if dense {
		walk = walk8Dense
	}
	k := 0
	for ; k+8 <= len(trees); k += 8 {
		t := (*[8]treeRef)(trees[k : k+8])
		i0, i1, i2, i3, i4, i5, i6, i7 := walk(nodes, rp, t)
		for j, i := range [8]int32{i0, i1, i2, i3, i4, i5, i6, i7} {
			margins[t[j].group] += float32(values[i] * t[j].weight)
		}
	}
	for ; k < len(trees); k++ {
		t := &trees[k]
		margins[t.group] += float32(values[walk1(nodes, rp, t, dense)] * t.weight)
	}
}

// transformOne applies a single-output objective's transform.
func (p *Predictor) transformOne(x float32) float32 {
	switch p.transform {
	case transformSigmoid:
		return sigmoid(x)
	case transformExp:
		return float32(math.Exp(float64(x)))
	case transformHinge:
		if x > 0 {
			return 1
		}
		return 0
	}
	return x
}

// transformMulti turns class margins into outputs; margins and out may be the same slice.
func (p *Predictor) transformMulti(margins, out []float32) {
	switch p.transform {
	case transformSoftmax:
		softmax(margins, out)
	case transformArgmax:
		best := 0
		for g := 1; g < len(margins); g++ {
			if margins[g] > margins[best] {
				best = g
			}
		}
		out[0] = float32(best)
	default:
		copy(out, margins)
	}
}

// sigmoid is XGBoost's logistic transform, evaluated in double and rounded to float32.
func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// softmax follows XGBoost: subtract the max, exponentiate, divide by the sum.
func softmax(margins, out []float32) {
	wmax := margins[0]
	for _, v := range margins[1:] {
		wmax = max(wmax, v)
	}
	var sum float64
	for g, v := range margins {
		e := float32(math.Exp(float64(v - wmax)))
		out[g] = e
		sum += float64(e)
	}
	s := float32(sum)
	for g := range margins {
		out[g] /= s
	}
}
