package hosting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// The deployment engine moves an endpoint from its running config (the old, blue fleet) to a
// new one (the green fleet) as the DeploymentConfig says: it starts the green fleet while blue
// serves, shifts traffic in steps by publishing routing tables that split each variant between
// the two fleets, bakes after each step while the AutoRollbackConfiguration's alarms are
// watched, waits TerminationWaitInSeconds, then stops blue. An alarm entering ALARM at any
// point puts every request back on blue with one table swap (before anything is written), then
// the green fleet drains and stops: Updating → RollingBack → InService on the old config with
// a FailureReason. A green fleet that never becomes healthy fails the update with blue still
// serving. Every step is written to the deployment's record with the alarm states and the two
// fleets' traffic seen then; the record carries the step and its deadline, so a restarted
// server resumes a deployment where it was, or finishes its rollback.

// AlarmSource is what deployments need of the alarm service; *alarm.Service is the
// implementation.
type AlarmSource interface {
	Watch(ctx context.Context, names ...string) <-chan alarm.StateChange
	Missing(names ...string) []string
	Get(name string) (alarm.Alarm, bool)
	Statistics(q alarm.StatisticsQuery) ([]alarm.StatisticsRow, error)
}

var (
	// errSuperseded means the endpoint changed under the deployment (DeleteEndpoint).
	errSuperseded = errors.New("hosting: the endpoint changed during the deployment")
	// errTimeout means MaximumExecutionTimeoutInSeconds passed.
	errTimeout = errors.New("hosting: the deployment exceeded its maximum execution time")
)

// drainTimeout bounds the wait for requests still on a fleet that traffic moved off.
const drainTimeout = 30 * time.Second

// rollout is one deployment being run.
type rollout struct {
	c    *Controller
	log  *slog.Logger
	arn  string
	name string
	// gen is the endpoint generation of the update; a change of generation means the endpoint
	// was changed by a request (deleted) and the deployment must stop.
	gen int64

	rec   DeploymentRecord
	strat strategy
	plan  Plan
	// deadline is StartTime + MaximumExecutionTimeoutInSeconds; zero for none.
	deadline time.Time

	blue, green *Deployment
	// adopted is set once green is the endpoint's deployment.
	adopted bool
	// fraction is the share of traffic the published table gives green.
	fraction float64

	oldMeter, newMeter fleetMeter
	lastOld, lastNew   meterReading

	alarmCh <-chan alarm.StateChange
	// breach is the alarm change that calls for a rollback (ALARM, or the alarm deleted).
	breach *alarm.StateChange
}

// rollout runs or resumes the deployment of an endpoint's update. row is Updating with a new
// desired config, or, after a restart, Updating or RollingBack with its deployment under way.
func (c *Controller) rollout(ctx context.Context, row store.Endpoint, st endpointState) error {
	r := &rollout{c: c, log: c.log.With("endpoint", row.Name), arn: row.ARN, name: row.Name, gen: row.Generation}
	r.lastOld, r.lastNew = r.oldMeter.read(c.now()), r.newMeter.read(c.now())
	resumed := false
	existing, err := c.cfg.Store.DeploymentOf(ctx, row.ID, row.Generation)
	switch {
	case err == nil:
		if r.rec, err = decodeRecord(existing); err != nil {
			return err
		}
		resumed = true
	case errors.Is(err, store.ErrNotFound):
		if err := r.begin(ctx, row, st); err != nil || r.rec.Status != DeploymentInProgress {
			return r.settle(ctx, err)
		}
	default:
		return err
	}
	if r.rec.Status != DeploymentInProgress {
		// The record ended but the endpoint did not follow: they are written together, so only
		// an edited database gets here. Put the endpoint back on what it runs.
		return r.settle(ctx, r.fail(ctx, r.rec.FailureReason))
	}
	return r.settle(ctx, r.run(ctx, st, resumed))
}

// settle turns the outcome of a run into the controller's: a change of the endpoint stops
// the deployment cleanly; anything else not done leaves the record in progress, to resume.
func (r *rollout) settle(ctx context.Context, err error) error {
	if errors.Is(err, errSuperseded) {
		return r.stop(ctx)
	}
	if err != nil {
		r.abandon()
	}
	return err
}

