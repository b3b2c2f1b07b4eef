package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Metric is one entry of SageMaker's model quality report.
type Metric struct {
	Value             float64 `json:"value"`
	StandardDeviation float64 `json:"standard_deviation"`
}

// bootstrapRounds is how many resamples estimate a metric's standard deviation.
const bootstrapRounds = 32

// bootstrapSD is the standard deviation of metric over seeded resamples of the n rows.
func bootstrapSD(n int, metric func(idx []int) float64) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	idx := make([]int, n)
	vals := make([]float64, 0, bootstrapRounds)
	for range bootstrapRounds {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		if v := metric(idx); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	return stddev(vals)
}

// stddev is the population standard deviation (numpy's default).
func stddev(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var mean float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss / float64(len(v)))
}

// all returns 0..n-1.
func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// regressionMetrics reports mse, rmse, mae and r2. mse's standard deviation is that of the
// residuals, as SageMaker's abalone evaluation script reports it; the others are bootstrapped.
func regressionMetrics(y, p []float64) map[string]Metric {
	n := len(y)
	mse := func(idx []int) float64 {
		var s float64
		for _, i := range idx {
			s += (y[i] - p[i]) * (y[i] - p[i])
		}
		return s / float64(len(idx))
	}
	mae := func(idx []int) float64 {
		var s float64
		for _, i := range idx {
			s += math.Abs(y[i] - p[i])
		}
		return s / float64(len(idx))
	}
	r2 := func(idx []int) float64 {
		var mean float64
		for _, i := range idx {
			mean += y[i]
		}
		mean /= float64(len(idx))
		var res, tot float64
		for _, i := range idx {
			res += (y[i] - p[i]) * (y[i] - p[i])
			tot += (y[i] - mean) * (y[i] - mean)
		}
		if tot == 0 {
			if res == 0 {
				return 1
			}
			return 0
		}
		return 1 - res/tot
	}
	resid := make([]float64, n)
	for i := range y {
		resid[i] = y[i] - p[i]
	}
	idx := all(n)
	return map[string]Metric{
		"mse":  {mse(idx), stddev(resid)},
		"rmse": {math.Sqrt(mse(idx)), bootstrapSD(n, func(ix []int) float64 { return math.Sqrt(mse(ix)) })},
		"mae":  {mae(idx), bootstrapSD(n, mae)},
		"r2":   {r2(idx), bootstrapSD(n, r2)},
	}
}

// confusion counts (actual, predicted) pairs.
type confusion map[int]map[int]int

func (c confusion) add(actual, predicted int) {
	if c[actual] == nil {
		c[actual] = map[int]int{}
	}
	c[actual][predicted]++
}

// JSON form: {"actual": {"predicted": count}}.
func (c confusion) json(classes []int) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, a := range classes {
		row := map[string]int{}
		for _, p := range classes {
			row[strconv.Itoa(p)] = c[a][p]
		}
		out[strconv.Itoa(a)] = row
	}
	return out
}

