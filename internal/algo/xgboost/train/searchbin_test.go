package train

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSearchBin checks the branch-free search against the definition: the first cut
// greater than x, clamped to the last bin.
func TestSearchBin(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := 1; n <= 40; n++ {
		fc := make([]float32, n)
		for i := range fc {
			fc[i] = float32(i * 2)
		}
		for _, x := range []float32{-1, 0, 0.5, 1, 2, float32(2*n - 2), float32(2 * n), 1e9} {
			want := len(fc) - 1
			if i := slices.IndexFunc(fc, func(c float32) bool { return c > x }); i >= 0 {
				want = i
			}
			if got := searchBin(fc, x); got != want {
				t.Fatalf("n=%d x=%v: bin %d, want %d", n, x, got, want)
			}
		}
		for range 50 {
			x := float32(rng.Float64()*float64(2*n+4)) - 2
			want := len(fc) - 1
			if i := slices.IndexFunc(fc, func(c float32) bool { return c > x }); i >= 0 {
				want = i
			}
			if got := searchBin(fc, x); got != want {
				t.Fatalf("n=%d x=%v: bin %d, want %d", n, x, got, want)
			}
		}
	}
}
