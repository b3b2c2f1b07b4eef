package train

import (
	"math"
	"sync"
)

// noParent is XGBoost's parent index for the root.
const noParent = math.MaxInt32

// tree is one grown tree in XGBoost's node layout (node 0 is the root, children are
// allocated in breadth-first order as XGBoost's depthwise driver allocates them), plus the
// split bins used to route training rows.
type tree struct {
	left, right, parent []int32
	feature             []int32
	cond                []float32
	defaultLeft         []bool
	baseWeight          []float32
	lossChg             []float32
	sumHess             []float32
	splitBin            []int32
}

func (t *tree) addNode(parent int32) int32 {
	id := int32(len(t.left))
	t.left = append(t.left, -1)
	t.right = append(t.right, -1)
	t.parent = append(t.parent, parent)
	t.feature = append(t.feature, 0)
	t.cond = append(t.cond, 0)
	t.defaultLeft = append(t.defaultLeft, false)
	t.baseWeight = append(t.baseWeight, 0)
	t.lossChg = append(t.lossChg, 0)
	t.sumHess = append(t.sumHess, 0)
	t.splitBin = append(t.splitBin, 0)
	return id
}

func (t *tree) numNodes() int { return len(t.left) }

// growNode is a node being grown: its rows are grower.rows[begin:end].
type growNode struct {
	nid        int32
	begin, end int
	mid        int
	depth      int
	sum        histBin
	rootGain   float32
	hist       []histBin
	best       splitEntry
}

// grower grows trees on one quantised training matrix; it owns reusable buffers.
type grower[B binIndex] struct {
	p       *Params
	reg     regularizer
	q       *quantized[B]
	cuts    *cuts
	threads int
	// rows is the partition of the rows the current tree sees: every node owns a
	// contiguous segment, kept in ascending row order so histogram reads stream.
	rows    []uint32
	scratch []uint32
	tmp     [][]uint32

	mu   sync.Mutex
	pool [][]histBin
}

func newGrower[B binIndex](p *Params, q *quantized[B], c *cuts, threads int) *grower[B] {
	return &grower[B]{
		p:       p,
		reg:     regularizer{lambda: p.Lambda, alpha: p.Alpha, minChildWeight: p.MinChildWeight, maxDeltaStep: p.MaxDeltaStep},
		q:       q,
		cuts:    c,
		threads: threads,
		rows:    make([]uint32, q.rows),
		scratch: make([]uint32, q.rows),
		tmp:     make([][]uint32, threads),
	}
}

func (g *grower[B]) getHist() []histBin {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.pool); n > 0 {
		h := g.pool[n-1]
		g.pool = g.pool[:n-1]
		clear(h)
		return h
	}
	return make([]histBin, g.q.numSlots())
}

func (g *grower[B]) putHist(h []histBin) {
	if h == nil {
		return
	}
	g.mu.Lock()
	g.pool = append(g.pool, h)
	g.mu.Unlock()
}

// leafSegment is a finished leaf and the rows (positions in grower.rows) that reach it.
type leafSegment struct {
	value      float32
	begin, end int
}

// grow builds one tree from the gradients of the first nrows entries of g.rows, which the
// caller has filled with the sampled rows in ascending order. It returns the tree and its
// leaves with their row segments.
func (g *grower[B]) grow(gp []gradPair, nrows int, cs *colSampler) (*tree, []leafSegment) {
	eta := g.p.Eta
	t := &tree{}
	root := &growNode{nid: t.addNode(noParent), begin: 0, end: nrows}
	root.sum = g.sumRows(gp, g.rows[:nrows])
	w := g.reg.weight(root.sum)
	t.sumHess[0] = float32(root.sum.h)
	t.baseWeight[0] = w
	t.cond[0] = eta * w
	root.rootGain = g.reg.gain(root.sum)

	var leaves []leafSegment
	level := []*growNode{root}
	g.buildHists(gp, level)
	g.evaluate(level, cs)
	for len(level) > 0 {
		var applied []*growNode
		for _, n := range level {
			if g.splittable(n) {
				g.apply(t, n)
				applied = append(applied, n)
			} else {
				leaves = append(leaves, leafSegment{t.cond[n.nid], n.begin, n.end})
				g.putHist(n.hist)
				n.hist = nil
			}
		}
		if len(applied) == 0 {
			break
		}
		g.partition(applied)
		depth := applied[0].depth + 1
		children := make([]*growNode, 0, 2*len(applied))
		for _, n := range applied {
			s := n.best
			l := &growNode{nid: t.left[n.nid], begin: n.begin, end: n.mid, depth: depth, sum: s.left, rootGain: g.reg.gain(s.left)}
			r := &growNode{nid: t.right[n.nid], begin: n.mid, end: n.end, depth: depth, sum: s.right, rootGain: g.reg.gain(s.right)}
			children = append(children, l, r)
		}
		if depth >= g.p.MaxDepth {
			for _, c := range children {
				leaves = append(leaves, leafSegment{t.cond[c.nid], c.begin, c.end})
			}
			for _, n := range applied {
				g.putHist(n.hist)
				n.hist = nil
			}
			break
		}
		// Build the histogram of the child with fewer rows; the other is the parent's
		// minus it, computed in the parent's buffer.
		small := make([]*growNode, len(applied))
		for i := range applied {
			l, r := children[2*i], children[2*i+1]
			if l.end-l.begin <= r.end-r.begin {
				small[i] = l
			} else {
				small[i] = r
			}
		}
		g.buildHists(gp, small)
		parallelFor(len(applied), g.threads, func(i int) {
			parent := applied[i]
			large := children[2*i+1]
			if small[i] == large {
				large = children[2*i]
			}
			ph, sh := parent.hist, small[i].hist
			for j := range ph {
				ph[j].g -= sh[j].g
				ph[j].h -= sh[j].h
			}
			large.hist = ph
			parent.hist = nil
		})
		g.evaluate(children, cs)
		level = children
	}
	return t, leaves
}