// binaryMetrics reports SageMaker's binary classification metrics for labels 0/1, scores
// (probability of class 1) and a decision threshold.
func binaryMetrics(y, score []float64, threshold float64) (map[string]any, error) {
	for i, v := range y {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("binary classification needs labels 0 or 1; test row %d has %v", i+1, v)
		}
	}
	n := len(y)
	type counts struct{ tp, fp, tn, fn float64 }
	count := func(idx []int) counts {
		var c counts
		for _, i := range idx {
			pos := score[i] >= threshold
			switch {
			case pos && y[i] == 1:
				c.tp++
			case pos:
				c.fp++
			case y[i] == 1:
				c.fn++
			default:
				c.tn++
			}
		}
		return c
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	fbeta := func(beta float64) func(c counts) float64 {
		return func(c counts) float64 {
			p, r := ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn)
			return ratio((1+beta*beta)*p*r, beta*beta*p+r)
		}
	}
	defs := map[string]func(c counts) float64{
		"accuracy":            func(c counts) float64 { return ratio(c.tp+c.tn, c.tp+c.tn+c.fp+c.fn) },
		"precision":           func(c counts) float64 { return ratio(c.tp, c.tp+c.fp) },
		"recall":              func(c counts) float64 { return ratio(c.tp, c.tp+c.fn) },
		"true_positive_rate":  func(c counts) float64 { return ratio(c.tp, c.tp+c.fn) },
		"true_negative_rate":  func(c counts) float64 { return ratio(c.tn, c.tn+c.fp) },
		"false_positive_rate": func(c counts) float64 { return ratio(c.fp, c.fp+c.tn) },
		"false_negative_rate": func(c counts) float64 { return ratio(c.fn, c.fn+c.tp) },
		"f0_5":                fbeta(0.5),
		"f1":                  fbeta(1),
		"f2":                  fbeta(2),
	}
	out := map[string]any{}
	full := count(all(n))
	for name, f := range defs {
		out[name] = Metric{f(full), bootstrapSD(n, func(idx []int) float64 { return f(count(idx)) })}
	}
	auc := func(idx []int) float64 { return rocAUC(y, score, idx) }
	if v := auc(all(n)); !math.IsNaN(v) {
		out["auc"] = Metric{v, bootstrapSD(n, auc)}
	}
	cm := confusion{}
	for i := range y {
		pred := 0
		if score[i] >= threshold {
			pred = 1
		}
		cm.add(int(y[i]), pred)
	}
	out["confusion_matrix"] = cm.json([]int{0, 1})
	return out, nil
}

// rocAUC is the area under the ROC curve over rows idx, by the rank-sum (Mann-Whitney)
// formula with tied scores sharing their average rank; NaN when one class is absent.
func rocAUC(y, score []float64, idx []int) float64 {
	order := slices.Clone(idx)
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case score[a] < score[b]:
			return -1
		case score[a] > score[b]:
			return 1
		}
		return 0
	})
	var pos, neg, rankSum float64
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && score[order[j]] == score[order[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if y[order[k]] == 1 {
				pos++
				rankSum += avg
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// multiclassMetrics reports accuracy and support-weighted precision, recall and f1.
func multiclassMetrics(y []float64, pred []int, numClass int) (map[string]any, error) {
	for i, v := range y {
		if v != math.Trunc(v) || v < 0 || int(v) >= numClass {
			return nil, fmt.Errorf("multi-class labels must be integers in [0,%d); test row %d has %v", numClass, i+1, v)
		}
	}
	n := len(y)
	type stats struct{ acc, precision, recall, f1 float64 }
	compute := func(idx []int) stats {
		tp := make([]float64, numClass)
		predicted := make([]float64, numClass)
		support := make([]float64, numClass)
		var correct float64
		for _, i := range idx {
			a := int(y[i])
			support[a]++
			predicted[pred[i]]++
			if pred[i] == a {
				tp[a]++
				correct++
			}
		}
		var s stats
		total := float64(len(idx))
		s.acc = correct / total
		for c := range numClass {
			if support[c] == 0 {
				continue
			}
			w := support[c] / total
			p, r := 0.0, tp[c]/support[c]
			if predicted[c] > 0 {
				p = tp[c] / predicted[c]
			}
			f := 0.0
			if p+r > 0 {
				f = 2 * p * r / (p + r)
			}
			s.precision += w * p
			s.recall += w * r
			s.f1 += w * f
		}
		return s
	}
	full := compute(all(n))
	sd := func(get func(stats) float64) float64 {
		return bootstrapSD(n, func(idx []int) float64 { return get(compute(idx)) })
	}
	cm := confusion{}
	classes := make([]int, numClass)
	for c := range classes {
		classes[c] = c
	}
	for i := range y {
		cm.add(int(y[i]), pred[i])
	}
	return map[string]any{
		"accuracy":           Metric{full.acc, sd(func(s stats) float64 { return s.acc })},
		"weighted_precision": Metric{full.precision, sd(func(s stats) float64 { return s.precision })},
		"weighted_recall":    Metric{full.recall, sd(func(s stats) float64 { return s.recall })},
		"weighted_f1":        Metric{full.f1, sd(func(s stats) float64 { return s.f1 })},
		"confusion_matrix":   cm.json(classes),
	}, nil
}
