package serving

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixedServer answers with a constant body and counts its calls.
type fixedServer struct {
	body   string
	status int
	err    error
	calls  atomic.Int64
}

func (s *fixedServer) Invoke(ctx context.Context, req *Request, resp *Response) error {
	s.calls.Add(1)
	if s.err != nil {
		return s.err
	}
	resp.Status = cmpOr(s.status, 200)
	resp.ContentType = "text/plain"
	resp.Body = append(resp.Body, s.body...)
	return nil
}
func (s *fixedServer) Scale(context.Context, int) error { return nil }
func (s *fixedServer) Status() Status                   { return Status{Kind: "test", Replicas: 1, Healthy: 1} }
func (s *fixedServer) Close(context.Context) error      { return nil }

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func seeded(seed uint64) func() uint64 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var mu sync.Mutex
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return rng.Uint64()
	}
}

// Weighted routing converges to the configured split: with a fixed seed, 100 000 requests
// over weights 1:2:7 must land within a chi-square bound of the expected counts.
func TestWeightedRoutingConverges(t *testing.T) {
	r := NewRouter(RouterConfig{Rand: seeded(42)})
	servers := map[string]*fixedServer{"a": {body: "a"}, "b": {body: "b"}, "c": {body: "c"}, "off": {body: "off"}}
	weights := map[string]float64{"a": 1, "b": 2, "c": 7, "off": 0}
	var routes []Route
	for _, v := range []string{"a", "b", "c", "off"} {
		routes = append(routes, Route{Variant: v, Weight: weights[v], Server: servers[v]})
	}
	if err := r.Publish("ep", RoutingTable{Routes: routes}); err != nil {
		t.Fatal(err)
	}
	const n = 100000
	counts := map[string]int{}
	resp := &Response{}
	for range n {
		resp.Reset()
		call, err := r.Invoke(context.Background(), "ep", &Request{}, resp)
		if err != nil {
			t.Fatal(err)
		}
		if call.Variant() != string(resp.Body) {
			t.Fatalf("call reports variant %q, body from %q", call.Variant(), resp.Body)
		}
		counts[call.Variant()]++
	}
	if counts["off"] != 0 {
		t.Fatalf("a variant with weight 0 got %d requests", counts["off"])
	}
	chi2 := 0.0
	for _, v := range []string{"a", "b", "c"} {
		want := n * weights[v] / 10
		d := float64(counts[v]) - want
		chi2 += d * d / want
	}
	// 99.9th percentile of chi-square with 2 degrees of freedom.
	if chi2 > 13.8 {
		t.Fatalf("split %v is too far from 1:2:7 (chi-square %.1f)", counts, chi2)
	}
	t.Logf("split %v, chi-square %.2f", counts, chi2)
	m, _ := r.Metrics("ep")
	if len(m) != 4 || m[0].VariantName != "a" || m[0].Invocations != uint64(counts["a"]) {
		t.Fatalf("metrics %+v", m)
	}
}

func TestTargetVariant(t *testing.T) {
	r := NewRouter(RouterConfig{Rand: seeded(1)})
	a, b := &fixedServer{body: "a"}, &fixedServer{body: "b"}
	blue, green := &fixedServer{body: "blue"}, &fixedServer{body: "green"}
	r.Publish("EP", RoutingTable{Routes: []Route{
		{Variant: "a", Weight: 1, Server: a},
		{Variant: "b", Weight: 0, Server: b},
		{Variant: "shift", Weight: 3, Server: blue},
		{Variant: "shift", Weight: 1, Server: green},
	}})
	tests := []struct {
		name, endpoint, target string
		want                   string
		err                    error
	}{
		{"weight 0 is reachable by target", "EP", "b", "b", nil},
		{"endpoint names ignore case", "ep", "a", "a", nil},
		{"unknown variant", "EP", "nope", "", ErrNoVariant},
		{"unknown endpoint", "other", "", "", ErrNoEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &Response{}
			call, err := r.Invoke(context.Background(), tc.endpoint, &Request{TargetVariant: tc.target}, resp)
			if !errors.Is(err, tc.err) || string(resp.Body) != tc.want || call.Variant() != tc.want && tc.err == nil {
				t.Fatalf("got %q (%q), %v; want %q, %v", resp.Body, call.Variant(), err, tc.want, tc.err)
			}
		})
	}
	// A variant with two fleets splits its targeted traffic by their weights.
	for range 4000 {
		r.Invoke(context.Background(), "EP", &Request{TargetVariant: "shift"}, &Response{})
	}
	if share := float64(green.calls.Load()) / 4000; math.Abs(share-0.25) > 0.03 {
		t.Fatalf("green fleet got %.3f of the targeted traffic, want 0.25", share)
	}
}

