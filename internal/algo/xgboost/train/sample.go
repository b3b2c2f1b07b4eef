package train

import (
	"math/rand/v2"
	"slices"
)

// colSampler draws the features a tree, a depth and a node may split on, nesting the three
// samples as XGBoost's ColumnSampler does (bytree, then bylevel, then bynode).
type colSampler struct {
	rng                     *rand.Rand
	byTree, byLevel, byNode float32
	tree                    []int
	levels                  map[int][]int
}

func newColSampler(rng *rand.Rand, p *Params) *colSampler {
	return &colSampler{rng: rng, byTree: p.ColsampleByTree, byLevel: p.ColsampleByLevel, byNode: p.ColsampleByNode}
}

// newTree draws the tree's features from all nf features.
func (c *colSampler) newTree(nf int) {
	all := make([]int, nf)
	for i := range all {
		all[i] = i
	}
	c.tree = c.sample(all, c.byTree)
	c.levels = map[int][]int{}
}

// features returns the features a node at depth may use.
func (c *colSampler) features(depth int) []int {
	if c.byLevel == 1 && c.byNode == 1 {
		return c.tree
	}
	lvl, ok := c.levels[depth]
	if !ok {
		lvl = c.sample(c.tree, c.byLevel)
		c.levels[depth] = lvl
	}
	if c.byNode == 1 {
		return lvl
	}
	return c.sample(lvl, c.byNode)
}

// sample keeps max(1, int(frac*len)) of the features, in ascending order.
func (c *colSampler) sample(from []int, frac float32) []int {
	if frac == 1 {
		return from
	}
	n := max(1, int(frac*float32(len(from))))
	out := slices.Clone(from)
	c.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	out = out[:n]
	slices.Sort(out)
	return out
}

// sampleRows writes into dst the rows (ascending) a tree trains on: each row independently
// with probability frac, as XGBoost's uniform subsampling does. Unsampled rows are marked
// in the returned mask when frac < 1.
func sampleRows(rng *rand.Rand, n int, frac float32, dst []uint32) (int, []bool) {
	if frac >= 1 {
		for i := 0; i < n; i++ {
			dst[i] = uint32(i)
		}
		return n, nil
	}
	out := make([]bool, n)
	k := 0
	// Compare against a 64-bit threshold: one draw per row, no float conversion.
	thr := uint64(float64(frac) * (1 << 64))
	for i := 0; i < n; i++ {
		if rng.Uint64() < thr {
			dst[k] = uint32(i)
			k++
		} else {
			out[i] = true
		}
	}
	return k, out
}
