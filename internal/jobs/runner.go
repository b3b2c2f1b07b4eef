package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// Run drives the queue until ctx ends: it first takes back the jobs that were running when the
// server last stopped, then claims queued jobs whenever a slot is free. When ctx ends, running
// jobs are killed and left claimed, so that the next start runs them again.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("jobs: runner is already running")
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	if err := r.recover(ctx, true); err != nil && ctx.Err() == nil {
		r.log.Error("jobs: recovering interrupted jobs", slog.Any("error", err))
	}
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	lastBeat := r.now()
	for {
		if err := r.dispatch(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("jobs: claiming queued jobs", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			r.drain()
			return nil
		case <-r.wake:
		case <-tick.C:
			if r.now().Sub(lastBeat) >= r.cfg.Lease/4 {
				lastBeat = r.now()
				r.heartbeat(ctx)
				if err := r.recover(ctx, false); err != nil && ctx.Err() == nil {
					r.log.Error("jobs: taking over abandoned jobs", slog.Any("error", err))
				}
			}
			r.pollStops(ctx)
		}
	}
}

// drain waits for the executions to notice the end of the run context and return.
func (r *Runner) drain() {
	r.mu.Lock()
	var waits []chan struct{}
	for _, a := range r.active {
		waits = append(waits, a.finished)
	}
	r.mu.Unlock()
	for _, w := range waits {
		<-w
	}
}

// dispatch claims as many queued jobs as there are free slots and starts them.
func (r *Runner) dispatch(ctx context.Context) error {
	r.mu.Lock()
	free := r.cfg.Slots - len(r.active)
	r.mu.Unlock()
	if free <= 0 {
		return nil
	}
	var claimed []store.Job
	err := r.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		claimed, err = tx.ClaimJobs(ctx, r.cfg.Owner, free, r.now().UTC())
		return err
	})
	if err != nil {
		return err
	}
	for _, j := range claimed {
		jctx, cancel := context.WithCancel(ctx)
		a := &active{finished: make(chan struct{}), cancel: cancel}
		r.mu.Lock()
		r.active[j.ARN] = a
		r.mu.Unlock()
		go func() {
			defer func() {
				cancel()
				r.mu.Lock()
				delete(r.active, j.ARN)
				r.mu.Unlock()
				close(a.finished)
				r.Wake()
			}()
			r.execute(ctx, jctx, j, a)
		}()
	}
	return nil
}

// heartbeat renews this runner's claims.
func (r *Runner) heartbeat(ctx context.Context) {
	err := r.store.InTx(ctx, func(tx *store.Tx) error { return tx.HeartbeatJobs(ctx, r.cfg.Owner, r.now().UTC()) })
	if err != nil && ctx.Err() == nil {
		r.log.Warn("jobs: heartbeat", slog.Any("error", err))
	}
}

// pollStops passes on stop requests that reached another replica.
func (r *Runner) pollStops(ctx context.Context) {
	r.mu.Lock()
	n := len(r.active)
	r.mu.Unlock()
	if n == 0 {
		return
	}
	jobs, err := r.store.JobsInPhase(ctx, store.JobRunning)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if j.Owner == r.cfg.Owner && j.StopRequested {
			r.signalStop(j.ARN)
		}
	}
}

// signalStop asks a job this runner executes to stop: SIGTERM then SIGKILL after the grace
// period once its process runs, or an abort of its staging before that.
func (r *Runner) signalStop(arn string) {
	r.mu.Lock()
	a := r.active[arn]
	r.mu.Unlock()
	if a == nil {
		return
	}
	a.mu.Lock()
	already := a.stop
	a.stop = true
	h, cancel := a.handle, a.cancel
	a.mu.Unlock()
	switch {
	case already:
	case h != nil:
		h.Stop(r.cfg.StopGrace)
	case cancel != nil:
		cancel()
	}
}

// recover takes back jobs left in the running phase: at start (own is true) the ones this
// runner owned before it stopped, and at any time the ones whose owner stopped renewing its
// claim. Each is queued again to run from the start, or finished when running it again is not
// safe or not wanted.
func (r *Runner) recover(ctx context.Context, own bool) error {
	jobs, err := r.store.JobsInPhase(ctx, store.JobRunning)
	if err != nil {
		return err
	}
	stale := r.now().Add(-r.cfg.Lease)
	for _, j := range jobs {
		mine := j.Owner == r.cfg.Owner
		switch {
		case mine && !own:
			continue // running here right now
		case mine:
		case j.HeartbeatAt.After(stale):
			continue // another runner is alive and working on it
		}
		if err := r.requeue(ctx, j, mine); err != nil {
			return fmt.Errorf("jobs: recover %s: %w", j.ARN, err)
		}
	}
	return nil
}

// requeue puts an interrupted job back in the queue, or ends it.
func (r *Runner) requeue(ctx context.Context, j store.Job, sameHost bool) error {
	// The job's own process died with the server, but its children may live on; they must be
	// gone before the job runs again.
	var leftovers error
	if sameHost && j.PID > 0 && !j.StopRequested {
		leftovers = endLeftovers(j.PID, j.ARN)
	}
	var queued bool
	rec, err := r.update(ctx, j.ARN, func(rec *record) error {
		if rec.Phase != store.JobRunning || rec.Owner != j.Owner {
			return errNoChange // someone else got there first
		}
		now := r.now().UTC()
		why := "the server restarted"
		if !sameHost {
			why = fmt.Sprintf("runner %s stopped renewing its claim", rec.Owner)
		}
		end := func(status, secondary, reason string) {
			rec.Status, rec.Phase, rec.EndedAt, rec.PID, rec.FailureReason = status, store.JobDone, now, 0, reason
			rec.transition(secondary, reason, now)
		}
		switch {
		case rec.StopRequested || rec.Status == StatusStopping:
			end(StatusStopped, SecondaryStopped, "The job was stopped while "+why+".")
		case leftovers != nil:
			end(StatusFailed, SecondaryFailed, fmt.Sprintf(
				"InternalServerError: %s while the job was running, and its process group %d could not be ended (%v); the job was not run again, so that two copies never write the same outputs. End those processes and create the job again.",
				capitalize(why), rec.PID, leftovers))
		case rec.Attempt >= r.cfg.MaxAttempts:
			end(StatusFailed, SecondaryFailed, fmt.Sprintf(
				"InternalServerError: %s during each of the job's %d attempts; it is not run again.", why, rec.Attempt))
		default:
			rec.Phase, rec.Owner, rec.PID = store.JobQueued, "", 0
			rec.transition(SecondaryRestarting, fmt.Sprintf("Restarted after %s: attempt %d runs from the start.", why, rec.Attempt+1), now)
			rec.transition(SecondaryStarting, "Starting the job again", now)
			queued = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.log.Warn("jobs: recovered an interrupted job", "job", j.ARN, "status", rec.Status, "requeued", queued, "attempt", rec.Attempt)
	if queued {
		r.Wake()
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// wait blocks until the job reaches a terminal status.
func (r *Runner) wait(ctx context.Context, kind Kind, name string) (*record, error) {
	for {
		changed := r.store.Changed()
		rec, err := r.load(ctx, kind, name)
		if err != nil {
			return nil, err
		}
		if Terminal(rec.Status) {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		case <-time.After(r.cfg.Poll):
		}
	}
}
