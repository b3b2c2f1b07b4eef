package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// driver runs one execution. Its state is a copy of the execution's rows, read at start and
// again whenever another writer (an API call) may have changed them; only the run goroutine
// touches it. Notifications arrive through poke and jobChanged.
type driver struct {
	e   *Engine
	id  int64
	arn string
	log *slog.Logger

	mu       sync.Mutex
	wakeCh   chan struct{}
	reload   bool
	checkAll bool
	changed  map[string]bool // job ARNs that changed state

	// Owned by the run goroutine.
	loaded     bool
	exec       store.PipelineExecution
	roleARN    string
	def        *Definition
	order      []string
	params     map[string]any
	experiment map[string]any
	rows       map[string]*store.PipelineStep
	props      map[string]any
	files      map[string]propertyFiles
	timer      *time.Timer
}

func newDriver(e *Engine, id int64, arn string) *driver {
	return &driver{
		e: e, id: id, arn: arn, log: e.log.With("execution", arn),
		wakeCh: make(chan struct{}, 1), changed: map[string]bool{},
	}
}

// poke wakes the driver; with reload it first reads its rows again, and without it re-checks
// everything it waits on.
func (d *driver) poke(reload bool) {
	d.mu.Lock()
	if reload {
		d.reload = true
	} else {
		d.checkAll = true
	}
	d.mu.Unlock()
	d.wake()
}

// jobChanged tells the driver that a job it waits on has ended or is stopping.
func (d *driver) jobChanged(arn string) {
	d.mu.Lock()
	d.changed[arn] = true
	d.mu.Unlock()
	d.wake()
}

func (d *driver) wake() {
	select {
	case d.wakeCh <- struct{}{}:
	default:
	}
}

// pending reports whether a notification is waiting.
func (d *driver) pending() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reload || d.checkAll || len(d.changed) > 0
}

// inbox is what arrived since the last pass.
type inbox struct {
	reload, checkAll bool
	changed          map[string]bool
}

func (d *driver) take() inbox {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := inbox{reload: d.reload, checkAll: d.checkAll, changed: d.changed}
	d.reload, d.checkAll, d.changed = false, false, map[string]bool{}
	return in
}

// run drives the execution until it ends or ctx does.
func (d *driver) run(ctx context.Context) {
	defer func() {
		if d.timer != nil {
			d.timer.Stop()
		}
	}()
	failures := 0
	for {
		finished, err := d.pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrConflict) && failures < 5:
			// Another writer changed a row: read everything again and decide afresh.
			d.loaded = false
			failures++
			continue
		case err != nil:
			d.loaded = false
			failures++
			delay := min(time.Duration(1<<min(failures, 5))*100*time.Millisecond, 5*time.Second)
			d.log.Warn("pipeline: execution pass failed; retrying", "delay", delay, slog.Any("error", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			continue
		}
		failures = 0
		if finished {
			if d.e.retire(d) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wakeCh:
		}
	}
}

// load reads the execution and its steps.
func (d *driver) load(ctx context.Context) error {
	x, err := d.e.store.PipelineExecution(ctx, d.arn)
	if err != nil {
		return err
	}
	rows, err := d.e.store.PipelineSteps(ctx, x.ID)
	if err != nil {
		return err
	}
	d.exec = x
	d.rows = make(map[string]*store.PipelineStep, len(rows))
	for i := range rows {
		d.rows[rows[i].Name] = &rows[i]
	}
	d.props, d.files = map[string]any{}, map[string]propertyFiles{}
	if p, err := d.e.store.Pipeline(ctx, x.PipelineARN); err == nil {
		d.roleARN = p.RoleARN
	}
	if d.def == nil {
		def, err := Parse([]byte(x.Definition))
		if err != nil {
			return d.failUnrunnable(ctx, fmt.Sprintf("The execution's pipeline definition cannot be read: %v", err))
		}
		var given []ParameterValue
		if err := json.Unmarshal(x.Parameters, &given); err != nil {
			return d.failUnrunnable(ctx, fmt.Sprintf("The execution's parameters cannot be read: %v", err))
		}
		params, err := def.BindParameters(given)
		if err != nil {
			return d.failUnrunnable(ctx, fmt.Sprintf("The execution's parameters are not valid: %v", err))
		}
		d.def, d.order, d.params = def, def.Graph().Order(), params
	}
	d.experiment = map[string]any{}
	if len(x.Experiment) > 0 {
		json.Unmarshal(x.Experiment, &d.experiment)
	}
	d.loaded = true
	// Re-attach to everything a running step waits on.
	for _, r := range d.rows {
		if (r.Status == StepExecuting || r.Status == StepStopping) && r.RetryAt.IsZero() && r.ResourceARN != "" {
			d.e.watch(r.ResourceARN, d)
		}
	}
	return nil
}

