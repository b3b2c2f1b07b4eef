// Package train is Sluice's built-in XGBoost-compatible trainer: histogram-based gradient
// boosted trees grown depthwise as XGBoost 1.7's hist method grows them, in pure Go and on
// all cores. It reads SageMaker's XGBoost interface (channels, content types,
// hyperparameter names), prints per-round metrics in XGBoost's log format, and writes the
// model in XGBoost's JSON format, which real XGBoost loads and predicts identically.
//
// Main runs the training container contract; Train is the library entry point.
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// Train boosts Params.NumRound rounds of trees on train and returns the model. When log is
// not nil, every round prints "[i]\ttrain-metric:v\tvalidation-metric:v" as XGBoost does
// (valid may be nil). With early stopping, training stops once the last metric on the last
// evaluation set has not improved for EarlyStoppingRounds rounds; like XGBoost, the model
// keeps every tree grown and records best_iteration, best_score and best_ntree_limit in
// its attributes.
func Train(ctx context.Context, p Params, train, valid *Matrix, log io.Writer) (*xgboost.Model, error) {
	model, _, err := trainMargins(ctx, p, train, valid, log)
	return model, err
}

// trainMargins is Train that also returns the final training margins as the trainer kept
// them (through bins and row partitions), which tests compare with the written model.
func trainMargins(ctx context.Context, p Params, train, valid *Matrix, log io.Writer) (*xgboost.Model, []float32, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	obj, err := lookupObjective(p.Objective)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	if err := train.Validate(); err != nil {
		return nil, nil, fmt.Errorf("train: training data: %w", err)
	}
	if err := obj.checkLabels(train.Labels, p.NumClass); err != nil {
		return nil, nil, fmt.Errorf("train: training data: %w", err)
	}
	if valid != nil {
		if valid.Cols < train.Cols {
			return nil, nil, fmt.Errorf("train: validation data has %d feature columns, training data has %d", valid.Cols, train.Cols)
		}
		if valid.Cols > train.Cols {
			return nil, nil, fmt.Errorf("train: validation data has %d feature columns, more than the %d of the training data", valid.Cols, train.Cols)
		}
		if err := valid.Validate(); err != nil {
			return nil, nil, fmt.Errorf("train: validation data: %w", err)
		}
		if err := obj.checkLabels(valid.Labels, p.NumClass); err != nil {
			return nil, nil, fmt.Errorf("train: validation data: %w", err)
		}
	}
	names := p.EvalMetrics
	if len(names) == 0 {
		names = []string{obj.defaultMetric}
	}
	metrics := make([]metric, len(names))
	for i, n := range names {
		m, err := lookupMetric(n)
		if err != nil {
			return nil, nil, fmt.Errorf("train: %w", err)
		}
		if m.multiclass != obj.multiclass {
			return nil, nil, fmt.Errorf("train: eval_metric %s does not apply to objective %s", n, p.Objective)
		}
		metrics[i] = m
	}
	threads := p.NThread
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	c := buildCuts(train, p.MaxBin, threads)
	if fitsUint8(c) {
		return boost(ctx, &p, obj, metrics, quantize[uint8](train, c, threads), c, train, valid, threads, log)
	}
	return boost(ctx, &p, obj, metrics, quantize[uint16](train, c, threads), c, train, valid, threads, log)
}

// evalSet is a data set whose margins are kept current as trees are added.
type evalSet struct {
	name    string
	m       *Matrix
	margins []float32
	preds   []float32
}

