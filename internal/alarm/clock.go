package alarm

import "time"

// Clock is the time source of the recorder and the evaluator. Tests pass a fake one
// (alarmtest.Clock) so that periods, evaluation windows and missing data are exercised without
// sleeping.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has elapsed on this clock.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