func TestPublishRejectsBadTables(t *testing.T) {
	r := NewRouter(RouterConfig{})
	s := &fixedServer{}
	tests := []struct {
		name  string
		table RoutingTable
	}{
		{"no routes", RoutingTable{}},
		{"all weights zero", RoutingTable{Routes: []Route{{Variant: "a", Weight: 0, Server: s}}}},
		{"negative weight", RoutingTable{Routes: []Route{{Variant: "a", Weight: -1, Server: s}}}},
		{"NaN weight", RoutingTable{Routes: []Route{{Variant: "a", Weight: math.NaN(), Server: s}}}},
		{"no variant name", RoutingTable{Routes: []Route{{Weight: 1, Server: s}}}},
		{"no server", RoutingTable{Routes: []Route{{Variant: "a", Weight: 1}}}},
		{"bad capture", RoutingTable{Routes: []Route{{Variant: "a", Weight: 1, Server: s}}, Capture: &CaptureConfig{Destination: "nope"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Publish("ep", tc.table); err == nil {
				t.Fatal("Publish accepted the table")
			}
			if r.Serves("ep") {
				t.Fatal("a rejected table was published")
			}
		})
	}
}

func TestRouterMetricsAndErrors(t *testing.T) {
	r := NewRouter(RouterConfig{})
	ok, bad, broken, down := &fixedServer{body: "x"}, &fixedServer{status: 400}, &fixedServer{status: 503}, &fixedServer{err: ErrUnavailable}
	r.Publish("ep", RoutingTable{Routes: []Route{
		{Variant: "ok", Weight: 1, Server: ok}, {Variant: "bad", Weight: 0, Server: bad},
		{Variant: "broken", Weight: 0, Server: broken}, {Variant: "down", Weight: 0, Server: down},
	}})
	for _, v := range []string{"ok", "ok", "bad", "broken", "down"} {
		call, err := r.Invoke(context.Background(), "ep", &Request{TargetVariant: v}, &Response{})
		if v == "down" != (err != nil) {
			t.Fatalf("%s: %v", v, err)
		}
		call.Finish(call.ModelLatency + 50*time.Microsecond)
	}
	got := map[string]VariantMetrics{}
	ms, _ := r.Metrics("ep")
	for _, m := range ms {
		got[m.VariantName] = m
	}
	if m := got["ok"]; m.Invocations != 2 || m.Invocation4XXErrors != 0 || m.ModelLatency.Count != 2 || m.OverheadLatency.Count != 2 {
		t.Fatalf("ok: %+v", m)
	}
	if m := got["bad"]; m.Invocation4XXErrors != 1 || m.Invocation5XXErrors != 0 {
		t.Fatalf("bad: %+v", m)
	}
	if m := got["broken"]; m.Invocation5XXErrors != 1 {
		t.Fatalf("broken: %+v", m)
	}
	if m := got["down"]; m.Invocation5XXErrors != 1 || m.ModelLatency.Count != 0 {
		t.Fatalf("down: %+v", m)
	}
	if q := got["ok"].OverheadLatency.Quantile(0.5); q < 45*time.Microsecond || q > 55*time.Microsecond {
		t.Fatalf("overhead p50 %v, want about 50µs", q)
	}
	r.Remove("ep")
	if _, ok := r.Metrics("ep"); ok {
		t.Fatal("metrics survived Remove")
	}
}

// Swapping tables under load never loses a request: each one sees the old or the new table.
func TestPublishIsAtomicUnderLoad(t *testing.T) {
	r := NewRouter(RouterConfig{})
	blue, green := &fixedServer{body: "blue"}, &fixedServer{body: "green"}
	r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: blue}}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := &Response{}
			for ctx.Err() == nil {
				resp.Reset()
				if _, err := r.Invoke(ctx, "ep", &Request{}, resp); err != nil || resp.Status != http.StatusOK {
					failures.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; (blue.calls.Load() < 1000 || green.calls.Load() < 1000) && time.Now().Before(deadline); i++ {
		s := blue
		if i%2 == 0 {
			s = green
		}
		r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: s}}})
		time.Sleep(50 * time.Microsecond)
	}
	cancel()
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed during table swaps", failures.Load())
	}
	if blue.calls.Load() == 0 || green.calls.Load() == 0 {
		t.Fatalf("blue %d, green %d calls", blue.calls.Load(), green.calls.Load())
	}
}