// splittable is XGBoost's ExpandEntry::IsValid for depthwise growth.
func (g *grower[B]) splittable(n *growNode) bool {
	s := n.best
	switch {
	case s.lossChg <= kRtEps:
		return false
	case s.left.h == 0 || s.right.h == 0:
		return false
	case s.lossChg < g.p.Gamma:
		return false
	case n.depth >= g.p.MaxDepth:
		return false
	}
	return true
}

// apply turns node n into a split with two leaf children, filling the statistics as
// XGBoost's ApplyTreeSplit and RegTree::ExpandNode do.
func (g *grower[B]) apply(t *tree, n *growNode) {
	s := n.best
	eta := g.p.Eta
	parentSum := histBin{s.left.g + s.right.g, s.left.h + s.right.h}
	baseWeight := g.reg.weight(parentSum)
	lw := g.reg.weight(s.left) * eta
	rw := g.reg.weight(s.right) * eta
	l := t.addNode(n.nid)
	r := t.addNode(n.nid)
	id := n.nid
	t.left[id], t.right[id] = l, r
	t.feature[id] = s.feature
	t.cond[id] = s.value
	t.defaultLeft[id] = s.defaultLeft
	t.splitBin[id] = s.bin
	t.lossChg[id] = s.lossChg
	t.sumHess[id] = float32(parentSum.h)
	t.baseWeight[id] = baseWeight
	t.cond[l], t.baseWeight[l], t.sumHess[l] = lw, lw, float32(s.left.h)
	t.cond[r], t.baseWeight[r], t.sumHess[r] = rw, rw, float32(s.right.h)
}

// evaluate finds the best split of every node, in parallel over nodes.
func (g *grower[B]) evaluate(nodes []*growNode, cs *colSampler) {
	feats := make([][]int, len(nodes))
	for i, n := range nodes {
		feats[i] = cs.features(n.depth) // sequential: the sampler's RNG is not shared
	}
	parallelFor(len(nodes), g.threads, func(i int) {
		n := nodes[i]
		best := splitEntry{}
		for _, f := range feats[i] {
			g.reg.enumerate(n.hist, g.cuts, g.q.offsets[f], f, n.sum, n.rootGain, &best)
		}
		n.best = best
	})
}

// sumRows adds up the gradients of rows in float64.
func (g *grower[B]) sumRows(gp []gradPair, rows []uint32) histBin {
	const block = 1 << 16
	nb := (len(rows) + block - 1) / block
	parts := make([]histBin, nb)
	parallelFor(nb, g.threads, func(b int) {
		var s histBin
		for _, r := range rows[b*block : min((b+1)*block, len(rows))] {
			s.g += float64(gp[r].g)
			s.h += float64(gp[r].h)
		}
		parts[b] = s
	})
	var s histBin
	for _, p := range parts {
		s.g += p.g
		s.h += p.h
	}
	return s
}

// buildHists builds the histograms of nodes from their rows. Work is cut into row chunks
// across all nodes; each worker accumulates into its own buffer per node, and the buffers
// are summed at the end.
func (g *grower[B]) buildHists(gp []gradPair, nodes []*growNode) {
	total := 0
	for _, n := range nodes {
		total += n.end - n.begin
	}
	chunk := max(2048, total/(g.threads*8))
	type task struct{ node, lo, hi int }
	var tasks []task
	for k, n := range nodes {
		for lo := n.begin; lo < n.end; lo += chunk {
			tasks = append(tasks, task{k, lo, min(lo+chunk, n.end)})
		}
	}
	k := len(nodes)
	local := make([][]histBin, g.threads*k)
	parallelForWorker(len(tasks), g.threads, func(w, i int) {
		tk := tasks[i]
		buf := local[w*k+tk.node]
		if buf == nil {
			buf = g.getHist()
			local[w*k+tk.node] = buf
		}
		buildHist(g.q, gp, g.rows[tk.lo:tk.hi], buf)
	})
	parallelFor(k, g.threads, func(j int) {
		var h []histBin
		for w := 0; w < g.threads; w++ {
			b := local[w*k+j]
			if b == nil {
				continue
			}
			if h == nil {
				h = b
				continue
			}
			for s := range h {
				h[s].g += b[s].g
				h[s].h += b[s].h
			}
			g.putHist(b)
		}
		if h == nil {
			h = g.getHist()
		}
		nodes[j].hist = h
	})
}

