package train

import (
	"sync"
	"sync/atomic"
)

// parallelFor calls fn(i) for i in [0, n) on up to threads goroutines, handing out indices
// one at a time so uneven work balances itself.
func parallelFor(n, threads int, fn func(i int)) {
	parallelForWorker(n, threads, func(_, i int) { fn(i) })
}

// parallelForWorker is parallelFor that also tells fn which worker (0..threads-1) runs it,
// so callers can keep per-worker scratch space.
func parallelForWorker(n, threads int, fn func(worker, i int)) {
	if n <= 0 {
		return
	}
	threads = max(1, min(threads, n))
	if threads == 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// parallelRanges splits [0, n) into about threads*4 ranges of at least minSize and calls
// fn on each, in parallel.
func parallelRanges(n, threads, minSize int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	size := max(minSize, (n+threads*4-1)/(threads*4))
	chunks := (n + size - 1) / size
	parallelFor(chunks, threads, func(c int) {
		fn(c*size, min((c+1)*size, n))
	})
}
