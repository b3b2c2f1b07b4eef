package xgboost

import (
	"math"
	"math/rand/v2"
)

// randomModel builds a model the way a trainer would (no Parents, no node statistics):
// ntrees full trees of the given depth over nfeat features, thresholds and leaves drawn
// from rng, default directions mixed. Used by compatibility tests and benchmarks.
func randomModel(rng *rand.Rand, objective string, numClass, ntrees, depth, nfeat int) *Model {
	m := &Model{Objective: objective, BaseScore: 0.5, NumClass: numClass, NumFeature: nfeat}
	groups := m.NumGroups()
	for k := range ntrees {
		m.Trees = append(m.Trees, randomTree(rng, depth, nfeat, int32(k%groups)))
	}
	return m
}

func randomTree(rng *rand.Rand, depth, nfeat int, group int32) Tree {
	n := 1<<(depth+1) - 1
	t := Tree{
		Group:           group,
		LeftChildren:    make([]int32, n),
		RightChildren:   make([]int32, n),
		SplitIndices:    make([]int32, n),
		SplitConditions: make([]float32, n),
		DefaultLeft:     make([]bool, n),
	}
	internal := 1<<depth - 1
	for i := range n {
		if i < internal {
			t.LeftChildren[i], t.RightChildren[i] = int32(2*i+1), int32(2*i+2)
			t.SplitIndices[i] = int32(rng.IntN(nfeat))
			t.SplitConditions[i] = float32(math.Round(rng.NormFloat64()*8) / 8) // ties with inputs happen
			t.DefaultLeft[i] = rng.IntN(2) == 0
		} else {
			t.LeftChildren[i], t.RightChildren[i] = NoChild, NoChild
			t.SplitConditions[i] = float32(rng.NormFloat64() * 0.1)
		}
	}
	return t
}

// randomRows draws n rows with NaNs and values on the thresholds' grid.
func randomRows(rng *rand.Rand, n, nfeat int) []float32 {
	return randomRowsMissing(rng, n, nfeat, 0.1)
}

// randomRowsMissing draws rows where a value is missing with probability missing.
func randomRowsMissing(rng *rand.Rand, n, nfeat int, missing float64) []float32 {
	rows := make([]float32, n*nfeat)
	for i := range rows {
		switch r := rng.Float64(); {
		case r < missing:
			rows[i] = float32(math.NaN())
		case r < missing+0.3:
			rows[i] = float32(math.Round(rng.NormFloat64()*8) / 8)
		default:
			rows[i] = float32(rng.NormFloat64())
		}
	}
	return rows
}
