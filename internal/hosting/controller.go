package hosting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// ModelStarter starts model servers; *serving.Host is the implementation.
type ModelStarter interface {
	StartModel(ctx context.Context, spec serving.ModelSpec) (serving.ModelServer, error)
}

// Fleet is the running replicas of one variant's model. A routing table sends the variant's
// traffic to one fleet, or, during a blue/green shift, splits it between an old and a new one.
type Fleet struct {
	Variant PlanVariant
	Shadow  bool
	Server  serving.ModelServer
}

// Deployment is what runs for one endpoint: its plan and a fleet per variant.
type Deployment struct {
	Endpoint string
	Plan     Plan
	// Fleets are the production variants' fleets in plan order, then the shadows'.
	Fleets []*Fleet
}

// RoutingTable routes the deployment's traffic: each production variant by its weight (none
// for a variant scaled to zero instances), shadows copied.
func (d *Deployment) RoutingTable() serving.RoutingTable {
	var t serving.RoutingTable
	for _, f := range d.Fleets {
		r := serving.Route{Variant: f.Variant.Name, Weight: f.Variant.Weight, Server: f.Server}
		if f.Variant.Instances == 0 {
			r.Weight = 0
		}
		if f.Shadow {
			t.Shadows = append(t.Shadows, r)
		} else {
			t.Routes = append(t.Routes, r)
		}
	}
	t.Capture = servingCapture(d.Plan.Capture)
	return t
}

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	Store  *store.Store
	ARNs   ARNs
	Router *serving.Router
	Models ModelStarter
	Log    *slog.Logger
	// Now is the clock; nil means Clock.Now.
	Now func() time.Time
	// Clock times deployments' bakes and timeouts; nil means the system clock. Tests share a
	// fake one with the alarm service.
	Clock alarm.Clock
	// Alarms is watched by deployments with an AutoRollbackConfiguration; *alarm.Service.
	Alarms AlarmSource
	// Interval is how often the controller looks at every endpoint even when nothing woke it
	// (changes made by another server replica); default 5 s.
	Interval time.Duration
	// StartupTimeout is a container's time to pass /ping when the variant does not say;
	// default serving.DefaultStartupTimeout.
	StartupTimeout time.Duration
	// MaxRestoreFailures is how often bringing an InService endpoint back after a restart may
	// fail before it is marked Failed; default 5, with exponential backoff from 1 s between tries.
	MaxRestoreFailures int
}

// Controller reconciles endpoints: it deploys what Creating and Updating endpoints ask for,
// deletes Deleting ones, and brings InService endpoints back after a restart.
type Controller struct {
	cfg  ControllerConfig
	plan planner
	log  *slog.Logger
	wake chan struct{}

	mu          sync.Mutex
	deployments map[string]*Deployment // by endpoint ARN
	busy        map[string]bool
	retryAt     map[string]time.Time
	wg          sync.WaitGroup
}

// NewController returns a controller; Run starts it.
func NewController(cfg ControllerConfig) *Controller {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.MaxRestoreFailures <= 0 {
		cfg.MaxRestoreFailures = 5
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = alarm.SystemClock{}
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	return &Controller{cfg: cfg, plan: planner{store: cfg.Store, arns: cfg.ARNs}, log: cfg.Log, wake: make(chan struct{}, 1),
		deployments: map[string]*Deployment{}, busy: map[string]bool{}, retryAt: map[string]time.Time{}}
}

func (c *Controller) now() time.Time {
	return c.cfg.Now().UTC().Truncate(time.Millisecond)
}

// Notify wakes the controller; the Service calls it after every change.
func (c *Controller) Notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Deployment returns what runs for an endpoint, for tests and diagnostics.
func (c *Controller) Deployment(endpointARN string) (*Deployment, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.deployments[endpointARN]
	return d, ok
}

// Run reconciles until ctx ends, then stops every fleet it started. Endpoints keep their status,
// so the next start brings them back.
func (c *Controller) Run(ctx context.Context) error {
	for {
		changed := c.cfg.Store.Changed()
		if err := c.pass(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("endpoint reconcile pass failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			c.wg.Wait()
			c.stopAll()
			return nil
		case <-c.wake:
		case <-changed:
		case <-time.After(c.cfg.Interval):
		}
	}
}

// pass starts a worker for every endpoint that needs one and is not already being worked on.
func (c *Controller) pass(ctx context.Context) error {
	rows, err := c.cfg.Store.AllEndpoints(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.ARN] = true
		if c.busy[row.ARN] || !c.needsWork(row) {
			continue
		}
		c.startWorker(ctx, row.ARN, func(ctx context.Context) error { return c.reconcile(ctx, row.ARN) })
	}
	for arn, d := range c.deployments {
		if !seen[arn] && !c.busy[arn] {
			c.startWorker(ctx, arn, func(ctx context.Context) error {
				c.teardown(ctx, arn, d.Endpoint)
				return nil
			})
		}
	}
	return nil
}

// needsWork says whether an endpoint's row and what runs for it disagree. Called with c.mu held.
func (c *Controller) needsWork(row store.Endpoint) bool {
	if c.now().Before(c.retryAt[row.ARN]) {
		return false
	}
	d := c.deployments[row.ARN]
	switch row.Status {
	case StatusCreating, StatusUpdating, StatusDeleting, StatusRollingBack:
		return true
	case StatusInService:
		return d == nil
	case StatusFailed:
		return d != nil
	}
	return false
}

// startWorker runs fn for one endpoint; called with c.mu held. A failed run is retried after
// errorBackoff, so a persistent failure does not spin.
func (c *Controller) startWorker(ctx context.Context, arn string, fn func(ctx context.Context) error) {
	c.busy[arn] = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := fn(ctx)
		c.mu.Lock()
		delete(c.busy, arn)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("endpoint reconcile failed; will retry", "endpoint", arn, slog.Any("error", err))
			if c.retryAt[arn].Before(c.now()) {
				c.retryAt[arn] = c.now().Add(errorBackoff)
			}
		}
		c.mu.Unlock()
		c.Notify()
	}()
}