// failUnrunnable ends an execution whose stored state cannot be used.
func (d *driver) failUnrunnable(ctx context.Context, reason string) error {
	if ExecutionDone(d.exec.Status) {
		d.loaded = true
		return nil
	}
	prev := d.exec.Status
	d.exec.Status, d.exec.FailureReason = ExecutionFailed, reason
	d.exec.EndedAt, d.exec.UpdatedAt = d.e.now(), d.e.now()
	err := d.e.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.UpdatePipelineExecution(ctx, &d.exec); err != nil {
			return err
		}
		return d.e.emitExecution(ctx, tx, &d.exec, prev)
	})
	if err != nil {
		return err
	}
	d.loaded = true
	return nil
}

// batch collects the changes of one transaction.
type batch struct {
	inserts  []*store.PipelineStep
	updates  []*store.PipelineStep
	versions map[*store.PipelineStep]int64  // row version before this batch
	prev     map[*store.PipelineStep]string // status before this batch
	extra    map[*store.PipelineStep]map[string]any
	exec     bool
	execPrev string
}

func (b *batch) empty() bool { return len(b.inserts) == 0 && len(b.updates) == 0 && !b.exec }

// insert records a new row.
func (b *batch) insert(r *store.PipelineStep, extra map[string]any) {
	b.inserts = append(b.inserts, r)
	b.note(r, "", extra)
}

// update records a changed row; call it before changing the row.
func (b *batch) update(r *store.PipelineStep) {
	if r.ID == 0 || slices.Contains(b.inserts, r) {
		return // inserted in this batch: written as it ends up
	}
	if _, seen := b.prev[r]; seen {
		return
	}
	b.updates = append(b.updates, r)
	if b.versions == nil {
		b.versions = map[*store.PipelineStep]int64{}
	}
	b.versions[r] = r.Version
	b.note(r, r.Status, nil)
}

func (b *batch) note(r *store.PipelineStep, prev string, extra map[string]any) {
	if b.prev == nil {
		b.prev, b.extra = map[*store.PipelineStep]string{}, map[*store.PipelineStep]map[string]any{}
	}
	if _, seen := b.prev[r]; !seen {
		b.prev[r] = prev
	}
	if extra != nil {
		b.extra[r] = extra
	}
}

