package serving

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Route sends a share of an endpoint's traffic to a fleet.
type Route struct {
	// Variant is the production variant's name, reported in x-Amzn-Invoked-Production-Variant.
	Variant string
	// Weight is the route's share of traffic relative to the other routes' weights. During a
	// blue/green shift one variant may have two routes (old and new fleet) whose weights split
	// the variant's share; TargetVariant then chooses between them by weight too.
	Weight float64
	// Server is the fleet behind the route.
	Server ModelServer
}

// RoutingTable is everything the router needs to serve one endpoint. The hosting controller
// builds one per deployment step and publishes it with [Router.Publish]; the swap is atomic,
// so a request sees either the old table or the new one.
type RoutingTable struct {
	Routes []Route
	// Shadows receive a sampled copy of production requests: a shadow's Weight relative to
	// the production routes' total weight is the share of requests copied to it (1 of 1 is
	// every request). Their answers are discarded and only their metrics are kept, under
	// their own variant names.
	Shadows []Route
	// Capture, when non-nil, samples traffic for data capture.
	Capture *CaptureConfig
}

// maxShadowInFlight bounds the shadow requests of one endpoint; beyond it copies are dropped
// rather than queued, so a slow shadow never slows production traffic.
const maxShadowInFlight = 64

// route is a compiled Route.
type route struct {
	variant string
	// header is the value of x-Amzn-Invoked-Production-Variant, allocated once per table so
	// the response header costs nothing per request.
	header  []string
	weight  float64
	cum     float64
	server  ModelServer
	metrics *variantMetrics
	// series records the invocation for alarms (RouterConfig.Series); nil when unset.
	series InvocationSeries
	// sample is a shadow route's share of production requests copied to it.
	sample float64
}

// table is a compiled RoutingTable.
type table struct {
	endpoint  string
	routes    []route
	total     float64
	shadows   []route
	capture   *captureSpec
	shadowSem chan struct{}
	// active counts the requests (and shadow copies) being served through this table, so a
	// deployment can wait for a replaced table's requests to finish before stopping its fleets.
	active atomic.Int64
}

// endpointEntry is what the router knows about one endpoint.
type endpointEntry struct {
	// name is the endpoint's name as first published, for metric labels.
	name  string
	table atomic.Pointer[table]
	// metrics are per variant; they outlive table swaps, so a deployment's alarms see one
	// series per variant. Guarded by Router.mu.
	metrics map[string]*variantMetrics
}

// Router routes invocations to endpoints' fleets. It is safe for concurrent use; Invoke takes
// no lock.
type Router struct {
	log     *slog.Logger
	capture *Capturer
	rand    func() uint64
	series  func(endpoint, variant string) InvocationSeries

	mu        sync.Mutex // serialises writers; readers use endpoints
	endpoints atomic.Pointer[map[string]*endpointEntry]
	// retired holds, per endpoint key, replaced or removed tables that may still have requests
	// in flight (see Drain). Guarded by mu.
	retired map[string][]*table
}

// InvocationSeries receives the outcome of every invocation of one endpoint variant;
// *alarm.EndpointSeries is the implementation, so alarms watch live traffic.
type InvocationSeries interface {
	// Invocation records one request answered with HTTP status; model is the model's latency
	// (negative when the model gave no answer), overhead the rest of the request's time.
	Invocation(status int, model, overhead time.Duration)
}

// RouterConfig configures a Router.
type RouterConfig struct {
	// Capture receives sampled traffic; nil disables data capture.
	Capture *Capturer
	// Rand is the random source of weighted routing and sampling; default math/rand/v2's
	// per-goroutine generator. Tests pass a seeded one.
	Rand func() uint64
	// Series, when set, returns where an endpoint variant's invocations are recorded for
	// alarms; it is called when a table is published, never per request. Every route of a
	// variant records into the same series, so during a blue/green shift the variant's alarms
	// see the new fleet's traffic as well as the old one's.
	Series func(endpoint, variant string) InvocationSeries
	Log    *slog.Logger
}