// errorBackoff is the pause before retrying an endpoint whose reconcile failed.
const errorBackoff = 2 * time.Second

// reconcile reads the endpoint afresh and does what its status asks.
func (c *Controller) reconcile(ctx context.Context, arn string) error {
	row, err := c.cfg.Store.Endpoint(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		if d, ok := c.Deployment(arn); ok {
			c.teardown(ctx, arn, d.Endpoint)
		}
		return nil
	}
	if err != nil {
		return err
	}
	st, err := decodeState(row)
	if err != nil {
		return err
	}
	switch row.Status {
	case StatusCreating:
		err = c.create(ctx, row, st)
	case StatusUpdating:
		if st.DesiredWeights != nil && row.DesiredConfigName == row.ConfigName && st.Pending == nil {
			err = c.updateWeights(ctx, row, st)
		} else {
			err = c.rollout(ctx, row, st)
		}
	case StatusRollingBack:
		err = c.rollout(ctx, row, st)
	case StatusDeleting:
		err = c.delete(ctx, row)
	case StatusInService:
		err = c.restore(ctx, row, st)
	case StatusFailed:
		c.teardown(ctx, arn, row.Name)
	}
	return err
}

// commit writes the outcome of work done for generation gen. If a request changed the endpoint
// meanwhile, nothing is written and ok is false: the next pass acts on the new request.
func (c *Controller) commit(ctx context.Context, arn string, gen int64, fn func(row *store.Endpoint, st *endpointState)) (ok bool, err error) {
	err = c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		row, err := tx.LockEndpoint(ctx, arn)
		if err != nil {
			return err
		}
		if row.Generation != gen {
			return nil
		}
		st, err := decodeState(row)
		if err != nil {
			return err
		}
		before := row.Status
		fn(&row, &st)
		row.ModifiedAt = c.now()
		row.State = st.encode()
		if err := tx.UpdateEndpoint(ctx, row); err != nil {
			return err
		}
		ok = true
		if row.Status != before {
			return emitStateChange(ctx, tx, row, st)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return ok, err
}

// create deploys a new endpoint: InService when every fleet is healthy, Failed otherwise.
func (c *Controller) create(ctx context.Context, row store.Endpoint, st endpointState) error {
	plan, err := c.plan.plan(ctx, row.DesiredConfigName)
	if err != nil {
		return c.fail(ctx, row, planError(err))
	}
	d, err := c.deploy(ctx, row.Name, plan)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return c.fail(ctx, row, err.Error())
	}
	c.setDeployment(row.ARN, d)
	_, err = c.commit(ctx, row.ARN, row.Generation, func(r *store.Endpoint, s *endpointState) {
		c.inService(r, s, plan)
	})
	return err
}

// inService records plan as running.
func (c *Controller) inService(r *store.Endpoint, s *endpointState, plan Plan) {
	now := c.now()
	r.Status, r.ConfigName, r.DesiredConfigName, r.FailureReason = StatusInService, plan.ConfigName, plan.ConfigName, ""
	s.Variants, s.Shadows = summaries(plan.Variants, true, now), summaries(plan.Shadows, true, now)
	s.Capture = captureSummary(plan.Capture)
	p := plan
	s.Deployed, s.Pending, s.DesiredWeights, s.RestoreFailures = &p, nil, nil, 0
	s.LastDeploymentConfig = s.DeploymentConfig
}

