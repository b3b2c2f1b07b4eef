package train

import (
	"context"
	"math/rand/v2"
	"testing"
)

// benchQuantized builds a random dense quantised matrix of n rows and 28 features with
// 256 bins each; four features have only three values, mostly the first, like flags.
func benchQuantized(n int) (*quantized[uint8], []gradPair, []uint32) {
	const nf = 28
	rng := rand.New(rand.NewPCG(1, 2))
	q := &quantized[uint8]{rows: n, cols: nf, bins: make([]uint8, n*nf), colBins: make([]uint8, n*nf),
		offsets: make([]int32, nf+1), missing: make([]uint8, nf), hasMissing: make([]bool, nf)}
	for f := 0; f < nf; f++ {
		q.offsets[f+1] = q.offsets[f] + 257
	}
	for r := 0; r < n; r++ {
		for f := 0; f < nf; f++ {
			b := uint8(rng.IntN(256))
			if f%7 == 2 {
				b = 0
				if rng.Float64() > 0.7 {
					b = uint8(1 + rng.IntN(2))
				}
			}
			q.colBins[f*n+r] = b
			q.bins[r*nf+f] = b
		}
	}
	gp := make([]gradPair, n)
	for i := range gp {
		gp[i] = gradPair{float32(rng.NormFloat64()), 0.25}
	}
	rows := make([]uint32, n)
	for i := range rows {
		rows[i] = uint32(i)
	}
	return q, gp, rows
}

func BenchmarkBuildHist(b *testing.B) {
	q, gp, rows := benchQuantized(1 << 18)
	hist := make([]histBin, q.numSlots())
	b.SetBytes(int64(len(rows) * q.cols))
	for b.Loop() {
		buildHist(q, gp, rows, hist)
	}
}

func BenchmarkPartitionRows(b *testing.B) {
	q, _, rows := benchQuantized(1 << 18)
	work := make([]uint32, len(rows))
	tmp := make([]uint32, len(rows))
	b.SetBytes(int64(len(rows)))
	for b.Loop() {
		copy(work, rows)
		partitionRows(work, tmp, q, 5, 127, false)
	}
}

// BenchmarkTrain times whole training runs (cuts, binning, 20 rounds of depth-6 trees) on
// 200,000 rows; bench/train compares full-size runs with real XGBoost.
func BenchmarkTrain(b *testing.B) {
	x := synthetic(200_000, "binary:logistic", 0, true, 1)
	p, err := ParseParams(map[string]string{"num_round": "20", "objective": "binary:logistic", "max_depth": "6"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Train(context.Background(), p, x, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
