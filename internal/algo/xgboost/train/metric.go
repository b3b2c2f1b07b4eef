package train

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// metric scores predictions (already transformed: probabilities, counts) against labels.
type metric struct {
	name string
	// maximize says larger is better (for early stopping).
	maximize bool
	// multiclass metrics read numGroups predictions per row; the others one.
	multiclass bool
	eval       func(preds, labels, weights []float32, numGroups int) float64
}

// lookupMetric resolves an eval_metric name, including XGBoost's "error@0.7" thresholds.
func lookupMetric(name string) (metric, error) {
	base, arg, hasArg := strings.Cut(name, "@")
	switch base {
	case "rmse":
		return metric{name: name, eval: elementwise(func(p, y float64) float64 { return (p - y) * (p - y) }, math.Sqrt)}, noArg(name, hasArg)
	case "mae":
		return metric{name: name, eval: elementwise(func(p, y float64) float64 { return math.Abs(p - y) }, nil)}, noArg(name, hasArg)
	case "logloss":
		return metric{name: name, eval: elementwise(logloss, nil)}, noArg(name, hasArg)
	case "poisson-nloglik":
		return metric{name: name, eval: elementwise(poissonNLogLik, nil)}, noArg(name, hasArg)
	case "error":
		threshold := 0.5
		if hasArg {
			t, err := strconv.ParseFloat(arg, 64)
			if err != nil {
				return metric{}, fmt.Errorf("eval_metric %q: bad threshold", name)
			}
			threshold = t
		}
		return metric{name: name, eval: elementwise(func(p, y float64) float64 {
			if p > threshold {
				return 1 - y
			}
			return y
		}, nil)}, nil
	case "auc":
		return metric{name: name, maximize: true, eval: auc}, noArg(name, hasArg)
	case "mlogloss":
		return metric{name: name, multiclass: true, eval: mlogloss}, noArg(name, hasArg)
	case "merror":
		return metric{name: name, multiclass: true, eval: merror}, noArg(name, hasArg)
	}
	return metric{}, fmt.Errorf("unknown eval_metric %q (supported: rmse, mae, logloss, error, error@t, auc, mlogloss, merror, poisson-nloglik)", name)
}

func noArg(name string, hasArg bool) error {
	if hasArg {
		return fmt.Errorf("eval_metric %q takes no @ argument", name)
	}
	return nil
}

// elementwise builds a weighted mean of a per-row loss, with an optional final map.
func elementwise(loss func(p, y float64) float64, final func(float64) float64) func(preds, labels, weights []float32, numGroups int) float64 {
	return func(preds, labels, weights []float32, _ int) float64 {
		var sum, wsum float64
		for i, y := range labels {
			w := 1.0
			if weights != nil {
				w = float64(weights[i])
			}
			sum += w * loss(float64(preds[i]), float64(y))
			wsum += w
		}
		v := sum / wsum
		if final != nil {
			v = final(v)
		}
		return v
	}
}

const metricEps = 1e-16

func logloss(p, y float64) float64 {
	pneg := 1 - p
	switch {
	case p < metricEps:
		return -y*math.Log(metricEps) - (1-y)*math.Log(1-metricEps)
	case pneg < metricEps:
		return -y*math.Log(1-metricEps) - (1-y)*math.Log(metricEps)
	}
	return -y*math.Log(p) - (1-y)*math.Log(pneg)
}

func poissonNLogLik(p, y float64) float64 {
	p = max(p, metricEps)
	lg, _ := math.Lgamma(y + 1)
	return lg + p - math.Log(p)*y
}

func mlogloss(preds, labels, weights []float32, k int) float64 {
	var sum, wsum float64
	for i, y := range labels {
		w := 1.0
		if weights != nil {
			w = float64(weights[i])
		}
		p := float64(preds[i*k+int(y)])
		sum += -w * math.Log(max(p, metricEps))
		wsum += w
	}
	return sum / wsum
}

func merror(preds, labels, weights []float32, k int) float64 {
	var sum, wsum float64
	for i, y := range labels {
		w := 1.0
		if weights != nil {
			w = float64(weights[i])
		}
		row := preds[i*k : i*k+k]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		if best != int(y) {
			sum += w
		}
		wsum += w
	}
	return sum / wsum
}

// auc is the weighted area under the ROC curve for binary labels, with tied predictions
// counted as half (the trapezoid rule).
func auc(preds, labels, weights []float32, _ int) float64 {
	idx := make([]int32, len(labels))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		switch {
		case preds[a] > preds[b]:
			return -1
		case preds[a] < preds[b]:
			return 1
		}
		return 0
	})
	var area, tp, fp, totPos, totNeg float64
	for i := 0; i < len(idx); {
		var pos, neg float64
		j := i
		for ; j < len(idx) && preds[idx[j]] == preds[idx[i]]; j++ {
			w := 1.0
			if weights != nil {
				w = float64(weights[idx[j]])
			}
			y := float64(labels[idx[j]])
			pos += y * w
			neg += (1 - y) * w
		}
		area += neg * (tp + pos/2)
		tp += pos
		fp += neg
		i = j
	}
	totPos, totNeg = tp, fp
	if totPos <= 0 || totNeg <= 0 {
		return math.NaN()
	}
	return area / (totPos * totNeg)
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