// buildHist adds the gradients of rows into hist: the inner loop of the hist method.
func buildHist[B binIndex](q *quantized[B], gp []gradPair, rows []uint32, hist []histBin) {
	nf := q.cols
	off := q.offsets[:nf]
	bins := q.bins
	for _, r := range rows {
		p := gp[r]
		gg, hh := float64(p.g), float64(p.h)
		base := int(r) * nf
		rb := bins[base : base+nf]
		for f, o := range off {
			e := &hist[int(o)+int(rb[f])]
			e.g += gg
			e.h += hh
		}
	}
}

// partition splits every applied node's row segment into its left rows followed by its
// right rows, both kept in ascending order, and records the boundary in mid.
func (g *grower[B]) partition(nodes []*growNode) {
	total := 0
	for _, n := range nodes {
		total += n.end - n.begin
	}
	chunk := max(4096, total/(g.threads*4))
	type task struct{ node, lo, hi, nleft int }
	var tasks []task
	first := make([]int, len(nodes)+1)
	for k, n := range nodes {
		first[k] = len(tasks)
		for lo := n.begin; lo < n.end; lo += chunk {
			tasks = append(tasks, task{node: k, lo: lo, hi: min(lo+chunk, n.end)})
		}
	}
	first[len(nodes)] = len(tasks)
	parallelForWorker(len(tasks), g.threads, func(w, i int) {
		tk := &tasks[i]
		n := nodes[tk.node]
		s := n.best
		if cap(g.tmp[w]) < chunk {
			g.tmp[w] = make([]uint32, chunk)
		}
		f := int(s.feature)
		tk.nleft = partitionRows(g.rows[tk.lo:tk.hi], g.tmp[w], g.q, f, s.bin, s.defaultLeft)
	})
	// Nodes cut into several chunks now hold [left|right] per chunk; gather the lefts,
	// then the rights, through the scratch buffer.
	type move struct{ src, dst, n int }
	var moves []move
	for k, n := range nodes {
		nleft := 0
		for _, tk := range tasks[first[k]:first[k+1]] {
			nleft += tk.nleft
		}
		n.mid = n.begin + nleft
		if first[k+1]-first[k] == 1 {
			continue
		}
		ldst, rdst := n.begin, n.mid
		for _, tk := range tasks[first[k]:first[k+1]] {
			moves = append(moves, move{tk.lo, ldst, tk.nleft}, move{tk.lo + tk.nleft, rdst, tk.hi - tk.lo - tk.nleft})
			ldst += tk.nleft
			rdst += tk.hi - tk.lo - tk.nleft
		}
	}
	if len(moves) == 0 {
		return
	}
	parallelFor(len(moves), g.threads, func(i int) {
		m := moves[i]
		copy(g.scratch[m.dst:m.dst+m.n], g.rows[m.src:m.src+m.n])
	})
	parallelFor(len(moves), g.threads, func(i int) {
		m := moves[i]
		copy(g.rows[m.dst:m.dst+m.n], g.scratch[m.dst:m.dst+m.n])
	})
}

// partitionRows moves the rows going left to the front of rows (in order) and the rows
// going right after them (in order), returning the number going left.
func partitionRows[B binIndex](rows, tmp []uint32, q *quantized[B], f int, splitBin int32, defaultLeft bool) int {
	nl, nr := 0, 0
	col := q.colBins[f*q.rows : (f+1)*q.rows]
	checkMissing, missing := q.hasMissing[f], q.missing[f]
	if !checkMissing {
		// Branch-free: write the row to both sides and advance one of them, since the
		// direction is unpredictable. Overwriting rows[nl] is safe: nl never passes the
		// row being read.
		for _, r := range rows {
			inc := 0
			if int32(col[r]) <= splitBin {
				inc = 1
			}
			rows[nl] = r
			tmp[nr] = r
			nl += inc
			nr += 1 - inc
		}
		copy(rows[nl:], tmp[:nr])
		return nl
	}
	for _, r := range rows {
		b := col[r]
		left := int32(b) <= splitBin
		if b == missing {
			left = defaultLeft
		}
		inc := 0
		if left {
			inc = 1
		}
		rows[nl] = r
		tmp[nr] = r
		nl += inc
		nr += 1 - inc
	}
	copy(rows[nl:], tmp[:nr])
	return nl
}

// leafOfBinned routes quantised row r through the tree by split bins (the training-time
// view of the same splits).
func leafOfBinned[B binIndex](t *tree, q *quantized[B], r int) int32 {
	id := int32(0)
	for t.left[id] != -1 {
		f := int(t.feature[id])
		if q.goesLeft(f, q.colBins[f*q.rows+r], t.splitBin[id], t.defaultLeft[id]) {
			id = t.left[id]
		} else {
			id = t.right[id]
		}
	}
	return id
}
