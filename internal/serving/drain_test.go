package serving

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closingServer fails every request that arrives after Close, as a stopped fleet does.
type closingServer struct {
	fixedServer
	closed  atomic.Bool
	entered atomic.Int64
	// gate, when set, holds each request until it is closed.
	gate chan struct{}
}

func (s *closingServer) Invoke(ctx context.Context, req *Request, resp *Response) error {
	// A real fleet takes a moment to admit a request; yield here so that a fleet closed too
	// early is caught.
	runtime.Gosched()
	if s.closed.Load() {
		return ErrUnavailable
	}
	s.entered.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	return s.fixedServer.Invoke(ctx, req, resp)
}

func (s *closingServer) Close(context.Context) error {
	s.closed.Store(true)
	return nil
}

// Drain waits for a request that chose the old table, and only for it.
func TestDrainWaitsForRequestsOnReplacedTables(t *testing.T) {
	r := NewRouter(RouterConfig{})
	blue := &closingServer{fixedServer: fixedServer{body: "blue"}, gate: make(chan struct{})}
	green := &closingServer{fixedServer: fixedServer{body: "green"}}
	r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: blue}}})
	done := make(chan string)
	go func() {
		resp := &Response{}
		_, err := r.Invoke(context.Background(), "ep", &Request{}, resp)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- string(resp.Body)
	}()
	for blue.entered.Load() == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: green}}})
	// A new request goes to green at once, and does not hold up the drain of blue's table.
	resp := &Response{}
	if _, err := r.Invoke(context.Background(), "ep", &Request{}, resp); err != nil || string(resp.Body) != "green" {
		t.Fatalf("after the swap: %q, %v", resp.Body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err := r.Drain(ctx, "ep")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain returned %v while a request was still on the blue table", err)
	}
	close(blue.gate)
	if err := r.Drain(context.Background(), "ep"); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != "blue" {
		t.Fatalf("the in-flight request finished with %q, want blue", got)
	}
	r.mu.Lock()
	n := len(r.retired["ep"])
	r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d replaced tables kept after draining", n)
	}
}

// Publish, Drain and Close the old fleet, over and over, under load: no request ever reaches a
// closed fleet.
func TestDrainThenCloseLosesNoRequest(t *testing.T) {
	r := NewRouter(RouterConfig{})
	newServer := func() *closingServer { return &closingServer{fixedServer: fixedServer{body: "x"}} }
	cur := newServer()
	r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: cur}}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := &Response{}
			for ctx.Err() == nil {
				resp.Reset()
				if _, err := r.Invoke(context.Background(), "ep", &Request{}, resp); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; (i < 300 || ok.Load() < 20000) && time.Now().Before(deadline); i++ {
		// Two fleets under one variant, then the new one alone, as a blue/green shift does.
		next := newServer()
		r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: cur}, {Variant: "v", Weight: 1, Server: next}}})
		r.Publish("ep", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: next}}})
		if err := r.Drain(context.Background(), "ep"); err != nil {
			t.Fatal(err)
		}
		cur.Close(context.Background())
		cur = next
	}
	cancel()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed (%d succeeded) while fleets were swapped and closed", failed.Load(), ok.Load())
	}
}

type seenInvocation struct {
	status int
	model  time.Duration
}

type fakeSeries struct {
	mu   sync.Mutex
	seen []seenInvocation
}

func (s *fakeSeries) Invocation(status int, model, overhead time.Duration) {
	s.mu.Lock()
	s.seen = append(s.seen, seenInvocation{status, model})
	s.mu.Unlock()
}

// Every route of a variant records into the variant's series; shadows do not.
func TestInvocationSeries(t *testing.T) {
	series := map[[2]string]*fakeSeries{}
	r := NewRouter(RouterConfig{Series: func(endpoint, variant string) InvocationSeries {
		k := [2]string{endpoint, variant}
		if series[k] == nil {
			series[k] = &fakeSeries{}
		}
		return series[k]
	}})
	old, bad := &fixedServer{body: "ok"}, &fixedServer{status: 503}
	down := &fixedServer{err: ErrUnavailable}
	r.Publish("Shop", RoutingTable{Routes: []Route{{Variant: "v", Weight: 1, Server: old}, {Variant: "v", Weight: 1, Server: bad}, {Variant: "w", Weight: 1, Server: down}},
		Shadows: []Route{{Variant: "s", Weight: 1, Server: old}}})
	for range 200 {
		resp := &Response{}
		call, _ := r.Invoke(context.Background(), "shop", &Request{}, resp)
		call.Finish(time.Millisecond)
	}
	v, w := series[[2]string{"Shop", "v"}], series[[2]string{"Shop", "w"}]
	if v == nil || w == nil || series[[2]string{"Shop", "s"}] != nil {
		t.Fatalf("series created: %v", series)
	}
	var ok, e5 int
	for _, s := range v.seen {
		switch s.status {
		case 200:
			ok++
		case 503:
			e5++
		}
		if s.model < 0 {
			t.Fatalf("an answered request recorded no model latency: %+v", s)
		}
	}
	if ok == 0 || e5 == 0 || ok+e5 != len(v.seen) {
		t.Fatalf("variant v: %d ok, %d 503 of %d", ok, e5, len(v.seen))
	}
	for _, s := range w.seen {
		if s.status != 500 || s.model >= 0 {
			t.Fatalf("a request the model never answered recorded %+v, want status 500 and no model latency", s)
		}
	}
}
