//go:build race

package serving

// raceEnabled skips allocation checks: the race detector makes sync.Pool drop items.
const raceEnabled = true
