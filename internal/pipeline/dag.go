package pipeline

import (
	"container/heap"
	"slices"
	"strings"
)

// EdgeKind says why one step comes after another; an edge may have several reasons.
type EdgeKind uint8

// The reasons for an edge.
const (
	// EdgeDependsOn is an explicit DependsOn entry.
	EdgeDependsOn EdgeKind = 1 << iota
	// EdgeData is a reference to the step's properties or property files in the arguments
	// or conditions of the later step.
	EdgeData
	// EdgeIf and EdgeElse join a Condition step to the steps of its IfSteps and ElseSteps.
	EdgeIf
	EdgeElse
)

// String lists the reasons, e.g. "data,DependsOn".
func (k EdgeKind) String() string {
	var parts []string
	for _, r := range []struct {
		k    EdgeKind
		name string
	}{{EdgeIf, "IfSteps"}, {EdgeElse, "ElseSteps"}, {EdgeData, "data"}, {EdgeDependsOn, "DependsOn"}} {
		if k&r.k != 0 {
			parts = append(parts, r.name)
		}
	}
	return strings.Join(parts, ",")
}

// Edge says that step To runs after step From.
type Edge struct {
	From, To string
	Kind     EdgeKind
}

// Graph is the step graph of a valid definition: every step, branches included, with an edge
// for each DependsOn entry, each data reference and each branch membership.
type Graph struct {
	steps []*Step
	index map[string]int
	succ  [][]int // sorted by definition order
	pred  [][]int
	kind  map[[2]int]EdgeKind
	order []int // topological, ties broken by definition order
	// branch[i] holds, for Condition step i, the steps the IfSteps and ElseSteps control.
	branch map[int][2][]int
}

// newGraph builds the graph of steps (in definition order) from the references found in each
// step (refs[i] names the steps step i reads from). Unknown names are left out: the validator
// reports them. It returns the cycles found, each as a closed path of step names.
func newGraph(steps []*Step, refs [][]string) (*Graph, [][]string) {
	g := &Graph{
		steps: steps,
		index: make(map[string]int, len(steps)),
		succ:  make([][]int, len(steps)),
		pred:  make([][]int, len(steps)),
		kind:  map[[2]int]EdgeKind{},
	}
	for i, s := range steps {
		if _, dup := g.index[s.Name]; !dup {
			g.index[s.Name] = i
		}
	}
	add := func(from string, to int, k EdgeKind) {
		f, ok := g.index[from]
		if !ok {
			return
		}
		key := [2]int{f, to}
		if _, seen := g.kind[key]; !seen {
			g.succ[f] = append(g.succ[f], to)
			g.pred[to] = append(g.pred[to], f)
		}
		g.kind[key] |= k
	}
	for i, s := range steps {
		for _, d := range s.DependsOn {
			add(d, i, EdgeDependsOn)
		}
		for _, r := range refs[i] {
			add(r, i, EdgeData)
		}
		for _, c := range s.IfSteps {
			if j, ok := g.index[c.Name]; ok {
				add(s.Name, j, EdgeIf)
			}
		}
		for _, c := range s.ElseSteps {
			if j, ok := g.index[c.Name]; ok {
				add(s.Name, j, EdgeElse)
			}
		}
	}
	for i := range steps {
		slices.Sort(g.succ[i])
		slices.Sort(g.pred[i])
	}
	cycles := g.cycles()
	if len(cycles) > 0 {
		return g, cycles
	}
	g.order = g.topoOrder()
	g.branch = map[int][2][]int{}
	for i, s := range steps {
		if s.Type != StepCondition {
			continue
		}
		var sets [2][]int
		for b, children := range [2][]*Step{s.IfSteps, s.ElseSteps} {
			var roots []int
			for _, c := range children {
				if j, ok := g.index[c.Name]; ok {
					roots = append(roots, j)
				}
			}
			sets[b] = g.descendants(roots)
		}
		g.branch[i] = sets
	}
	return g, nil
}

// intHeap orders step indexes, so Kahn's algorithm picks ready steps in definition order.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (g *Graph) topoOrder() []int {
	indeg := make([]int, len(g.steps))
	for i := range g.steps {
		indeg[i] = len(g.pred[i])
	}
	h := &intHeap{}
	for i, d := range indeg {
		if d == 0 {
			*h = append(*h, i)
		}
	}
	heap.Init(h)
	order := make([]int, 0, len(g.steps))
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		order = append(order, i)
		for _, j := range g.succ[i] {
			if indeg[j]--; indeg[j] == 0 {
				heap.Push(h, j)
			}
		}
	}
	return order
}

