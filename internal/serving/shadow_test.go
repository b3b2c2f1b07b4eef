package serving

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// slowServer answers after a delay, counting its calls.
type slowServer struct {
	fixedServer
	delay time.Duration
	done  atomic.Int64
}

func (s *slowServer) Invoke(ctx context.Context, req *Request, resp *Response) error {
	time.Sleep(s.delay)
	err := s.fixedServer.Invoke(ctx, req, resp)
	s.done.Add(1)
	return err
}

// Shadows get the share of traffic their weight asks for, never delay the caller, and keep
// their metrics apart from production's.
func TestShadowSamplingAndIsolation(t *testing.T) {
	r := NewRouter(RouterConfig{Rand: seeded(7)})
	prod := &fixedServer{body: "prod"}
	quarter := &slowServer{fixedServer: fixedServer{body: "quarter", status: 500}, delay: time.Millisecond}
	none := &fixedServer{body: "none"}
	if err := r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "prod", Weight: 2, Server: prod}},
		Shadows: []Route{{Variant: "quarter", Weight: 0.5, Server: quarter}, {Variant: "none", Weight: 0, Server: none}}}); err != nil {
		t.Fatal(err)
	}
	const n = 4000
	start := time.Now()
	for range n {
		resp := &Response{}
		if _, err := r.Invoke(context.Background(), "ep", &Request{Body: []byte("x")}, resp); err != nil || string(resp.Body) != "prod" || resp.Status != 200 {
			t.Fatalf("production answer %q %d, %v", resp.Body, resp.Status, err)
		}
	}
	// 4000 requests against a shadow that takes a millisecond each: the callers never waited
	// for it (copies beyond the in-flight bound are dropped, not queued).
	if el := time.Since(start); el > time.Second {
		t.Fatalf("production took %v for %d requests; the shadow delayed it", el, n)
	}
	if err := r.Drain(context.Background(), "ep"); err != nil {
		t.Fatal(err)
	}
	r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "prod", Weight: 2, Server: prod}}})
	r.Drain(context.Background(), "ep")
	if none.calls.Load() != 0 {
		t.Fatalf("a shadow with weight 0 got %d copies", none.calls.Load())
	}
	ms, _ := r.Metrics("ep")
	byName := map[string]VariantMetrics{}
	for _, m := range ms {
		byName[m.VariantName] = m
	}
	if p := byName["prod"]; p.Invocations != n || p.Invocation5XXErrors != 0 {
		t.Fatalf("production metrics %+v", p)
	}
	q := byName["quarter"]
	if q.Invocations == 0 || q.Invocations != q.Invocation5XXErrors || q.Invocations != uint64(quarter.done.Load()) {
		t.Fatalf("shadow metrics %+v (%d calls)", q, quarter.done.Load())
	}
	// With each copy finished before the next request, none is dropped: the share sampled is
	// the quarter the weights ask for.
	fast := &fixedServer{body: "fast"}
	if err := r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "prod", Weight: 2, Server: prod}}, Shadows: []Route{{Variant: "fast", Weight: 0.5, Server: fast}}}); err != nil {
		t.Fatal(err)
	}
	tbl := r.lookup("ep").table.Load()
	for range n {
		r.Invoke(context.Background(), "ep", &Request{}, &Response{})
		for tbl.active.Load() > 0 {
			runtime.Gosched()
		}
	}
	if got := float64(fast.calls.Load()) / n; got < 0.22 || got > 0.28 {
		t.Fatalf("the shadow got %.1f%% of requests, want 25%%", 100*got)
	}
}