// begin plans the update and records its deployment. A config that cannot be planned or a
// DeploymentConfig that does not fit the new fleet fail the update at once.
func (r *rollout) begin(ctx context.Context, row store.Endpoint, st endpointState) error {
	now := r.c.now()
	r.rec = DeploymentRecord{EndpointName: row.Name, EndpointArn: row.ARN, Status: DeploymentInProgress, Phase: PhaseProvisioning,
		OldEndpointConfigName: row.ConfigName, NewEndpointConfigName: row.DesiredConfigName, DeploymentConfig: st.DeploymentConfig,
		Step: -1, StartTime: now}
	if st.Deployed != nil {
		r.rec.OldVariants = fleetVariants(st.Deployed.Variants)
	}
	r.setStrategy(strategy{Kind: TrafficAllAtOnce, Steps: []float64{1}})
	var reason string
	plan, err := r.c.plan.plan(ctx, row.DesiredConfigName)
	if err != nil {
		reason = planError(err)
	} else {
		if st.Retain {
			retain(&plan, st.Deployed, st.Exclude)
		}
		r.rec.Plan, r.rec.NewVariants = &plan, fleetVariants(plan.Variants)
		cfg, err := ParseDeploymentConfig(st.DeploymentConfig)
		var s strategy
		if err == nil {
			s, err = strategyFor(cfg, totalInstances(plan))
		}
		if err != nil {
			reason = planError(err)
		} else {
			r.strat = s
			r.setStrategy(s)
		}
	}
	r.event(EventStarted, r.describeStrategy())
	d := store.Deployment{EndpointID: row.ID, EndpointARN: row.ARN, EndpointName: row.Name, Generation: row.Generation,
		Status: r.rec.Status, StartedAt: now, Record: r.rec.encode()}
	err = r.c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertDeployment(ctx, &d); err != nil {
			return err
		}
		r.rec.DeploymentId = d.ID
		return emitDeploymentChange(ctx, tx, &r.rec)
	})
	if err != nil {
		return err
	}
	r.log.Info("deployment started", "deployment", d.ID, "from", r.rec.OldEndpointConfigName, "to", r.rec.NewEndpointConfigName, "strategy", r.rec.Strategy)
	if reason != "" {
		return r.fail(ctx, reason)
	}
	return nil
}

func totalInstances(p Plan) int {
	n := 0
	for _, v := range p.Variants {
		n += v.Instances
	}
	return n
}

// setStrategy records s; strategy() reads it back, so a resumed deployment follows the same
// steps even if the request's DeploymentConfig were read differently.
func (r *rollout) setStrategy(s strategy) {
	r.rec.Strategy, r.rec.Alarms = s.Kind, s.Alarms
	r.rec.TrafficSteps = nil
	for _, f := range s.Steps {
		r.rec.TrafficSteps = append(r.rec.TrafficSteps, percent(f))
	}
	r.rec.WaitIntervalInSeconds, r.rec.TerminationWaitInSeconds = s.Wait.Seconds(), s.TerminationWait.Seconds()
	r.rec.MaximumExecutionTimeoutInSeconds = s.Timeout.Seconds()
	r.rec.RollbackBatchPercent = 0
	if s.Rolling {
		r.rec.RollbackBatchPercent = percent(s.RollbackBatch)
	}
}

func (rec *DeploymentRecord) strategy() strategy {
	s := strategy{Kind: rec.Strategy, Rolling: rec.Strategy == StrategyRolling, Alarms: rec.Alarms,
		Wait:            time.Duration(rec.WaitIntervalInSeconds * float64(time.Second)),
		TerminationWait: time.Duration(rec.TerminationWaitInSeconds * float64(time.Second)),
		Timeout:         time.Duration(rec.MaximumExecutionTimeoutInSeconds * float64(time.Second))}
	for _, p := range rec.TrafficSteps {
		s.Steps = append(s.Steps, p/100)
	}
	s.RollbackBatch = rec.RollbackBatchPercent / 100
	if s.RollbackBatch <= 0 {
		s.RollbackBatch = 1
	}
	return s
}

func percent(f float64) float64 { return math.Round(f*1e6) / 1e4 }

func (r *rollout) describeStrategy() string {
	var steps []string
	for _, p := range r.rec.TrafficSteps {
		steps = append(steps, fmt.Sprintf("%g%%", p))
	}
	msg := fmt.Sprintf("Updating from endpoint config %s to %s with %s: traffic to the new fleet in steps of %s, baking %gs after each, then %gs before the old fleet stops",
		r.rec.OldEndpointConfigName, r.rec.NewEndpointConfigName, r.rec.Strategy, strings.Join(steps, ", "), r.rec.WaitIntervalInSeconds, r.rec.TerminationWaitInSeconds)
	if len(r.rec.Alarms) > 0 {
		msg += "; rolls back if any of these alarms fires: " + strings.Join(r.rec.Alarms, ", ")
	}
	if r.rec.MaximumExecutionTimeoutInSeconds > 0 {
		msg += fmt.Sprintf("; at most %gs in all", r.rec.MaximumExecutionTimeoutInSeconds)
	}
	return msg + "."
}

