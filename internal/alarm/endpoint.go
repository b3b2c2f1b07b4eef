package alarm

import "time"

// EndpointSeries holds the handles of one endpoint variant's invocation metrics, so the data
// plane records an invocation without any lookup. Each metric is recorded twice: with
// EndpointName and VariantName (as SageMaker publishes it) and with EndpointName alone (the sum
// over variants, which SageMaker does not publish), so alarms can watch either.
type EndpointSeries struct {
	invocations, err4xx, err5xx, model, overhead [2]*Series
}

// Endpoint returns the metric handles of an endpoint variant, creating them on first use. The
// handles stay valid for the life of the recorder; keep them with the route.
func (r *Recorder) Endpoint(endpoint, variant string) *EndpointSeries {
	k := [2]string{endpoint, variant}
	r.mu.RLock()
	e := r.endpoints[k]
	r.mu.RUnlock()
	if e != nil {
		return e
	}
	both := []Dimension{{DimEndpointName, endpoint}, {DimVariantName, variant}}
	alone := []Dimension{{DimEndpointName, endpoint}}
	pair := func(metric string) [2]*Series {
		return [2]*Series{
			r.mustSeries(NewMetricKey(NamespaceSageMaker, metric, both)),
			r.mustSeries(NewMetricKey(NamespaceSageMaker, metric, alone)),
		}
	}
	e = &EndpointSeries{
		invocations: pair(MetricInvocations),
		err4xx:      pair(MetricInvocation4XXErrors),
		err5xx:      pair(MetricInvocation5XXErrors),
		model:       pair(MetricModelLatency),
		overhead:    pair(MetricOverheadLatency),
	}
	r.mu.Lock()
	if prev := r.endpoints[k]; prev != nil {
		e = prev
	} else {
		r.endpoints[k] = e
	}
	r.mu.Unlock()
	return e
}

// Invocation records one invocation at the recorder's current time; see InvocationAt.
func (e *EndpointSeries) Invocation(status int, model, overhead time.Duration) {
	e.InvocationAt(e.invocations[0].rec.clock.Now(), status, model, overhead)
}

// InvocationAt records one invocation answered with HTTP status at time t: Invocations 1,
// Invocation4XXErrors and Invocation5XXErrors 1 or 0 by status class, and the model and
// overhead latencies in microseconds. Pass a negative model latency when the request never
// reached the model (it is then not recorded), and likewise for overhead.
func (e *EndpointSeries) InvocationAt(t time.Time, status int, model, overhead time.Duration) {
	var e4, e5 float64
	switch {
	case status >= 500:
		e5 = 1
	case status >= 400:
		e4 = 1
	}
	for i := range 2 {
		e.invocations[i].RecordAt(t, 1)
		e.err4xx[i].RecordAt(t, e4)
		e.err5xx[i].RecordAt(t, e5)
		if model >= 0 {
			e.model[i].RecordAt(t, float64(model)/float64(time.Microsecond))
		}
		if overhead >= 0 {
			e.overhead[i].RecordAt(t, float64(overhead)/float64(time.Microsecond))
		}
	}
}