// fail marks a new endpoint Failed with reason.
func (c *Controller) fail(ctx context.Context, row store.Endpoint, reason string) error {
	c.log.Warn("endpoint failed", "endpoint", row.Name, "reason", reason)
	_, err := c.commit(ctx, row.ARN, row.Generation, func(r *store.Endpoint, s *endpointState) {
		r.Status, r.FailureReason = StatusFailed, truncate(reason, 1024)
		for i := range s.Variants {
			s.Variants[i].VariantStatus = nil
		}
	})
	return err
}

// revert ends a failed update: the endpoint stays InService on what it ran, with the reason.
func (c *Controller) revert(ctx context.Context, row store.Endpoint, reason string) error {
	c.log.Warn("endpoint update failed; the endpoint keeps its previous deployment", "endpoint", row.Name, "reason", reason)
	_, err := c.commit(ctx, row.ARN, row.Generation, func(r *store.Endpoint, s *endpointState) {
		r.Status, r.DesiredConfigName, r.FailureReason = StatusInService, r.ConfigName, truncate(reason, 1024)
		s.Pending, s.DesiredWeights = nil, nil
		if s.Deployed != nil {
			s.Variants = summaries(s.Deployed.Variants, true, c.now())
		}
	})
	return err
}

// updateWeights applies UpdateEndpointWeightsAndCapacities to the running fleets: instance
// counts first, then one table swap for the weights.
func (c *Controller) updateWeights(ctx context.Context, row store.Endpoint, st endpointState) error {
	d, ok := c.Deployment(row.ARN)
	if !ok {
		if st.Deployed == nil {
			return c.revert(ctx, row, "the endpoint has no deployment to change")
		}
		var err error
		if d, err = c.deploy(ctx, row.Name, *st.Deployed); err != nil {
			return c.revert(ctx, row, err.Error())
		}
		c.setDeployment(row.ARN, d)
	}
	next := &Deployment{Endpoint: d.Endpoint, Plan: clonePlan(d.Plan)}
	for i, f := range d.Fleets {
		nf := *f
		if !f.Shadow {
			v := &next.Plan.Variants[i]
			for _, w := range st.DesiredWeights {
				if w.VariantName != v.Name {
					continue
				}
				if w.DesiredWeight != nil {
					v.Weight = *w.DesiredWeight
				}
				if w.DesiredInstanceCount != nil && int(*w.DesiredInstanceCount) != v.Instances {
					if err := f.Server.Scale(ctx, int(*w.DesiredInstanceCount)); err != nil {
						return c.revert(ctx, row, fmt.Sprintf("scaling variant %s to %d instances failed: %v", v.Name, *w.DesiredInstanceCount, err))
					}
					v.Instances = int(*w.DesiredInstanceCount)
				}
			}
			nf.Variant = *v
		}
		next.Fleets = append(next.Fleets, &nf)
	}
	if err := c.cfg.Router.Publish(row.Name, next.RoutingTable()); err != nil {
		return c.revert(ctx, row, err.Error())
	}
	c.setDeployment(row.ARN, next)
	_, err := c.commit(ctx, row.ARN, row.Generation, func(r *store.Endpoint, s *endpointState) {
		c.inService(r, s, next.Plan)
	})
	return err
}