// run drives the deployment from where its record says it is.
func (r *rollout) run(ctx context.Context, st endpointState, resumed bool) error {
	if r.rec.Plan == nil {
		return r.fail(ctx, "the deployment has no plan for the new config")
	}
	r.plan, r.strat = *r.rec.Plan, r.rec.strategy()
	if r.strat.Timeout > 0 {
		r.deadline = r.rec.StartTime.Add(r.strat.Timeout)
	}
	// The old fleet serves until the new one takes over; after a restart it comes back first.
	blue, ok := r.c.Deployment(r.arn)
	if !ok {
		if st.Deployed == nil {
			return r.fail(ctx, "the endpoint has no running deployment to update from")
		}
		var err error
		if blue, err = r.c.deploy(ctx, r.name, *st.Deployed); err != nil {
			return fmt.Errorf("bringing the old fleet back: %w", err)
		}
		r.c.setDeployment(r.arn, blue)
	}
	r.blue = blue
	if r.rec.Phase == PhaseRollingBack {
		return r.finishRollback(ctx)
	}
	phase := ""
	if resumed {
		phase = r.rec.Phase
		r.event(EventResumed, fmt.Sprintf("The server restarted during the deployment (phase %s, step %d); the old fleet serves again and the deployment continues.", phase, r.rec.Step+1))
	}
	if err := r.watchAlarms(ctx); err != nil {
		return err
	}
	if r.rec.Status != DeploymentInProgress {
		return nil
	}
	if r.breach != nil {
		return r.rollBackOnAlarm(ctx)
	}
	if err := r.startGreen(ctx); err != nil || r.rec.Status != DeploymentInProgress {
		return err
	}

	steps := r.strat.Steps
	for i := max(r.rec.Step, 0); i < len(steps); i++ {
		if r.breach != nil {
			return r.rollBackOnAlarm(ctx)
		}
		if phase == PhaseBaking && i == r.rec.Step {
			// Resumed mid-bake: the step's split again, for what is left of its bake.
			if err := r.publish(steps[i]); err != nil {
				return err
			}
			r.shrinkBlue(ctx, steps[i])
		} else if err := r.shift(ctx, i); err != nil || r.rec.Status != DeploymentInProgress {
			return err
		}
		if done, err := r.wait(ctx, r.rec.PhaseEndsAt); done || err != nil {
			return err
		}
		r.event(EventBaked, fmt.Sprintf("Step %d of %d baked: %g%% of traffic on the new fleet for %gs without an alarm.", i+1, len(steps), percent(steps[i]), r.strat.Wait.Seconds()))
	}
	if phase != PhaseTerminationWait {
		if r.fraction < 1 {
			if err := r.publish(1); err != nil {
				return err
			}
		}
		now := r.c.now()
		r.rec.Phase, r.rec.PhaseEndsAt = PhaseTerminationWait, now.Add(r.strat.TerminationWait)
		msg := fmt.Sprintf("All traffic is on the new fleet; the old fleet stops after %gs unless an alarm fires.", r.strat.TerminationWait.Seconds())
		r.event(EventTerminationWait, msg)
		if err := r.save(ctx, func(row *store.Endpoint, st *endpointState) { r.variantStatus(st, "Baking", msg) }); err != nil {
			return err
		}
	} else if err := r.publish(1); err != nil {
		return err
	}
	if done, err := r.wait(ctx, r.rec.PhaseEndsAt); done || err != nil {
		return err
	}
	return r.complete(ctx)
}

// watchAlarms subscribes to the rollback alarms. An alarm that does not exist fails the
// update: a deployment that cannot be watched does not start.
func (r *rollout) watchAlarms(ctx context.Context) error {
	names := r.strat.Alarms
	if len(names) == 0 {
		return nil
	}
	if r.c.cfg.Alarms == nil {
		return r.fail(ctx, "AutoRollbackConfiguration names alarms, but this server has no alarm service to watch them.")
	}
	if missing := r.c.cfg.Alarms.Missing(names...); len(missing) > 0 {
		r.event(EventAlarmsNotWatched, "Missing alarms: "+strings.Join(missing, ", "))
		return r.fail(ctx, fmt.Sprintf("The alarm(s) %s named in AutoRollbackConfiguration do not exist, so the deployment could not be watched; create them (PutMetricAlarm) and update the endpoint again.", strings.Join(missing, ", ")))
	}
	// The subscription lives as long as the worker's context; the first message per alarm is
	// its current state, so an alarm already in ALARM stops the deployment before any step.
	r.alarmCh = r.c.cfg.Alarms.Watch(ctx, names...)
	for _, n := range names {
		if a, ok := r.c.cfg.Alarms.Get(n); ok && a.State.Value == alarm.StateAlarm {
			r.breach = &alarm.StateChange{AlarmName: n, New: a.State.Value, Reason: a.State.Reason, Time: a.State.Transitioned}
		}
	}
	return nil
}

