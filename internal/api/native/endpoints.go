package native

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/serving"
)

// EndpointsAPI serves what SageMaker keeps in CloudWatch for endpoints: per-variant metrics.
type EndpointsAPI struct {
	Router *serving.Router
	// Endpoints tells a missing endpoint from one not serving yet; *hosting.Service.
	Endpoints interface {
		DescribeEndpoint(ctx context.Context, name string) (hosting.Endpoint, error)
	}
	Log *slog.Logger
}

// Register adds the routes to mux.
func (a *EndpointsAPI) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/endpoints/{name}/metrics", handler(a.metrics, a.Log))
}

// Latency summarises a latency histogram in microseconds, SageMaker's unit for ModelLatency
// and OverheadLatency.
type Latency struct {
	Count      uint64  `json:"Count"`
	MeanMicros float64 `json:"MeanMicros"`
	P50Micros  float64 `json:"P50Micros"`
	P90Micros  float64 `json:"P90Micros"`
	P99Micros  float64 `json:"P99Micros"`
}

func latency(s serving.HistogramSnapshot) Latency {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return Latency{Count: s.Count, MeanMicros: us(s.Mean()), P50Micros: us(s.Quantile(0.5)), P90Micros: us(s.Quantile(0.9)), P99Micros: us(s.Quantile(0.99))}
}

// VariantMetrics are one variant's counters since the endpoint started serving on this server.
type VariantMetrics struct {
	VariantName         string  `json:"VariantName"`
	Invocations         uint64  `json:"Invocations"`
	Invocation4XXErrors uint64  `json:"Invocation4XXErrors"`
	Invocation5XXErrors uint64  `json:"Invocation5XXErrors"`
	ModelLatency        Latency `json:"ModelLatency"`
	OverheadLatency     Latency `json:"OverheadLatency"`
}

// EndpointMetrics is the answer of GET /api/v1/endpoints/{name}/metrics.
type EndpointMetrics struct {
	EndpointName   string           `json:"EndpointName"`
	EndpointStatus string           `json:"EndpointStatus"`
	Variants       []VariantMetrics `json:"Variants"`
}

func (a *EndpointsAPI) metrics(r *http.Request) (any, error) {
	name := r.PathValue("name")
	e, err := a.Endpoints.DescribeEndpoint(r.Context(), name)
	if errors.Is(err, hosting.ErrNotFound) {
		return nil, NotFound("endpoint %s does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	out := EndpointMetrics{EndpointName: e.EndpointName, EndpointStatus: e.EndpointStatus, Variants: []VariantMetrics{}}
	ms, _ := a.Router.Metrics(name)
	for _, m := range ms {
		out.Variants = append(out.Variants, VariantMetrics{VariantName: m.VariantName, Invocations: m.Invocations,
			Invocation4XXErrors: m.Invocation4XXErrors, Invocation5XXErrors: m.Invocation5XXErrors,
			ModelLatency: latency(m.ModelLatency), OverheadLatency: latency(m.OverheadLatency)})
	}
	return out, nil
}