// delete stops an endpoint's fleets and removes it.
func (c *Controller) delete(ctx context.Context, row store.Endpoint) error {
	c.teardown(ctx, row.ARN, row.Name)
	err := c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.LockEndpoint(ctx, row.ARN)
		if err != nil {
			return err
		}
		if err := tx.DeleteEndpoint(ctx, cur.ID); err != nil {
			return err
		}
		return tx.DeleteAllTags(ctx, cur.ARN)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// restore brings an InService endpoint back after a restart, from the plan it ran.
func (c *Controller) restore(ctx context.Context, row store.Endpoint, st endpointState) error {
	if _, ok := c.Deployment(row.ARN); ok {
		return nil
	}
	if st.Deployed == nil {
		return c.fail(ctx, row, "the endpoint is InService but has no recorded deployment to restore")
	}
	d, err := c.deploy(ctx, row.Name, *st.Deployed)
	if err == nil {
		c.setDeployment(row.ARN, d)
		c.log.Info("endpoint restored", "endpoint", row.Name)
		if st.RestoreFailures > 0 {
			_, err = c.commit(ctx, row.ARN, row.Generation, func(r *store.Endpoint, s *endpointState) { s.RestoreFailures = 0 })
		}
		return err
	}
	if ctx.Err() != nil {
		return err
	}
	n := st.RestoreFailures + 1
	if n >= c.cfg.MaxRestoreFailures {
		return c.fail(ctx, row, fmt.Sprintf("could not bring the endpoint back after a restart (%d attempts): %v", n, err))
	}
	c.log.Warn("endpoint could not be restored; will retry", "endpoint", row.Name, "attempt", n, slog.Any("error", err))
	c.mu.Lock()
	c.retryAt[row.ARN] = c.now().Add(time.Second << (n - 1))
	c.mu.Unlock()
	_, err = c.commit(ctx, row.ARN, row.Generation, func(r *store.Endpoint, s *endpointState) { s.RestoreFailures = n })
	return err
}

// deploy starts a fleet per variant and publishes the plan's routing table, replacing whatever
// the endpoint routed to. On failure every fleet it started is stopped and nothing is published.
func (c *Controller) deploy(ctx context.Context, endpoint string, plan Plan) (*Deployment, error) {
	d, err := c.startFleets(ctx, endpoint, plan)
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Router.Publish(endpoint, d.RoutingTable()); err != nil {
		c.retire(d.Fleets)
		return nil, err
	}
	return d, nil
}

// startFleets starts a fleet per variant of plan, in parallel, without routing any traffic to
// them: a blue/green strategy publishes tables that shift traffic onto them step by step. On
// failure every fleet it started is stopped.
func (c *Controller) startFleets(ctx context.Context, endpoint string, plan Plan) (*Deployment, error) {
	d := &Deployment{Endpoint: endpoint, Plan: plan}
	type result struct {
		i   int
		f   *Fleet
		err error
	}
	all := append(append([]PlanVariant{}, plan.Variants...), plan.Shadows...)
	results := make(chan result, len(all))
	for i, v := range all {
		go func() {
			spec := v.ModelSpec()
			if spec.StartupTimeout == 0 {
				spec.StartupTimeout = c.cfg.StartupTimeout
			}
			s, err := c.cfg.Models.StartModel(ctx, spec)
			if err != nil {
				err = fmt.Errorf("variant %s: %w", v.Name, err)
			}
			results <- result{i: i, f: &Fleet{Variant: v, Shadow: i >= len(plan.Variants), Server: s}, err: err}
		}()
	}
	d.Fleets = make([]*Fleet, len(all))
	var errs []error
	for range all {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		d.Fleets[r.i] = r.f
	}
	if len(errs) > 0 {
		c.retire(d.Fleets)
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// retire stops fleets in the background; each lets the requests it is serving finish. Callers
// first move traffic off the fleets and Drain the router.
func (c *Controller) retire(fleets []*Fleet) {
	for _, f := range fleets {
		if f == nil || f.Server == nil {
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := f.Server.Close(ctx); err != nil {
				c.log.Warn("stopping a fleet failed", "variant", f.Variant.Name, slog.Any("error", err))
			}
		}()
	}
}

func (c *Controller) setDeployment(arn string, d *Deployment) {
	c.mu.Lock()
	c.deployments[arn] = d
	delete(c.retryAt, arn)
	c.mu.Unlock()
}

// teardown stops routing to an endpoint and stops its fleets, once the requests already routed
// to them have finished.
func (c *Controller) teardown(ctx context.Context, arn, name string) {
	c.cfg.Router.Remove(name)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	if err := c.cfg.Router.Drain(dctx, name); err != nil {
		c.log.Warn("requests still in flight on a deleted endpoint's fleets", "endpoint", name, slog.Any("error", err))
	}
	cancel()
	c.mu.Lock()
	d := c.deployments[arn]
	delete(c.deployments, arn)
	c.mu.Unlock()
	if d != nil {
		c.retire(d.Fleets)
	}
}

// stopAll stops every fleet at shutdown.
func (c *Controller) stopAll() {
	c.mu.Lock()
	ds := c.deployments
	c.deployments = map[string]*Deployment{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range ds {
		c.cfg.Router.Remove(d.Endpoint)
		for _, f := range d.Fleets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				f.Server.Close(ctx)
			}()
		}
	}
	wg.Wait()
	c.wg.Wait()
}

func clonePlan(p Plan) Plan {
	p.Variants = append([]PlanVariant(nil), p.Variants...)
	p.Shadows = append([]PlanVariant(nil), p.Shadows...)
	return p
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