// startGreen starts the new fleet while the old one serves. Failure, the deployment's timeout
// or the endpoint's deletion stop it; the first two fail the update.
func (r *rollout) startGreen(ctx context.Context) error {
	plan := r.plan
	if r.strat.Rolling {
		plan = clonePlan(plan)
		f := r.strat.Steps[max(r.rec.Step, 0)]
		for i := range plan.Variants {
			plan.Variants[i].Instances = batchInstances(plan.Variants[i].Instances, f)
		}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	stopGuard := r.guard(sctx, cancel)
	d, err := r.c.startFleets(sctx, r.name, plan)
	stopGuard()
	cause := context.Cause(sctx)
	cancel(nil)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(cause, errSuperseded):
			return errSuperseded
		case errors.Is(cause, errTimeout):
			r.event(EventTimeoutExceeded, "The new fleet was still starting when MaximumExecutionTimeoutInSeconds ran out.")
			return r.fail(ctx, fmt.Sprintf("The new fleet for endpoint config %s was not healthy within MaximumExecutionTimeoutInSeconds (%gs); the endpoint keeps serving %s.",
				r.rec.NewEndpointConfigName, r.strat.Timeout.Seconds(), r.rec.OldEndpointConfigName))
		}
		reason := fmt.Sprintf("The new fleet for endpoint config %s did not become healthy: %v. The endpoint keeps serving %s.", r.rec.NewEndpointConfigName, err, r.rec.OldEndpointConfigName)
		r.event(EventNewFleetFailed, err.Error())
		return r.fail(ctx, reason)
	}
	r.green = d
	r.event(EventNewFleetHealthy, fmt.Sprintf("The new fleet is healthy: %s.", describeFleets(plan)))
	return r.save(ctx, nil)
}

func describeFleets(p Plan) string {
	var parts []string
	for _, v := range p.Variants {
		parts = append(parts, fmt.Sprintf("variant %s, model %s, %d instance(s)", v.Name, v.Model, v.Instances))
	}
	return strings.Join(parts, "; ")
}

// batchInstances is a rolling update's new-fleet size for a variant of n instances when a
// fraction f of the update is done: at least one instance, rounded up.
func batchInstances(n int, f float64) int {
	if n == 0 {
		return 0
	}
	return min(n, max(1, int(math.Ceil(float64(n)*f-1e-9))))
}

// guard cancels ctx with errTimeout when the deployment's deadline passes on the controller's
// clock, or with errSuperseded when the endpoint changes. The returned func stops it.
func (r *rollout) guard(ctx context.Context, cancel context.CancelCauseFunc) func() {
	done := make(chan struct{})
	go func() {
		var timeout <-chan time.Time
		if !r.deadline.IsZero() {
			timeout = r.c.cfg.Clock.After(r.deadline.Sub(r.c.cfg.Clock.Now()))
		}
		poll := time.NewTicker(r.c.cfg.Interval)
		defer poll.Stop()
		for {
			changed := r.c.cfg.Store.Changed()
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-timeout:
				cancel(errTimeout)
				return
			case <-changed:
			case <-poll.C:
			}
			if r.superseded(ctx) {
				cancel(errSuperseded)
				return
			}
		}
	}()
	return func() { close(done) }
}

// superseded reports whether a request changed the endpoint since the deployment began.
func (r *rollout) superseded(ctx context.Context) bool {
	row, err := r.c.cfg.Store.Endpoint(ctx, r.arn)
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	return err == nil && row.Generation != r.gen
}

// shift moves traffic to step i and starts its bake.
func (r *rollout) shift(ctx context.Context, i int) error {
	f := r.strat.Steps[i]
	if r.strat.Rolling && i > 0 {
		if err := r.growGreen(ctx, f); err != nil {
			return err
		}
	}
	if err := r.publish(f); err != nil {
		return err
	}
	r.shrinkBlue(ctx, f)
	now := r.c.now()
	r.rec.Step, r.rec.Phase, r.rec.PhaseEndsAt = i, PhaseBaking, now.Add(r.strat.Wait)
	r.event(EventTrafficShifted, fmt.Sprintf("Step %d of %d: %g%% of traffic on the new fleet.", i+1, len(r.strat.Steps), percent(f)))
	msg := fmt.Sprintf("%g%% of traffic on the new fleet (step %d of %d, %s); baking for %gs", percent(f), i+1, len(r.strat.Steps), r.strat.Kind, r.strat.Wait.Seconds())
	if len(r.strat.Alarms) > 0 {
		msg += " while alarms " + strings.Join(r.strat.Alarms, ", ") + " are watched"
	}
	return r.save(ctx, func(row *store.Endpoint, st *endpointState) { r.variantStatus(st, "Baking", msg) })
}

// growGreen scales a rolling update's new fleet to its share f of each variant's instances.
func (r *rollout) growGreen(ctx context.Context, f float64) error {
	for _, fl := range r.green.Fleets {
		if fl.Shadow {
			continue
		}
		full, ok := r.plan.variant(fl.Variant.Name)
		if !ok {
			continue
		}
		n := batchInstances(full.Instances, f)
		if n <= fl.Variant.Instances {
			continue
		}
		if err := fl.Server.Scale(ctx, n); err != nil {
			r.event(EventNewFleetFailed, fmt.Sprintf("Scaling variant %s of the new fleet to %d instances failed: %v", fl.Variant.Name, n, err))
			return r.rollBack(ctx, "scale", fmt.Sprintf("The new fleet could not grow to %d instance(s) of variant %s: %v. All traffic is back on endpoint config %s.", n, fl.Variant.Name, err, r.rec.OldEndpointConfigName), time.Time{})
		}
		fl.Variant.Instances = n
		r.event(EventNewFleetResized, fmt.Sprintf("Variant %s of the new fleet has %d of %d instance(s).", fl.Variant.Name, n, full.Instances))
	}
	return nil
}

