package train

import "math"

// histBin accumulates gradient and hessian sums in float64, as XGBoost's hist method does.
type histBin struct {
	g, h float64
}

func (a histBin) sub(b histBin) histBin { return histBin{a.g - b.g, a.h - b.h} }

// kRtEps is XGBoost's threshold below which a loss change is no gain at all.
const kRtEps = 1e-6

// regularizer holds the parameters of XGBoost's weight and gain formulas, float32 as
// XGBoost's TrainParam keeps them.
type regularizer struct {
	lambda, alpha, minChildWeight, maxDeltaStep float32
}

func thresholdL1(w float64, alpha float32) float64 {
	a := float64(alpha)
	switch {
	case w > a:
		return w - a
	case w < -a:
		return w + a
	}
	return 0
}

// weight is XGBoost's CalcWeight: the optimal leaf weight -G/(H+lambda), with L1
// thresholding, the max_delta_step cap, and 0 for a child lighter than min_child_weight.
func (r regularizer) weight(s histBin) float32 {
	if s.h < float64(r.minChildWeight) || s.h <= 0 {
		return 0
	}
	dw := -thresholdL1(s.g, r.alpha) / (s.h + float64(r.lambda))
	if r.maxDeltaStep != 0 && math.Abs(dw) > float64(r.maxDeltaStep) {
		dw = math.Copysign(float64(r.maxDeltaStep), dw)
	}
	return float32(dw)
}

// gainGivenWeight is the split evaluator's CalcGainGivenWeight.
func (r regularizer) gainGivenWeight(s histBin, w float32) float64 {
	if s.h <= 0 {
		return 0
	}
	if r.maxDeltaStep == 0 {
		t := thresholdL1(s.g, r.alpha)
		return t * t / (s.h + float64(r.lambda))
	}
	// With a capped weight XGBoost evaluates the loss at that weight, in float32.
	g, h := float32(s.g), float32(s.h)
	return float64(-(2*g*w + (h+r.lambda)*(w*w)))
}

// gain is the node's own gain ("root_gain" in XGBoost).
func (r regularizer) gain(s histBin) float32 {
	return float32(r.gainGivenWeight(s, r.weight(s)))
}

// splitGain is the summed gain of two children.
func (r regularizer) splitGain(left, right histBin) float32 {
	if r.maxDeltaStep == 0 {
		// The uncapped gain does not depend on the weight; skip computing it.
		return float32(r.gainGivenWeight(left, 0) + r.gainGivenWeight(right, 0))
	}
	return float32(r.gainGivenWeight(left, r.weight(left)) + r.gainGivenWeight(right, r.weight(right)))
}

// splitEntry is the best split found for a node.
type splitEntry struct {
	lossChg float32
	feature int32
	// bin is the last bin that goes left (-1: no non-missing value goes left).
	bin         int32
	value       float32
	defaultLeft bool
	left, right histBin
}

// update replaces the entry when the new split is better, breaking ties toward the lower
// feature index exactly as XGBoost's SplitEntry::NeedReplace does.
func (e *splitEntry) update(c splitEntry) bool {
	if math.IsInf(float64(c.lossChg), 0) || math.IsNaN(float64(c.lossChg)) {
		return false
	}
	var replace bool
	if e.feature <= c.feature {
		replace = c.lossChg > e.lossChg
	} else {
		replace = !(e.lossChg > c.lossChg)
	}
	if replace {
		*e = c
	}
	return replace
}

// enumerate finds feature f's best split in a node's histogram and folds it into best.
// The forward pass sends missing values right; when the node has missing values for f, a
// backward pass tries sending them left (XGBoost's EnumerateSplit with d_step +1 and -1).
func (r regularizer) enumerate(hist []histBin, c *cuts, offset int32, f int, parent histBin, rootGain float32, best *splitEntry) {
	nb := c.numBins(f)
	fc := c.featureCuts(f)
	bins := hist[offset : int(offset)+nb]
	miss := hist[int(offset)+nb]
	mcw := float64(r.minChildWeight)
	var left histBin
	for i, b := range bins {
		left.g += b.g
		left.h += b.h
		right := parent.sub(left)
		if left.h >= mcw && right.h >= mcw {
			loss := r.splitGain(left, right) - rootGain
			best.update(splitEntry{lossChg: loss, feature: int32(f), bin: int32(i), value: fc[i], left: left, right: right})
		}
	}
	if miss.g == 0 && miss.h == 0 {
		return
	}
	var rightSum histBin
	for i := nb - 1; i >= 0; i-- {
		rightSum.g += bins[i].g
		rightSum.h += bins[i].h
		leftSum := parent.sub(rightSum)
		if leftSum.h >= mcw && rightSum.h >= mcw {
			loss := r.splitGain(leftSum, rightSum) - rootGain
			value := c.minVals[f]
			if i > 0 {
				value = fc[i-1]
			}
			best.update(splitEntry{lossChg: loss, feature: int32(f), bin: int32(i - 1), value: value, defaultLeft: true, left: leftSum, right: rightSum})
		}
	}
}