// NewRouter returns an empty router.
func NewRouter(cfg RouterConfig) *Router {
	r := &Router{log: cfg.Log, capture: cfg.Capture, rand: cfg.Rand, series: cfg.Series, retired: map[string][]*table{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.rand == nil {
		r.rand = rand.Uint64
	}
	m := map[string]*endpointEntry{}
	r.endpoints.Store(&m)
	return r
}

// endpointKey is how the router names an endpoint: SageMaker endpoint names are not case
// sensitive.
func endpointKey(name string) string { return strings.ToLower(name) }

// Publish makes t the endpoint's routing table, replacing any previous one atomically.
func (r *Router) Publish(endpoint string, t RoutingTable) error {
	if len(t.Routes) == 0 {
		return fmt.Errorf("serving: publish %s: the routing table has no routes", endpoint)
	}
	key := endpointKey(endpoint)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.endpoints.Load()
	e := old[key]
	fresh := e == nil
	if fresh {
		e = &endpointEntry{name: endpoint, metrics: map[string]*variantMetrics{}}
	}
	ct, err := r.compile(endpoint, e, t)
	if err != nil {
		return err
	}
	if prev := e.table.Load(); prev != nil {
		r.retireLocked(key, prev)
	}
	e.table.Store(ct)
	if fresh {
		next := make(map[string]*endpointEntry, len(old)+1)
		for k, v := range old {
			next[k] = v
		}
		next[key] = e
		r.endpoints.Store(&next)
	}
	return nil
}

func (r *Router) compile(endpoint string, e *endpointEntry, t RoutingTable) (*table, error) {
	ct := &table{endpoint: endpoint}
	build := func(in []Route, what string) ([]route, float64, error) {
		out := make([]route, len(in))
		var total float64
		for i, rt := range in {
			switch {
			case rt.Variant == "":
				return nil, 0, fmt.Errorf("serving: publish %s: %s %d has no variant name", endpoint, what, i)
			case rt.Server == nil:
				return nil, 0, fmt.Errorf("serving: publish %s: %s %s has no model server", endpoint, what, rt.Variant)
			case !(rt.Weight >= 0):
				return nil, 0, fmt.Errorf("serving: publish %s: %s %s has weight %v; weights are ≥ 0", endpoint, what, rt.Variant, rt.Weight)
			}
			m := e.metrics[rt.Variant]
			if m == nil {
				m = &variantMetrics{}
				e.metrics[rt.Variant] = m
			}
			total += rt.Weight
			out[i] = route{variant: rt.Variant, header: []string{rt.Variant}, weight: rt.Weight, cum: total, server: rt.Server, metrics: m}
			if r.series != nil && what == "route" {
				out[i].series = r.series(e.name, rt.Variant)
			}
		}
		return out, total, nil
	}
	var err error
	if ct.routes, ct.total, err = build(t.Routes, "route"); err != nil {
		return nil, err
	}
	if !(ct.total > 0) {
		return nil, fmt.Errorf("serving: publish %s: every route has weight 0, so no traffic could be routed", endpoint)
	}
	if ct.shadows, _, err = build(t.Shadows, "shadow route"); err != nil {
		return nil, err
	}
	if len(ct.shadows) > 64 {
		return nil, fmt.Errorf("serving: publish %s: %d shadow routes; at most 64", endpoint, len(ct.shadows))
	}
	for i := range ct.shadows {
		ct.shadows[i].sample = min(ct.shadows[i].weight/ct.total, 1)
	}
	if len(ct.shadows) > 0 {
		ct.shadowSem = make(chan struct{}, maxShadowInFlight)
	}
	if t.Capture != nil {
		if ct.capture, err = t.Capture.compile(); err != nil {
			return nil, fmt.Errorf("serving: publish %s: %w", endpoint, err)
		}
	}
	return ct, nil
}

// Remove forgets the endpoint: its table and its metrics. Fleets are the caller's to close,
// after Drain.
func (r *Router) Remove(endpoint string) {
	key := endpointKey(endpoint)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.endpoints.Load()
	e, ok := old[key]
	if !ok {
		return
	}
	r.retireLocked(key, e.table.Load())
	next := make(map[string]*endpointEntry, len(old))
	for k, v := range old {
		if k != key {
			next[k] = v
		}
	}
	r.endpoints.Store(&next)
}

// retireLocked keeps a replaced table until its requests finish, and forgets the replaced
// tables that have none left. The caller holds r.mu.
func (r *Router) retireLocked(key string, t *table) {
	keep := r.retired[key][:0]
	for _, old := range r.retired[key] {
		if old.active.Load() > 0 {
			keep = append(keep, old)
		}
	}
	if t != nil && t.active.Load() > 0 {
		keep = append(keep, t)
	}
	if len(keep) == 0 {
		delete(r.retired, key)
		return
	}
	r.retired[key] = keep
}

// Drain waits until no request is still being served through a table the endpoint no longer
// uses (one replaced by Publish or dropped by Remove), or until ctx ends. A request keeps the
// table it started with, so after Publish moves traffic off a fleet, Drain then Close stops the
// fleet without failing a request that had already chosen it.
func (r *Router) Drain(ctx context.Context, endpoint string) error {
	key := endpointKey(endpoint)
	wait := 100 * time.Microsecond
	for {
		r.mu.Lock()
		r.retireLocked(key, nil)
		busy := len(r.retired[key]) > 0
		r.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("serving: drain %s: %w", endpoint, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// Serves reports whether the router has a table for the endpoint.
func (r *Router) Serves(endpoint string) bool { return r.lookup(endpoint) != nil }

func (r *Router) lookup(endpoint string) *endpointEntry {
	m := *r.endpoints.Load()
	if e := m[endpoint]; e != nil {
		return e
	}
	// Only a name with capitals gets here, and pays for lower-casing it.
	return m[endpointKey(endpoint)]
}

// Call is the outcome of one routed invocation, to be finished with Finish once the response
// has been written.
type Call struct {
	route *route
	// ModelLatency is the time the model server took.
	ModelLatency time.Duration
	// status is the model's HTTP status, 0 when the model could not answer.
	status int
}

// Variant is the name of the variant that served the call ("" if none was chosen).
func (c Call) Variant() string {
	if c.route == nil {
		return ""
	}
	return c.route.variant
}

// VariantHeader is the x-Amzn-Invoked-Production-Variant header value, shared and read-only.
func (c Call) VariantHeader() []string {
	if c.route == nil {
		return nil
	}
	return c.route.header
}

// Finish records the call's overhead: total (the whole request as the front end saw it) less
// the model's latency, and hands the whole invocation to the variant's InvocationSeries.
func (c Call) Finish(total time.Duration) {
	if c.route == nil {
		return
	}
	c.route.metrics.overhead.Observe(total - c.ModelLatency)
	if s := c.route.series; s != nil {
		if c.status == 0 {
			// No answer (timeout, no healthy replica) counts as a server error, as the
			// router's own metrics count it.
			s.Invocation(500, -1, total-c.ModelLatency)
			return
		}
		s.Invocation(c.status, c.ModelLatency, total-c.ModelLatency)
	}
}

// Invoke routes req to one of the endpoint's variants, by weight or by req.TargetVariant, and
// fills resp. Errors wrap ErrNoEndpoint, ErrNoVariant or a model server's errors.
func (r *Router) Invoke(ctx context.Context, endpoint string, req *Request, resp *Response) (Call, error) {
	e := r.lookup(endpoint)
	if e == nil {
		return Call{}, ErrNoEndpoint
	}
	t := e.table.Load()
	for {
		// Count the request on the table before using it; if a new table was published
		// meanwhile, use that one, so Drain never misses a request on a replaced table.
		t.active.Add(1)
		cur := e.table.Load()
		if cur == t {
			break
		}
		t.active.Add(-1)
		t = cur
	}
	rt := t.pick(req.TargetVariant, r.rand)
	if rt == nil {
		t.active.Add(-1)
		return Call{}, ErrNoVariant
	}
	start := time.Now()
	err := rt.server.Invoke(ctx, req, resp)
	lat := time.Since(start)
	m := rt.metrics
	m.invocations.Add(1)
	switch {
	case err != nil:
		m.errors5xx.Add(1)
	case resp.Status >= 500:
		m.errors5xx.Add(1)
		m.model.Observe(lat)
	case resp.Status >= 400:
		m.errors4xx.Add(1)
		m.model.Observe(lat)
	default:
		m.model.Observe(lat)
	}
	if err == nil {
		if t.capture != nil && r.capture != nil {
			r.capture.offer(t, rt, req, resp, start, r.rand)
		}
		if len(t.shadows) > 0 {
			r.shadow(t, req)
		}
	}
	t.active.Add(-1)
	call := Call{route: rt, ModelLatency: lat}
	if err == nil {
		call.status = resp.Status
	}
	return call, err
}

// unit maps a random uint64 to [0, 1).
func unit(u uint64) float64 { return float64(u>>11) * (1.0 / (1 << 53)) }

// pick chooses a route: among the target variant's routes when target is set, otherwise among
// all routes, by weight. It returns nil for an unknown target.
func (t *table) pick(target string, rnd func() uint64) *route {
	if target != "" {
		return t.pickVariant(target, rnd)
	}
	if len(t.routes) == 1 {
		return &t.routes[0]
	}
	x := unit(rnd()) * t.total
	for i := range t.routes {
		if x < t.routes[i].cum {
			return &t.routes[i]
		}
	}
	// x can reach total only through rounding; the last route with weight takes it.
	for i := len(t.routes) - 1; i >= 0; i-- {
		if t.routes[i].weight > 0 {
			return &t.routes[i]
		}
	}
	return &t.routes[0]
}

func (t *table) pickVariant(target string, rnd func() uint64) *route {
	var first *route
	n, total := 0, 0.0
	for i := range t.routes {
		if t.routes[i].variant == target {
			if first == nil {
				first = &t.routes[i]
			}
			n++
			total += t.routes[i].weight
		}
	}
	if n <= 1 || total <= 0 {
		return first
	}
	x := unit(rnd()) * total
	for i := range t.routes {
		rt := &t.routes[i]
		if rt.variant != target {
			continue
		}
		if x < rt.weight {
			return rt
		}
		x -= rt.weight
	}
	return first
}

// shadow sends a copy of req, in the background, to the shadow routes that sample it. When too
// many shadow requests are already in flight the copy is dropped.
func (r *Router) shadow(t *table, req *Request) {
	var picked uint64
	for i := range t.shadows {
		if s := t.shadows[i].sample; s >= 1 || (s > 0 && unit(r.rand()) < s) {
			picked |= 1 << i
		}
	}
	if picked == 0 {
		return
	}
	select {
	case t.shadowSem <- struct{}{}:
	default:
		return
	}
	cp := *req
	cp.Body = slices.Clone(req.Body)
	cp.TargetVariant = ""
	t.active.Add(1)
	go func() {
		defer func() { <-t.shadowSem; t.active.Add(-1) }()
		ctx, cancel := context.WithTimeout(context.Background(), DefaultInvocationTimeout)
		defer cancel()
		var resp Response
		for i := range t.shadows {
			if picked&(1<<i) == 0 {
				continue
			}
			rt := &t.shadows[i]
			resp.Reset()
			start := time.Now()
			err := rt.server.Invoke(ctx, &cp, &resp)
			lat := time.Since(start)
			m := rt.metrics
			m.invocations.Add(1)
			switch {
			case err != nil:
				m.errors5xx.Add(1)
				if !errors.Is(err, context.Canceled) {
					r.log.Debug("shadow invocation failed", "endpoint", t.endpoint, "variant", rt.variant, slog.Any("error", err))
				}
				continue
			case resp.Status >= 500:
				m.errors5xx.Add(1)
			case resp.Status >= 400:
				m.errors4xx.Add(1)
			}
			m.model.Observe(lat)
			m.overhead.Observe(0)
		}
	}()
}

// Metrics returns a snapshot of the endpoint's per-variant metrics, sorted by variant name;
// ok is false when the router does not serve the endpoint.
func (r *Router) Metrics(endpoint string) (out []VariantMetrics, ok bool) {
	e := r.lookup(endpoint)
	if e == nil {
		return nil, false
	}
	r.mu.Lock()
	for name, m := range e.metrics {
		out = append(out, m.snapshot(name))
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b VariantMetrics) int { return cmp.Compare(a.VariantName, b.VariantName) })
	return out, true
}

// Endpoints lists the names of the endpoints the router serves (lower-cased).
func (r *Router) Endpoints() []string {
	m := *r.endpoints.Load()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