func TestShadowGetsACopy(t *testing.T) {
	r := NewRouter(RouterConfig{})
	prod, shadow := &fixedServer{body: "prod"}, &fixedServer{body: "shadow"}
	r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "prod", Weight: 1, Server: prod}},
		Shadows: []Route{{Variant: "shadow", Weight: 1, Server: shadow}}})
	resp := &Response{}
	if _, err := r.Invoke(context.Background(), "ep", &Request{Body: []byte("1")}, resp); err != nil || string(resp.Body) != "prod" {
		t.Fatalf("production answer %q, %v", resp.Body, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for shadow.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if shadow.calls.Load() != 1 {
		t.Fatal("the shadow variant was not called")
	}
}

// The router adds no allocation of its own to a native model's hot path.
func TestRouterInvokeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	r := NewRouter(RouterConfig{})
	r.Publish("ep", RoutingTable{Routes: []Route{
		{Variant: "a", Weight: 1, Server: newTinyServer(t)}, {Variant: "b", Weight: 1, Server: newTinyServer(t)}}})
	req := &Request{Body: []byte("0.25,1.5,-3.75"), ContentType: "text/csv"}
	resp := &Response{Body: make([]byte, 0, 64)}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(500, func() {
		resp.Reset()
		call, err := r.Invoke(ctx, "ep", req, resp)
		if err != nil {
			t.Fatal(err)
		}
		call.Finish(time.Microsecond)
	})
	if allocs != 0 {
		t.Fatalf("router Invoke allocates %.1f times per call", allocs)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Observe(time.Duration(i) * time.Microsecond)
	}
	s := h.Snapshot()
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * 10000 * float64(time.Microsecond)
		if got := float64(s.Quantile(q)); math.Abs(got-want)/want > 0.07 {
			t.Fatalf("p%.0f = %v, want about %v", q*100, time.Duration(got), time.Duration(want))
		}
	}
	if s.Count != 10000 || s.Mean() < 4900*time.Microsecond || s.Mean() > 5100*time.Microsecond {
		t.Fatalf("count %d mean %v", s.Count, s.Mean())
	}
	for i := 1; i < histBuckets; i++ {
		if histLower(i) >= histUpper(i) || histIndex(histLower(i)) != i || histIndex(histUpper(i)-1) != i {
			t.Fatalf("bucket %d: [%d, %d) is inconsistent", i, histLower(i), histUpper(i))
		}
	}
	h.Observe(-time.Second)
	h.Observe(time.Hour)
	if s2 := h.Snapshot().Sub(s); s2.Count != 2 || s2.Counts[0] != 1 || s2.Counts[histBuckets-1] != 1 {
		t.Fatalf("extremes: %+v", s2.Count)
	}
}