// cycles finds the strongly connected components with a cycle (Tarjan) and returns one cycle
// through each, starting and ending at its earliest step in definition order.
func (g *Graph) cycles() [][]string {
	n := len(g.steps)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	var comps [][]int
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.succ[v] {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 || slices.Contains(g.succ[v], v) {
				comps = append(comps, comp)
			}
		}
	}
	for v := range n {
		if index[v] < 0 {
			strong(v)
		}
	}
	var out [][]string
	for _, comp := range comps {
		slices.Sort(comp)
		out = append(out, g.cycleThrough(comp))
	}
	slices.SortFunc(out, func(a, b []string) int { return g.index[a[0]] - g.index[b[0]] })
	return out
}

// cycleThrough returns a shortest cycle from the first step of comp back to itself, staying
// inside comp.
func (g *Graph) cycleThrough(comp []int) []string {
	in := map[int]bool{}
	for _, v := range comp {
		in[v] = true
	}
	start := comp[0]
	prev := map[int]int{}
	queue := []int{start}
	seen := map[int]bool{start: true}
	end := -1
	for len(queue) > 0 && end < 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.succ[v] {
			if w == start {
				end = v
				break
			}
			if in[w] && !seen[w] {
				seen[w] = true
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	path := []int{start}
	for v := end; v != start; v = prev[v] {
		path = append(path, v)
	}
	slices.Reverse(path[1:])
	names := make([]string, 0, len(path)+1)
	for _, v := range path {
		names = append(names, g.steps[v].Name)
	}
	return append(names, g.steps[start].Name)
}

// descendants returns roots and every step reachable from them, in topological order.
func (g *Graph) descendants(roots []int) []int {
	seen := make([]bool, len(g.steps))
	stack := slices.Clone(roots)
	for _, r := range roots {
		seen[r] = true
	}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range g.succ[v] {
			if !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	var out []int
	for _, v := range g.order {
		if seen[v] {
			out = append(out, v)
		}
	}
	return out
}

func (g *Graph) names(idx []int) []string {
	out := make([]string, len(idx))
	for i, v := range idx {
		out[i] = g.steps[v].Name
	}
	return out
}

// Steps returns every step in definition order.
func (g *Graph) Steps() []*Step { return g.steps }

// Order returns the step names in a topological order: every step after all the steps it
// depends on, ties broken by definition order, so the order is stable.
func (g *Graph) Order() []string { return g.names(g.order) }

// Edges returns every edge, ordered by the definition order of From, then of To.
func (g *Graph) Edges() []Edge {
	var out []Edge
	for f := range g.steps {
		for _, t := range g.succ[f] {
			out = append(out, Edge{From: g.steps[f].Name, To: g.steps[t].Name, Kind: g.kind[[2]int{f, t}]})
		}
	}
	return out
}

// Upstream returns the steps that step name directly runs after, in definition order.
func (g *Graph) Upstream(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.names(g.pred[i])
}

// Downstream returns the steps that directly run after step name, in definition order.
func (g *Graph) Downstream(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.names(g.succ[i])
}

// EdgeKind returns why step to runs after step from (0 when there is no edge).
func (g *Graph) EdgeKind(from, to string) EdgeKind {
	f, ok1 := g.index[from]
	t, ok2 := g.index[to]
	if !ok1 || !ok2 {
		return 0
	}
	return g.kind[[2]int{f, t}]
}

// BranchSteps returns the steps that the given branch of Condition step cond controls (the
// IfSteps for outcome true, the ElseSteps for false): the branch's steps and every step that
// depends on them, directly or not, in topological order. They run only if the condition
// takes that branch.
func (g *Graph) BranchSteps(cond string, outcome bool) []string {
	i, ok := g.index[cond]
	if !ok {
		return nil
	}
	sets, ok := g.branch[i]
	if !ok {
		return nil
	}
	if outcome {
		return g.names(sets[0])
	}
	return g.names(sets[1])
}

// SkippedBy returns the steps that must not run when Condition step cond evaluates to
// outcome: those of the branch not taken (BranchSteps(cond, !outcome)).
func (g *Graph) SkippedBy(cond string, outcome bool) []string {
	return g.BranchSteps(cond, !outcome)
}
