package hosting

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sluice-ml/sluice/internal/serving"
)

// fleetMeter counts the traffic one side of a deployment (old or new fleet) serves, for the
// record: alarms watch the variant as a whole, the record tells the two fleets apart.
type fleetMeter struct {
	invocations, err4xx, err5xx atomic.Uint64
	latency                     serving.Histogram
}

// meterReading is a fleetMeter's counts at one moment.
type meterReading struct {
	at                          time.Time
	invocations, err4xx, err5xx uint64
	latency                     serving.HistogramSnapshot
}

func (m *fleetMeter) read(at time.Time) meterReading {
	return meterReading{at: at, invocations: m.invocations.Load(), err4xx: m.err4xx.Load(), err5xx: m.err5xx.Load(), latency: m.latency.Snapshot()}
}

// since describes the traffic between an earlier reading and this one.
func (r meterReading) since(prev meterReading, fleet string) FleetObservation {
	lat := r.latency.Sub(prev.latency)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return FleetObservation{Fleet: fleet, Since: prev.at, Invocations: r.invocations - prev.invocations,
		Invocation4XXErrors: r.err4xx - prev.err4xx, Invocation5XXErrors: r.err5xx - prev.err5xx,
		ModelLatencyP50Micros: us(lat.Quantile(0.5)), ModelLatencyP99Micros: us(lat.Quantile(0.99))}
}

// meteredServer is a fleet's model server counted by a fleetMeter. Only the tables published
// while a deployment runs use it; the steady state routes to the fleet directly.
type meteredServer struct {
	serving.ModelServer
	m *fleetMeter
}

func (s meteredServer) Invoke(ctx context.Context, req *serving.Request, resp *serving.Response) error {
	start := time.Now()
	err := s.ModelServer.Invoke(ctx, req, resp)
	s.m.latency.Observe(time.Since(start))
	s.m.invocations.Add(1)
	switch {
	case err != nil || resp.Status >= 500:
		s.m.err5xx.Add(1)
	case resp.Status >= 400:
		s.m.err4xx.Add(1)
	}
	return err
}
