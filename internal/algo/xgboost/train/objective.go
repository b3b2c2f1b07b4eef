package train

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// gradPair is a row's gradient and hessian, float32 as XGBoost keeps them.
type gradPair struct {
	g, h float32
}

type objKind uint8

const (
	objSquared objKind = iota
	objRegLogistic
	objBinaryLogistic
	objPoisson
	objSoftprob
	objSoftmax
)

type linkKind uint8

const (
	linkIdentity linkKind = iota
	linkLogit
	linkLog
)

// objective describes a supported learning objective.
type objective struct {
	kind          objKind
	link          linkKind
	multiclass    bool
	defaultMetric string
}

var objectives = map[string]objective{
	"reg:squarederror": {kind: objSquared, defaultMetric: "rmse"},
	"reg:linear":       {kind: objSquared, defaultMetric: "rmse"},
	"reg:logistic":     {kind: objRegLogistic, link: linkLogit, defaultMetric: "rmse"},
	"binary:logistic":  {kind: objBinaryLogistic, link: linkLogit, defaultMetric: "logloss"},
	"count:poisson":    {kind: objPoisson, link: linkLog, defaultMetric: "poisson-nloglik"},
	"multi:softprob":   {kind: objSoftprob, multiclass: true, defaultMetric: "mlogloss"},
	"multi:softmax":    {kind: objSoftmax, multiclass: true, defaultMetric: "mlogloss"},
}

func lookupObjective(name string) (objective, error) {
	o, ok := objectives[name]
	if !ok {
		names := make([]string, 0, len(objectives))
		for n := range objectives {
			names = append(names, n)
		}
		return o, fmt.Errorf("unknown objective %q (supported: %s)", name, strings.Join(sortedStrings(names), ", "))
	}
	return o, nil
}

// baseMargin maps base_score to the margin boosting starts from, as XGBoost's ProbToMargin.
func (o objective) baseMargin(baseScore float32) float32 {
	switch o.link {
	case linkLogit:
		return -float32(math.Log(float64(1/baseScore - 1)))
	case linkLog:
		return float32(math.Log(float64(baseScore)))
	}
	return baseScore
}

// objectiveParams are the objective's own parameters as XGBoost writes them in a model.
func (o objective) objectiveParams(p *Params) map[string]string {
	switch o.kind {
	case objSquared, objRegLogistic, objBinaryLogistic:
		return map[string]string{"scale_pos_weight": formatParam(p.ScalePosWeight)}
	case objPoisson:
		return map[string]string{"max_delta_step": formatParam(p.MaxDeltaStep)}
	case objSoftprob, objSoftmax:
		return map[string]string{"num_class": strconv.Itoa(p.NumClass)}
	}
	return nil
}

// formatParam prints a float32 parameter the way XGBoost serialises it ("1", "0.699999988").
func formatParam(f float32) string {
	return strconv.FormatFloat(float64(f), 'g', 9, 64)
}

// checkLabels rejects labels the objective cannot learn from, naming the first bad row.
func (o objective) checkLabels(labels []float32, numClass int) error {
	for i, y := range labels {
		var bad string
		switch o.kind {
		case objRegLogistic, objBinaryLogistic:
			if !(y >= 0 && y <= 1) {
				bad = "must be in [0, 1] for logistic objectives"
			}
		case objPoisson:
			if !(y >= 0) {
				bad = "must be non-negative for count:poisson"
			}
		case objSoftprob, objSoftmax:
			if !(y >= 0 && y < float32(numClass) && y == float32(math.Trunc(float64(y)))) {
				bad = fmt.Sprintf("must be an integer class in [0, %d) (num_class=%d)", numClass, numClass)
			}
		default:
			if math.IsNaN(float64(y)) || math.IsInf(float64(y), 0) {
				bad = "must be finite"
			}
		}
		if bad != "" {
			return fmt.Errorf("label %v in row %d %s", y, i+1, bad)
		}
	}
	return nil
}

func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// gradients fills out (numGroups blocks of n rows, group-major) with the gradient and
// hessian of every row at the current margins (row-major, numGroups per row), for rows
// [lo, hi). weights must not be nil (unit weights are a slice of ones, which keeps the
// loops free of per-row branches). It is called in parallel over disjoint row ranges.
func (o objective) gradients(p *Params, margins, labels, weights []float32, out []gradPair, n, lo, hi int) {
	switch o.kind {
	case objSquared:
		for i := lo; i < hi; i++ {
			w := weights[i]
			out[i] = gradPair{(margins[i] - labels[i]) * w, w}
		}
	case objRegLogistic, objBinaryLogistic:
		spw := p.ScalePosWeight
		for i := lo; i < hi; i++ {
			w := weights[i]
			y := labels[i]
			if y == 1 {
				w *= spw
			}
			pr := sigmoid(margins[i])
			h := max(pr*(1-pr), 1e-16)
			out[i] = gradPair{(pr - y) * w, h * w}
		}
	case objPoisson:
		mds := p.MaxDeltaStep
		for i := lo; i < hi; i++ {
			w := weights[i]
			m := margins[i]
			out[i] = gradPair{(expf(m) - labels[i]) * w, expf(m+mds) * w}
		}
	case objSoftprob, objSoftmax:
		k := p.NumClass
		for i := lo; i < hi; i++ {
			w := weights[i]
			row := margins[i*k : i*k+k]
			wmax := row[0]
			for _, v := range row[1:] {
				wmax = max(wmax, v)
			}
			var wsum float64
			for _, v := range row {
				wsum += float64(expf(v - wmax))
			}
			label := int(labels[i])
			for c, v := range row {
				pr := expf(v-wmax) / float32(wsum)
				h := max(2*pr*(1-pr)*w, 1e-16)
				if c == label {
					pr -= 1
				}
				out[c*n+i] = gradPair{pr * w, h}
			}
		}
	}
}

// transform turns margins (row-major, numGroups per row) into predictions in place of
// dst: probabilities for logistic and multi-class objectives, counts for poisson.
func (o objective) transform(margins, dst []float32, numGroups int) {
	switch o.kind {
	case objRegLogistic, objBinaryLogistic:
		for i, m := range margins {
			dst[i] = sigmoid(m)
		}
	case objPoisson:
		for i, m := range margins {
			dst[i] = expf(m)
		}
	case objSoftprob, objSoftmax:
		for r := 0; r+numGroups <= len(margins); r += numGroups {
			softmax(margins[r:r+numGroups], dst[r:r+numGroups])
		}
	default:
		copy(dst, margins)
	}
}

func softmax(in, out []float32) {
	wmax := in[0]
	for _, v := range in[1:] {
		wmax = max(wmax, v)
	}
	var wsum float32
	for i, v := range in {
		out[i] = expf(v - wmax)
		wsum += out[i]
	}
	for i := range out {
		out[i] /= wsum
	}
}