// shrinkBlue takes a rolling update's old fleet down as the new one takes over: with the share
// f of traffic on the new fleet, each old variant keeps the rest of its instances, and at least
// one, so that a rollback has somewhere to send traffic at once. A fleet that cannot shrink
// keeps serving as it is.
func (r *rollout) shrinkBlue(ctx context.Context, f float64) {
	if !r.strat.Rolling {
		return
	}
	for _, fl := range r.blue.Fleets {
		full, ok := r.blue.Plan.variant(fl.Variant.Name)
		if fl.Shadow || !ok {
			continue
		}
		n := max(1, int(math.Ceil(float64(full.Instances)*(1-f)-1e-9)))
		if n >= fl.Variant.Instances {
			continue
		}
		if err := fl.Server.Scale(ctx, n); err != nil {
			r.log.Warn("rolling update: the old fleet could not shrink", "variant", fl.Variant.Name, slog.Any("error", err))
			continue
		}
		fl.Variant.Instances = n
		r.event(EventOldFleetResized, fmt.Sprintf("Variant %s of the old fleet has %d of %d instance(s).", fl.Variant.Name, n, full.Instances))
	}
}

// restoreBlue grows a rolling update's old fleet back to its size, after a rollback put all
// traffic on it, RollbackMaximumBatchSize of each variant's instances at a time.
func (r *rollout) restoreBlue(ctx context.Context) {
	if r.blue == nil {
		return
	}
	for _, fl := range r.blue.Fleets {
		full, ok := r.blue.Plan.variant(fl.Variant.Name)
		if fl.Shadow || !ok {
			continue
		}
		batch := max(1, int(math.Ceil(float64(full.Instances)*r.strat.RollbackBatch-1e-9)))
		for fl.Variant.Instances < full.Instances {
			n := min(full.Instances, fl.Variant.Instances+batch)
			if err := fl.Server.Scale(ctx, n); err != nil {
				r.event(EventOldFleetResized, fmt.Sprintf("Variant %s of the old fleet could not grow back to %d instance(s): %v; it serves with %d.",
					fl.Variant.Name, n, err, fl.Variant.Instances))
				break
			}
			fl.Variant.Instances = n
			r.event(EventOldFleetResized, fmt.Sprintf("Variant %s of the old fleet has %d of %d instance(s) again.", fl.Variant.Name, n, full.Instances))
		}
	}
}

// publish routes the share f of traffic to the new fleet and the rest to the old one.
func (r *rollout) publish(f float64) error {
	if err := r.c.cfg.Router.Publish(r.name, splitTable(r.blue, r.green, f, &r.oldMeter, &r.newMeter)); err != nil {
		return err
	}
	r.fraction = f
	r.rec.NewTrafficPercent = percent(f)
	return nil
}

// splitTable routes the share f of traffic to green and 1-f to blue, each side by its
// variants' weights, through meters that tell the two fleets' traffic apart. A variant present
// on both sides has two routes, so TargetVariant splits too. Shadows and data capture follow
// the new config once it takes traffic.
func splitTable(blue, green *Deployment, f float64, oldM, newM *fleetMeter) serving.RoutingTable {
	var t serving.RoutingTable
	side := func(d *Deployment, share float64, m *fleetMeter) {
		if d == nil || share <= 0 {
			return
		}
		total := 0.0
		for _, fl := range d.Fleets {
			if !fl.Shadow && fl.Variant.Instances > 0 {
				total += fl.Variant.Weight
			}
		}
		for _, fl := range d.Fleets {
			if fl.Shadow || fl.Variant.Instances == 0 || fl.Variant.Weight <= 0 || total <= 0 {
				continue
			}
			t.Routes = append(t.Routes, serving.Route{Variant: fl.Variant.Name, Weight: fl.Variant.Weight / total * share, Server: meteredServer{fl.Server, m}})
		}
	}
	side(blue, 1-f, oldM)
	side(green, f, newM)
	src := blue
	if f > 0 && green != nil {
		src = green
	}
	// Production weights were scaled to shares summing to 1; a shadow keeps its sampling rate
	// (its weight relative to the production weights) by the same scale.
	prod := 0.0
	for _, fl := range src.Fleets {
		if !fl.Shadow && fl.Variant.Instances > 0 {
			prod += fl.Variant.Weight
		}
	}
	for _, fl := range src.Fleets {
		if fl.Shadow && prod > 0 {
			t.Shadows = append(t.Shadows, serving.Route{Variant: fl.Variant.Name, Weight: fl.Variant.Weight / prod, Server: fl.Server})
		}
	}
	t.Capture = servingCapture(src.Plan.Capture)
	return t
}

