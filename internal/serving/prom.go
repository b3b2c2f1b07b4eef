package serving

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus descriptions of the router's metrics. Latency histograms have a bucket at every
// power of two of nanoseconds from 1 µs to 137 s, where the internal buckets have edges, so the
// exported counts are exact.
var (
	descInvocations = prometheus.NewDesc("sluice_endpoint_invocations_total",
		"InvokeEndpoint requests sent to a variant.", []string{"endpoint", "variant"}, nil)
	desc4xx = prometheus.NewDesc("sluice_endpoint_invocation_4xx_errors_total",
		"Invocations the model answered with a 4xx status.", []string{"endpoint", "variant"}, nil)
	desc5xx = prometheus.NewDesc("sluice_endpoint_invocation_5xx_errors_total",
		"Invocations the model answered with a 5xx status or could not answer.", []string{"endpoint", "variant"}, nil)
	descModelLatency = prometheus.NewDesc("sluice_endpoint_model_latency_seconds",
		"Time the model server took to answer (SageMaker's ModelLatency).", []string{"endpoint", "variant"}, nil)
	descOverheadLatency = prometheus.NewDesc("sluice_endpoint_overhead_latency_seconds",
		"Request time spent outside the model: authentication, routing, I/O (SageMaker's OverheadLatency).", []string{"endpoint", "variant"}, nil)
)

// Describe implements prometheus.Collector.
func (r *Router) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInvocations, desc4xx, desc5xx, descModelLatency, descOverheadLatency} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Router) Collect(ch chan<- prometheus.Metric) {
	for _, e := range *r.endpoints.Load() {
		r.mu.Lock()
		snaps := make([]VariantMetrics, 0, len(e.metrics))
		for name, m := range e.metrics {
			snaps = append(snaps, m.snapshot(name))
		}
		r.mu.Unlock()
		for _, s := range snaps {
			ch <- prometheus.MustNewConstMetric(descInvocations, prometheus.CounterValue, float64(s.Invocations), e.name, s.VariantName)
			ch <- prometheus.MustNewConstMetric(desc4xx, prometheus.CounterValue, float64(s.Invocation4XXErrors), e.name, s.VariantName)
			ch <- prometheus.MustNewConstMetric(desc5xx, prometheus.CounterValue, float64(s.Invocation5XXErrors), e.name, s.VariantName)
			ch <- promHistogram(descModelLatency, s.ModelLatency, e.name, s.VariantName)
			ch <- promHistogram(descOverheadLatency, s.OverheadLatency, e.name, s.VariantName)
		}
	}
}

func promHistogram(d *prometheus.Desc, s HistogramSnapshot, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, histMaxExp-histMinExp+2)
	for exp := histMinExp; exp <= histMaxExp+1; exp++ {
		buckets[float64(uint64(1)<<exp)/1e9] = s.cumulativeAt(exp)
	}
	return prometheus.MustNewConstHistogram(d, s.Count, s.Sum.Seconds(), buckets, labels...)
}