func boost[B binIndex](ctx context.Context, p *Params, obj objective, metrics []metric, q *quantized[B], c *cuts, train, valid *Matrix, threads int, log io.Writer) (*xgboost.Model, []float32, error) {
	n := train.Rows
	k := 1
	if obj.multiclass {
		k = p.NumClass
	}
	base := obj.baseMargin(p.BaseScore)
	newMargins := func(rows int) []float32 {
		m := make([]float32, rows*k)
		for i := range m {
			m[i] = base
		}
		return m
	}
	trainSet := &evalSet{name: "train", m: train, margins: newMargins(n)}
	var sets []*evalSet
	evaluate := log != nil || p.EarlyStoppingRounds > 0
	if evaluate {
		sets = append(sets, trainSet)
	}
	var validSet *evalSet
	if valid != nil {
		validSet = &evalSet{name: "validation", m: valid, margins: newMargins(valid.Rows)}
		if evaluate {
			sets = append(sets, validSet)
		}
	}

	rng := rand.New(rand.NewPCG(p.Seed, 0x736c75696365)) // "sluice"
	cs := newColSampler(rng, p)
	g := newGrower(p, q, c, threads)
	gp := make([]gradPair, n*k)
	weights := train.Weights
	if weights == nil {
		weights = make([]float32, n)
		for i := range weights {
			weights[i] = 1
		}
	}
	var trees []*tree
	var groups []int32

	bestScore, bestIter := math.NaN(), 0
	var line strings.Builder
	for iter := 0; iter < p.NumRound; iter++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("train: stopped at round %d: %w", iter, err)
		}
		parallelRanges(n, threads, 4096, func(lo, hi int) {
			obj.gradients(p, trainSet.margins, train.Labels, weights, gp, n, lo, hi)
		})
		for grp := 0; grp < k; grp++ {
			ggp := gp[grp*n : (grp+1)*n]
			nrows, unsampled := sampleRows(rng, n, p.Subsample, g.rows)
			cs.newTree(train.Cols)
			t, leaves := g.grow(ggp, nrows, cs)
			trees = append(trees, t)
			groups = append(groups, int32(grp))
			addLeaves(g, leaves, trainSet.margins, k, grp, threads)
			if unsampled != nil {
				parallelRanges(n, threads, 4096, func(lo, hi int) {
					for r := lo; r < hi; r++ {
						if unsampled[r] {
							trainSet.margins[r*k+grp] += t.cond[leafOfBinned(t, q, r)]
						}
					}
				})
			}
			if validSet != nil {
				addTree(t, valid, validSet.margins, k, grp, threads)
			}
		}
		if len(sets) == 0 {
			continue
		}
		line.Reset()
		fmt.Fprintf(&line, "[%d]", iter)
		var last float64
		for _, s := range sets {
			if s.preds == nil {
				s.preds = make([]float32, len(s.margins))
			}
			obj.transform(s.margins, s.preds, k)
			for _, m := range metrics {
				v := m.eval(s.preds, s.m.Labels, s.m.Weights, k)
				fmt.Fprintf(&line, "\t%s-%s:%s", s.name, m.name, formatMetric(v))
				last = v
			}
		}
		if log != nil {
			line.WriteByte('\n')
			if _, err := io.WriteString(log, line.String()); err != nil {
				return nil, nil, fmt.Errorf("train: write log: %w", err)
			}
		}
		if p.EarlyStoppingRounds > 0 {
			improved := math.IsNaN(bestScore) ||
				(metrics[len(metrics)-1].maximize && last > bestScore) ||
				(!metrics[len(metrics)-1].maximize && last < bestScore)
			if improved {
				bestScore, bestIter = last, iter
			} else if iter-bestIter >= p.EarlyStoppingRounds {
				if log != nil {
					fmt.Fprintf(log, "Stopping. Best iteration:\n[%d]\tbest %s-%s:%s\n", bestIter, sets[len(sets)-1].name, metrics[len(metrics)-1].name, formatMetric(bestScore))
				}
				break
			}
		}
	}
	model := toModel(p, obj, train.Cols, trees, groups)
	if p.EarlyStoppingRounds > 0 && !math.IsNaN(bestScore) {
		model.Attributes = map[string]string{
			"best_iteration":   strconv.Itoa(bestIter),
			"best_score":       strconv.FormatFloat(bestScore, 'g', -1, 64),
			"best_ntree_limit": strconv.Itoa(bestIter + 1),
		}
	}
	if err := model.Validate(); err != nil {
		return nil, nil, fmt.Errorf("train: built an invalid model: %w", err)
	}
	return model, trainSet.margins, nil
}

// formatMetric prints a metric as XGBoost's Python callback does (five decimals).
func formatMetric(v float64) string {
	return strconv.FormatFloat(v, 'f', 5, 64)
}

// addLeaves adds each leaf's value to the margins of the training rows that reached it.
func addLeaves[B binIndex](g *grower[B], leaves []leafSegment, margins []float32, k, grp, threads int) {
	type task struct {
		value  float32
		lo, hi int
	}
	var tasks []task
	const chunk = 1 << 15
	for _, l := range leaves {
		for lo := l.begin; lo < l.end; lo += chunk {
			tasks = append(tasks, task{l.value, lo, min(lo+chunk, l.end)})
		}
	}
	parallelFor(len(tasks), threads, func(i int) {
		tk := tasks[i]
		for _, r := range g.rows[tk.lo:tk.hi] {
			margins[int(r)*k+grp] += tk.value
		}
	})
}

// addTree adds the tree's output to the margins of every row of m, routing rows by their
// float values exactly as a predictor does.
func addTree(t *tree, m *Matrix, margins []float32, k, grp, threads int) {
	parallelRanges(m.Rows, threads, 2048, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			margins[r*k+grp] += t.cond[t.leafOf(m, r)]
		}
	})
}

// leafOf routes row r of m to its leaf: x < cond goes left, a missing x follows the
// default direction.
func (t *tree) leafOf(m *Matrix, r int) int32 {
	id := int32(0)
	for t.left[id] != -1 {
		x := m.Data[int(t.feature[id])*m.Rows+r]
		var left bool
		if isNaN(x) {
			left = t.defaultLeft[id]
		} else {
			left = x < t.cond[id]
		}
		if left {
			id = t.left[id]
		} else {
			id = t.right[id]
		}
	}
	return id
}

// toModel converts the grown trees into the model the xgboost package writes.
func toModel(p *Params, obj objective, numFeature int, trees []*tree, groups []int32) *xgboost.Model {
	m := &xgboost.Model{
		Objective:       p.Objective,
		ObjectiveParams: obj.objectiveParams(p),
		BaseScore:       p.BaseScore,
		NumFeature:      numFeature,
		Booster:         xgboost.BoosterGBTree,
		NumParallelTree: 1,
		Trees:           make([]xgboost.Tree, len(trees)),
	}
	if obj.multiclass {
		m.NumClass = p.NumClass
	}
	for i, t := range trees {
		out := xgboost.Tree{
			Group:           groups[i],
			LeftChildren:    t.left,
			RightChildren:   t.right,
			Parents:         t.parent,
			SplitIndices:    t.feature,
			SplitConditions: t.cond,
			DefaultLeft:     t.defaultLeft,
			BaseWeights:     t.baseWeight,
			LossChanges:     t.lossChg,
			SumHessian:      t.sumHess,
		}
		for j := range t.left {
			if t.left[j] == -1 {
				out.SplitIndices[j] = 0
				out.DefaultLeft[j] = false
			}
		}
		m.Trees[i] = out
	}
	return m
}

// errNoData is returned by Main when the train channel is missing.
var errNoData = errors.New("no training data")