// commit writes a batch in one transaction with the events it implies.
func (d *driver) commit(ctx context.Context, b *batch) error {
	if b.empty() {
		return nil
	}
	execVersion := d.exec.Version
	err := d.e.store.InTx(ctx, func(tx *store.Tx) error {
		// InTx may run this again after a transient failure: start from the versions read.
		d.exec.Version = execVersion
		for r, v := range b.versions {
			r.Version = v
		}
		for _, r := range b.inserts {
			if err := tx.InsertPipelineStep(ctx, r); err != nil {
				return err
			}
		}
		for _, r := range b.updates {
			if err := tx.UpdatePipelineStep(ctx, r); err != nil {
				return err
			}
		}
		for _, r := range append(slices.Clone(b.inserts), b.updates...) {
			if r.Status != b.prev[r] {
				if err := d.e.emitStep(ctx, tx, &d.exec, r, b.extra[r]); err != nil {
					return err
				}
			}
		}
		if b.exec {
			if err := tx.UpdatePipelineExecution(ctx, &d.exec); err != nil {
				return err
			}
			if d.exec.Status != b.execPrev {
				if err := d.e.emitExecution(ctx, tx, &d.exec, b.execPrev); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		d.loaded = false
		return err
	}
	*b = batch{}
	return nil
}

// pass does everything that can be done now and reports whether the execution has ended.
func (d *driver) pass(ctx context.Context) (bool, error) {
	in := d.take()
	if !d.loaded || in.reload {
		if err := d.load(ctx); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return true, nil // the pipeline was deleted
			}
			return false, err
		}
		in.checkAll = true
	}
	if ExecutionDone(d.exec.Status) {
		return true, nil
	}
	var b batch

	// 1. Steps waiting on a job: look at the ones whose job changed.
	for _, name := range d.order {
		r := d.rows[name]
		if r == nil || !d.waitingOnResource(r) {
			continue
		}
		if !in.checkAll && !in.changed[r.ResourceARN] {
			continue
		}
		a := d.attempt(name)
		out := a.kind.check(ctx, a)
		if out.status == StepExecuting {
			continue
		}
		d.finishAttempt(&b, a, out)
	}

	// 2. A stop: stop what runs, start nothing more.
	stopping := d.exec.Status == ExecutionStopping
	if stopping {
		for _, name := range d.order {
			r := d.rows[name]
			if r == nil || stepDone(r.Status) || r.Status == StepStopping {
				continue
			}
			b.update(r)
			if r.Status == StepStarting || !r.RetryAt.IsZero() {
				d.end(r, StepStopped, "The execution was stopped before the step's attempt started.")
				continue
			}
			a := d.attempt(name)
			if err := a.kind.stop(ctx, a); err != nil {
				d.log.Warn("pipeline: stopping a step", "step", name, slog.Any("error", err))
			}
			r.Status, r.UpdatedAt = StepStopping, d.e.now()
		}
	}

	// 3. Start what is due and ready, until nothing more can start now.
	for !stopping {
		progressed, err := d.schedule(ctx, &b)
		if err != nil {
			return false, err
		}
		if !progressed {
			break
		}
	}
	if err := d.commit(ctx, &b); err != nil {
		return false, err
	}

	// 4. The end of the execution.
	if done := d.conclude(&b); done {
		if err := d.commit(ctx, &b); err != nil {
			return false, err
		}
		return true, nil
	}
	d.armTimer()
	return false, nil
}

// waitingOnResource reports whether a step waits for something it created (a job) to finish.
func (d *driver) waitingOnResource(r *store.PipelineStep) bool {
	return (r.Status == StepExecuting || r.Status == StepStopping) && r.RetryAt.IsZero() && r.ResourceARN != "" &&
		kindFor(StepType(r.Type)).launchesJob()
}

// schedule launches the attempts that are due and the steps that have become ready. It commits
// the rows of steps about to create a job before creating it, and reports whether any step
// started or ended, in which case more may be ready.
func (d *driver) schedule(ctx context.Context, b *batch) (bool, error) {
	now := d.e.now()
	var launch []*attempt
	progressed := false

	// Attempts that are due: a retry whose delay has passed, or a step left Starting (by a
	// restart, or by RetryPipelineExecution).
	for _, name := range d.order {
		r := d.rows[name]
		if r == nil {
			continue
		}
		if r.Status == StepStarting || (r.Status == StepExecuting && !r.RetryAt.IsZero() && !r.RetryAt.After(now)) {
			launch = append(launch, d.attempt(name))
		}
	}

	// Steps that have become ready, unless a failure means nothing new starts.
	if !d.anyFailed() {
		skipped := d.skipped()
		limit := d.parallelLimit()
		running := d.running()
		for _, name := range d.order {
			if limit > 0 && running >= limit {
				break
			}
			if d.rows[name] != nil || skipped[name] || !d.upstreamSucceeded(name) {
				continue
			}
			step, _ := d.def.Step(name)
			r := d.newRow(step, now)
			a := &attempt{d: d, step: step, row: r, kind: kindFor(step.Type)}
			progressed = true
			if hit, err := d.cacheLookup(ctx, a); err != nil {
				return false, err
			} else if hit {
				d.rows[name] = r
				b.insert(r, nil)
				continue
			}
			if a.kind.launchesJob() {
				// The row exists before the job does, so that a restart finds the step.
				d.rows[name] = r
				b.insert(r, nil)
				launch = append(launch, a)
				running++
				continue
			}
			out := a.kind.start(ctx, a)
			d.rows[name] = r
			b.insert(r, out.event)
			d.applyStart(a, out)
			if !stepDone(r.Status) {
				running++ // a Callback step waits
			}
			if step.Type == StepCondition {
				skipped = d.skipped() // the branch not taken must not start in this loop
			}
		}
	}
	if len(launch) == 0 {
		return progressed, nil
	}
	if err := d.commit(ctx, b); err != nil {
		return false, err
	}
	for _, a := range launch {
		b.update(a.row)
		a.row.RetryAt = time.Time{}
		a.row.StartedAt, a.row.UpdatedAt = d.e.now(), d.e.now()
		out := a.kind.start(ctx, a)
		if out.event != nil {
			b.note(a.row, "", out.event)
		}
		d.applyStart(a, out)
		progressed = true
	}
	return progressed, nil
}

// newRow is the first row of a step.
func (d *driver) newRow(s *Step, now time.Time) *store.PipelineStep {
	return &store.PipelineStep{
		ExecutionID: d.exec.ID, PipelineID: d.exec.PipelineID, Name: s.Name, Type: string(s.Type),
		DisplayName: s.DisplayName, Description: s.Description, Status: StepStarting, Attempt: 1,
		FirstStartedAt: now, StartedAt: now, UpdatedAt: now,
	}
}

// applyStart records what starting an attempt did: a step running (waiting on a job or a
// callback), or already ended.
func (d *driver) applyStart(a *attempt, out outcome) {
	if out.status == StepExecuting {
		r := a.row
		r.Status, r.ResourceARN, r.CallbackToken, r.FailureReason = StepExecuting, out.resource, out.token, ""
		if out.metadata != nil {
			r.Metadata = encodeJSON(out.metadata)
		}
		r.UpdatedAt = d.e.now()
		return
	}
	d.finishAttempt(nil, a, out)
}

// finishAttempt records the end of an attempt: the step ends, or waits for its next attempt
// when a retry policy covers the failure.
func (d *driver) finishAttempt(b *batch, a *attempt, out outcome) {
	r := a.row
	if b != nil {
		b.update(r)
	}
	if r.ResourceARN != "" {
		d.e.unwatch(r.ResourceARN)
	}
	now := d.e.now()
	if out.resource != "" {
		r.ResourceARN = out.resource
	}
	if out.metadata != nil {
		r.Metadata = encodeJSON(out.metadata)
	}
	if out.status == StepFailed && out.exception != "" && d.exec.Status == ExecutionExecuting {
		if p, ok := a.step.RetryPolicyFor(out.exception); ok && p.Allows(r.Attempt, now.Sub(r.FirstStartedAt)) {
			delay := p.Delay(r.Attempt)
			r.Attempt++
			r.Status, r.RetryAt, r.UpdatedAt = StepExecuting, now.Add(delay), now
			r.FailureReason = fmt.Sprintf("%s (attempt %d failed with %s; retrying in %s)", out.reason, r.Attempt-1, out.exception, delay)
			d.log.Info("pipeline: retrying a step", "step", r.Name, "exception", out.exception, "attempt", r.Attempt, "delay", delay)
			return
		}
	}
	if out.status == StepSucceeded {
		r.Properties = encodeJSON(out.properties)
		if out.files != nil {
			r.PropertyFiles = encodeJSON(out.files)
		}
		delete(d.props, r.Name)
		delete(d.files, r.Name)
	}
	d.end(r, out.status, out.reason)
}

// end puts a step in a final status.
func (d *driver) end(r *store.PipelineStep, status, reason string) {
	now := d.e.now()
	r.Status, r.FailureReason, r.RetryAt, r.EndedAt, r.UpdatedAt = status, reason, time.Time{}, now, now
}

// conclude ends the execution when no step runs and nothing more can start: Stopped after a
// stop, Failed after a failure, Succeeded otherwise. It reports whether the execution ended.
func (d *driver) conclude(b *batch) bool {
	if d.running() > 0 {
		return false
	}
	prev := d.exec.Status
	var failed *store.PipelineStep
	for _, name := range d.order {
		r := d.rows[name]
		if r != nil && (r.Status == StepFailed || r.Status == StepStopped) {
			if failed == nil || r.EndedAt.Before(failed.EndedAt) {
				failed = r
			}
		}
	}
	switch {
	case d.exec.Status == ExecutionStopping:
		d.exec.Status = ExecutionStopped
	case failed != nil:
		d.exec.Status = ExecutionFailed
		d.exec.FailureReason = d.failureReason(failed)
	default:
		d.exec.Status = ExecutionSucceeded
	}
	now := d.e.now()
	d.exec.EndedAt, d.exec.UpdatedAt = now, now
	b.exec, b.execPrev = true, prev
	return true
}

// failureReason is the execution's FailureReason for the first step that failed: a Fail step's
// message as it is, or SageMaker's summary naming the step and its reason.
func (d *driver) failureReason(r *store.PipelineStep) string {
	if StepType(r.Type) == StepFail {
		if r.FailureReason != "" {
			return r.FailureReason
		}
		return fmt.Sprintf("Step failure: Fail step %s ran.", r.Name)
	}
	if r.Status == StepStopped {
		return fmt.Sprintf("Step failure: step %s was stopped.", r.Name)
	}
	return fmt.Sprintf("Step failure: One or multiple steps failed. %s: %s", r.Name, r.FailureReason)
}

// running counts the steps that have started and not ended, retries in waiting included.
func (d *driver) running() int {
	n := 0
	for _, r := range d.rows {
		if !stepDone(r.Status) {
			n++
		}
	}
	return n
}

func (d *driver) anyFailed() bool {
	for _, r := range d.rows {
		if r.Status == StepFailed || r.Status == StepStopped {
			return true
		}
	}
	return false
}

// parallelLimit is the execution's MaxParallelExecutionSteps, else the engine's, 0 for none.
func (d *driver) parallelLimit() int {
	if d.exec.Parallelism > 0 {
		return d.exec.Parallelism
	}
	return d.e.cfg.MaxParallelSteps
}

// skipped lists the steps that the outcomes of finished Condition steps rule out.
func (d *driver) skipped() map[string]bool {
	out := map[string]bool{}
	g := d.def.Graph()
	for _, name := range d.order {
		r := d.rows[name]
		if r == nil || r.Status != StepSucceeded || StepType(r.Type) != StepCondition {
			continue
		}
		props, err := d.properties(name)
		if err != nil {
			continue
		}
		outcome, _ := props.(map[string]any)["Outcome"].(bool)
		for _, s := range g.SkippedBy(name, outcome) {
			out[s] = true
		}
	}
	return out
}

func (d *driver) upstreamSucceeded(name string) bool {
	for _, u := range d.def.Graph().Upstream(name) {
		r := d.rows[u]
		if r == nil || r.Status != StepSucceeded {
			return false
		}
	}
	return true
}

// armTimer wakes the driver when the earliest retry is due.
func (d *driver) armTimer() {
	var next time.Time
	for _, r := range d.rows {
		if r.Status == StepExecuting && !r.RetryAt.IsZero() && (next.IsZero() || r.RetryAt.Before(next)) {
			next = r.RetryAt
		}
		if p, ok := kindFor(StepType(r.Type)).(poller); ok && r.Status != StepStarting && !stepDone(r.Status) && r.RetryAt.IsZero() {
			if after := p.pollAfter(r, d.e.now()); after > 0 && (next.IsZero() || d.e.now().Add(after).Before(next)) {
				next = d.e.now().Add(after)
			}
		}
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if next.IsZero() {
		return
	}
	d.timer = time.AfterFunc(max(next.Sub(d.e.now()), 0), func() { d.poke(false) })
}

// cacheLookup reuses a previous run of the step when its CacheConfig allows and one matches;
// it reports a hit, with the row filled in. It records the key on the row either way, so that
// this run can serve later executions.
func (d *driver) cacheLookup(ctx context.Context, a *attempt) (bool, error) {
	s := a.step
	if s.CacheConfig == nil || !s.CacheConfig.Enabled || !a.kind.launchesJob() {
		return false, nil
	}
	args, err := a.arguments(ctx)
	if err != nil {
		return false, nil // the launch reports it
	}
	var digests []string
	if cd, ok := a.kind.(cacheDigester); ok {
		digests, err = cd.cacheDigests(ctx, a, args)
		if err != nil {
			d.log.Warn("pipeline: cache digests", "step", s.Name, slog.Any("error", err))
			return false, nil
		}
	}
	key := CacheKey(s.Type, args, digests...)
	a.row.CacheKey = key
	var notBefore time.Time
	if exp, ok := s.CacheConfig.Expiry(); ok {
		notBefore = d.e.now().Add(-exp)
	}
	hit, source, err := d.e.store.CachedPipelineStep(ctx, d.exec.PipelineID, s.Name, key, notBefore)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r := a.row
	r.Metadata, r.Properties, r.PropertyFiles = hit.Metadata, hit.Properties, hit.PropertyFiles
	r.ResourceARN, r.CacheSource = hit.ResourceARN, source
	d.end(r, StepSucceeded, "")
	return true, nil
}

func encodeJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b
}