// wait bakes until the time until, watching the alarms, the deadline and the endpoint. It
// returns done when the deployment ended meanwhile (rolled back or stopped).
func (r *rollout) wait(ctx context.Context, until time.Time) (done bool, err error) {
	poll := time.NewTicker(r.c.cfg.Interval)
	defer poll.Stop()
	for {
		if r.breach != nil {
			return true, r.rollBackOnAlarm(ctx)
		}
		now := r.c.cfg.Clock.Now()
		if !r.deadline.IsZero() && !now.Before(r.deadline) {
			r.event(EventTimeoutExceeded, "MaximumExecutionTimeoutInSeconds ran out before the deployment finished.")
			return true, r.rollBack(ctx, "timeout", fmt.Sprintf("The deployment did not finish within MaximumExecutionTimeoutInSeconds (%gs). All traffic is back on endpoint config %s.",
				r.strat.Timeout.Seconds(), r.rec.OldEndpointConfigName), time.Time{})
		}
		if !now.Before(until) {
			return false, nil
		}
		next := until
		if !r.deadline.IsZero() && r.deadline.Before(next) {
			next = r.deadline
		}
		timer := r.c.cfg.Clock.After(next.Sub(now))
		changed := r.c.cfg.Store.Changed()
		select {
		case sc, ok := <-r.alarmCh:
			if !ok {
				r.alarmCh = nil
				continue
			}
			if err := r.alarmChanged(ctx, sc); err != nil {
				return false, err
			}
		case <-timer:
		case <-changed:
			if r.superseded(ctx) {
				return false, errSuperseded
			}
		case <-poll.C:
			if r.superseded(ctx) {
				return false, errSuperseded
			}
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// alarmChanged notes an alarm's new state; ALARM, or the alarm's deletion, calls for a
// rollback, which the caller starts without writing anything first.
func (r *rollout) alarmChanged(ctx context.Context, sc alarm.StateChange) error {
	if sc.Old == "" && sc.New != alarm.StateAlarm {
		return nil // the subscription's opening report of a state already known
	}
	if sc.Deleted || sc.New == alarm.StateAlarm {
		r.breach = &sc
		return nil
	}
	r.event(EventAlarmState, fmt.Sprintf("Alarm %s went from %s to %s: %s", sc.AlarmName, sc.Old, sc.New, sc.Reason))
	return r.save(ctx, nil)
}

// rollBackOnAlarm rolls back for r.breach.
func (r *rollout) rollBackOnAlarm(ctx context.Context) error {
	b := r.breach
	if b.Deleted {
		return r.rollBack(ctx, b.AlarmName, fmt.Sprintf("Alarm %s was deleted during the deployment, so it could no longer be watched. All traffic is back on endpoint config %s.",
			b.AlarmName, r.rec.OldEndpointConfigName), b.Time)
	}
	where := fmt.Sprintf("with %g%% of traffic on the new fleet", percent(r.fraction))
	if r.fraction == 0 {
		where = "before any traffic moved to the new fleet"
	}
	return r.rollBack(ctx, b.AlarmName, fmt.Sprintf("Alarm %s entered ALARM %s (%s). The deployment was rolled back: all traffic is back on endpoint config %s.",
		b.AlarmName, where, b.Reason, r.rec.OldEndpointConfigName), b.Time)
}

// rollBack puts every request back on the old fleet — the first thing it does, before any
// write — then records RollingBack, drains and stops the new fleet, and ends InService on the
// old config with reason as FailureReason.
func (r *rollout) rollBack(ctx context.Context, trigger, reason string, firedAt time.Time) error {
	from := r.fraction
	if from > 0 {
		if err := r.c.cfg.Router.Publish(r.name, r.blue.RoutingTable()); err != nil {
			return err
		}
		r.fraction, r.rec.NewTrafficPercent = 0, 0
	}
	restored := r.c.cfg.Clock.Now().UTC()
	ev := &RollbackEvidence{Trigger: trigger, AlarmFiredAt: firedAt, TrafficRestoredAt: restored, NewTrafficPercent: percent(from)}
	if !firedAt.IsZero() {
		ev.ReactionMillis = float64(restored.Sub(firedAt).Microseconds()) / 1e3
	}
	r.rec.Rollback, r.rec.Phase, r.rec.FailureReason = ev, PhaseRollingBack, reason
	r.event(EventRollbackStarted, reason)
	r.log.Warn("deployment rolling back", "reason", reason, "new_traffic_percent", percent(from), "reaction_ms", ev.ReactionMillis)
	if err := r.save(ctx, func(row *store.Endpoint, st *endpointState) {
		row.Status = StatusRollingBack
		r.variantStatus(st, "Deleting", "Rolling back: "+reason)
	}); err != nil {
		return err
	}
	return r.finishRollback(ctx)
}

// finishRollback brings the old fleet back to its size, stops the new fleet and puts the
// endpoint back InService on its old config.
func (r *rollout) finishRollback(ctx context.Context) error {
	r.restoreBlue(ctx)
	r.stopGreen(ctx)
	r.end(DeploymentRolledBack, "Rolled back: "+r.rec.FailureReason)
	return r.save(ctx, func(row *store.Endpoint, st *endpointState) { r.revertEndpoint(row, st, r.rec.FailureReason) })
}

// complete makes the new fleet the endpoint's, then drains and stops the old one.
func (r *rollout) complete(ctx context.Context) error {
	green := &Deployment{Endpoint: r.green.Endpoint, Plan: r.plan, Fleets: r.green.Fleets}
	for _, fl := range green.Fleets {
		if v, ok := r.plan.variant(fl.Variant.Name); ok && !fl.Shadow {
			fl.Variant = *v
		}
	}
	if err := r.c.cfg.Router.Publish(r.name, green.RoutingTable()); err != nil {
		return err
	}
	r.c.setDeployment(r.arn, green)
	r.adopted, r.green = true, green
	r.drain(ctx)
	r.c.retire(r.blue.Fleets)
	r.event(EventOldFleetStopped, fmt.Sprintf("The old fleet (endpoint config %s) drained and stopped.", r.rec.OldEndpointConfigName))
	r.end(DeploymentSucceeded, fmt.Sprintf("Endpoint config %s serves all traffic.", r.rec.NewEndpointConfigName))
	return r.save(ctx, func(row *store.Endpoint, st *endpointState) { r.c.inService(row, st, r.plan) })
}

// fail ends an update that moved no traffic: the new fleet (if any) stops and the endpoint
// stays InService on its old config with reason.
func (r *rollout) fail(ctx context.Context, reason string) error {
	if r.fraction > 0 && r.blue != nil {
		if err := r.c.cfg.Router.Publish(r.name, r.blue.RoutingTable()); err != nil {
			return err
		}
		r.fraction = 0
	}
	r.restoreBlue(ctx)
	r.stopGreen(ctx)
	r.rec.FailureReason = reason
	r.end(DeploymentFailed, "Failed: "+reason)
	r.log.Warn("deployment failed; the endpoint keeps its previous deployment", "reason", reason)
	return r.save(ctx, func(row *store.Endpoint, st *endpointState) { r.revertEndpoint(row, st, reason) })
}

// stop ends a deployment whose endpoint was deleted (or otherwise changed) under it.
func (r *rollout) stop(ctx context.Context) error {
	if !r.adopted {
		if r.fraction > 0 && r.blue != nil {
			r.c.cfg.Router.Publish(r.name, r.blue.RoutingTable())
			r.fraction = 0
		}
		r.stopGreen(ctx)
	}
	r.rec.FailureReason = "The endpoint was deleted during the deployment."
	r.event(EventEndpointDeleted, r.rec.FailureReason)
	r.end(DeploymentStopped, "Stopped: "+r.rec.FailureReason)
	if err := r.save(ctx, nil); err != nil && !errors.Is(err, errSuperseded) {
		return err
	}
	return nil
}

// abandon is the way out when the deployment cannot go on now (shutdown, a database error):
// traffic goes back to the old fleet and the new one stops; the record stays in progress,
// so the next attempt resumes it.
func (r *rollout) abandon() {
	if r.adopted || r.green == nil {
		return
	}
	if r.fraction > 0 && r.blue != nil {
		r.c.cfg.Router.Publish(r.name, r.blue.RoutingTable())
		r.fraction = 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.c.cfg.Router.Drain(ctx, r.name)
	for _, fl := range r.green.Fleets {
		if fl != nil && fl.Server != nil {
			fl.Server.Close(ctx)
		}
	}
	r.green = nil
}

// stopGreen drains the new fleet and stops it.
func (r *rollout) stopGreen(ctx context.Context) {
	if r.green == nil {
		return
	}
	r.drain(ctx)
	r.c.retire(r.green.Fleets)
	r.green = nil
	r.event(EventNewFleetStopped, fmt.Sprintf("The new fleet (endpoint config %s) drained and stopped.", r.rec.NewEndpointConfigName))
}

// drain waits for the requests still on tables that no longer route to a fleet about to stop.
func (r *rollout) drain(ctx context.Context) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	if err := r.c.cfg.Router.Drain(dctx, r.name); err != nil {
		r.log.Warn("requests still in flight on a fleet being stopped", slog.Any("error", err))
	}
}

func (r *rollout) end(status, msg string) {
	r.rec.Status, r.rec.Phase, r.rec.EndTime, r.rec.PhaseEndsAt = status, PhaseDone, r.c.now(), time.Time{}
	r.event(EventDeploymentEnded, msg)
	r.log.Info("deployment ended", "deployment", r.rec.DeploymentId, "status", status)
}

// revertEndpoint puts the endpoint back InService on the config it ran before the update.
func (r *rollout) revertEndpoint(row *store.Endpoint, st *endpointState, reason string) {
	row.Status, row.DesiredConfigName, row.FailureReason = StatusInService, row.ConfigName, truncate(reason, 1024)
	st.Pending, st.DesiredWeights = nil, nil
	if st.Deployed != nil {
		st.Variants = summaries(st.Deployed.Variants, true, r.c.now())
	}
	st.LastDeploymentConfig = st.DeploymentConfig
}

// variantStatus sets the VariantStatus of the running and the pending variants.
func (r *rollout) variantStatus(st *endpointState, status, msg string) {
	vs := []VariantStatus{{Status: status, StatusMessage: truncate(msg, 1024), StartTime: r.c.now()}}
	for i := range st.Variants {
		st.Variants[i].VariantStatus = vs
	}
	if st.Pending != nil {
		for i := range st.Pending.ProductionVariants {
			st.Pending.ProductionVariants[i].VariantStatus = vs
		}
	}
}

// save writes the record and, through fn, the endpoint, in one transaction with the events
// that announce them. If the endpoint changed since the deployment began, only the record is
// written and errSuperseded returned.
func (r *rollout) save(ctx context.Context, fn func(row *store.Endpoint, st *endpointState)) error {
	superseded := false
	err := r.c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		superseded = false
		row, err := tx.LockEndpoint(ctx, r.arn)
		switch {
		case errors.Is(err, store.ErrNotFound):
			superseded = true
		case err != nil:
			return err
		case row.Generation != r.gen:
			superseded = true
		case fn != nil:
			st, err := decodeState(row)
			if err != nil {
				return err
			}
			before := row.Status
			fn(&row, &st)
			row.ModifiedAt = r.c.now()
			row.State = st.encode()
			if err := tx.UpdateEndpoint(ctx, row); err != nil {
				return err
			}
			if row.Status != before {
				if err := emitStateChange(ctx, tx, row, st); err != nil {
					return err
				}
			}
		}
		d := store.Deployment{ID: r.rec.DeploymentId, Status: r.rec.Status, EndedAt: r.rec.EndTime, Record: r.rec.encode()}
		if err := tx.UpdateDeployment(ctx, d); err != nil {
			return err
		}
		return emitDeploymentChange(ctx, tx, &r.rec)
	})
	if err != nil {
		return err
	}
	if superseded {
		return errSuperseded
	}
	return nil
}

// event appends a step to the record with what the alarms and the fleets show now.
func (r *rollout) event(kind, msg string) {
	now := r.c.now()
	ev := DeploymentEvent{Time: now, Type: kind, Step: r.rec.Step + 1, NewTrafficPercent: percent(r.fraction), Message: msg}
	if kind != EventStarted {
		ev.Alarms = r.observeAlarms()
		ev.Fleets = r.observeFleets(now)
	}
	r.rec.Events = append(r.rec.Events, ev)
}

func (r *rollout) observeFleets(now time.Time) []FleetObservation {
	o, n := r.oldMeter.read(now), r.newMeter.read(now)
	out := []FleetObservation{o.since(r.lastOld, "old"), n.since(r.lastNew, "new")}
	r.lastOld, r.lastNew = o, n
	return out
}

// observeAlarms reads each rollback alarm's state and the latest value of its metric.
func (r *rollout) observeAlarms() []AlarmObservation {
	if r.c.cfg.Alarms == nil {
		return nil
	}
	var out []AlarmObservation
	for _, name := range r.strat.Alarms {
		a, ok := r.c.cfg.Alarms.Get(name)
		if !ok {
			out = append(out, AlarmObservation{AlarmName: name, State: "DELETED"})
			continue
		}
		stat := a.Statistic
		if stat == "" {
			stat = a.ExtendedStatistic
		}
		o := AlarmObservation{AlarmName: name, State: string(a.State.Value), Reason: a.State.Reason, Metric: stat + " of " + a.MetricName, Threshold: a.Threshold}
		p := time.Duration(a.Period) * time.Second
		now := r.c.cfg.Clock.Now()
		q := alarm.StatisticsQuery{Namespace: a.Namespace, MetricName: a.MetricName, Dimensions: a.Dimensions, Period: a.Period, Unit: a.Unit,
			Start: now.Add(-p * time.Duration(a.EvaluationPeriods)), End: now.Add(p)}
		if a.Statistic != "" {
			q.Statistics = []string{a.Statistic}
		} else {
			q.ExtendedStatistics = []string{a.ExtendedStatistic}
		}
		if rows, err := r.c.cfg.Alarms.Statistics(q); err == nil && len(rows) > 0 {
			if v, ok := rows[len(rows)-1].Values[stat]; ok {
				o.Value = &v
			}
		}
		out = append(out, o)
	}
	return out
}
