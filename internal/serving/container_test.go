package serving

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func startHelper(t *testing.T, e *testEnv, spec ModelSpec) ModelServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := e.host.StartModel(ctx, spec)
	if err != nil {
		t.Fatalf("StartModel: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

type echo struct {
	Port, Pid, Body, ContentType, Accept, Model, Env string
}

func decodeEcho(t *testing.T, resp *Response) echo {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		t.Fatalf("answer %q: %v", resp.Body, err)
	}
	return echo{m["port"], m["pid"], m["body"], m["content_type"], m["accept"], m["model"], m["env"]}
}

func TestContainerFleetServesAndBalances(t *testing.T) {
	e := newTestEnv(t, helperImage(t, "registry.example/echo:*", "server"))
	model := e.putTarGz(t, "echo/model.tar.gz", map[string][]byte{"model.txt": []byte("weights-v1")})
	s := startHelper(t, e, ModelSpec{Name: "echo", Replicas: 2, Containers: []ContainerSpec{{
		Image: "registry.example/echo:1", ModelDataURL: model, Environment: map[string]string{"MY_SETTING": "on"}}}})
	if st := s.Status(); st.Kind != "container" || st.Replicas != 2 || st.Healthy != 2 {
		t.Fatalf("status %+v", st)
	}

	resp := &Response{}
	err := s.Invoke(context.Background(), &Request{Body: []byte("hello"), ContentType: "text/csv", Accept: "application/json", CustomAttributes: "trace=1"}, resp)
	if err != nil || resp.Status != 200 {
		t.Fatalf("Invoke: %v, %d %s", err, resp.Status, resp.Body)
	}
	got := decodeEcho(t, resp)
	if got.Body != "hello" || got.ContentType != "text/csv" || got.Accept != "application/json" || got.Model != "weights-v1" || got.Env != "on" {
		t.Fatalf("the container saw %+v", got)
	}
	if resp.CustomAttributes != "seen=trace=1" || resp.ContentType != "application/json" {
		t.Fatalf("answer headers: %q %q", resp.CustomAttributes, resp.ContentType)
	}

	// Concurrent requests spread over both replicas.
	ports := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				resp := &Response{}
				if err := s.Invoke(context.Background(), &Request{Body: []byte("sleep:5")}, resp); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ports[decodeEcho(t, resp).Port]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ports) != 2 {
		t.Fatalf("requests went to %v; want both replicas", ports)
	}

	// A model's own error status is an answer, not an error.
	resp = invoke(t, s, "status:422", "", "")
	if resp.Status != 422 || string(resp.Body) != "model failed with 422" {
		t.Fatalf("model error: %d %q", resp.Status, resp.Body)
	}
}

func TestContainerReplicaRestartsAfterCrash(t *testing.T) {
	e := newTestEnv(t, helperImage(t, "registry.example/echo:*", "server"))
	s := startHelper(t, e, ModelSpec{Name: "crashy", Replicas: 1, Containers: []ContainerSpec{{Image: "registry.example/echo:1"}}})
	before := decodeEcho(t, invoke(t, s, "hi", "", "")).Pid
	err := s.Invoke(context.Background(), &Request{Body: []byte("crash")}, &Response{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("crashing request: %v, want ErrUnavailable", err)
	}
	// Requests wait for the restarted replica (within the queue wait) instead of failing.
	deadline := time.Now().Add(20 * time.Second)
	var after string
	for time.Now().Before(deadline) {
		resp := &Response{}
		if err := s.Invoke(context.Background(), &Request{Body: []byte("again")}, resp); err == nil {
			after = decodeEcho(t, resp).Pid
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after == "" || after == before {
		t.Fatalf("no answer from a restarted replica (before pid %s, after %q)", before, after)
	}
	if r := s.(*containerFleet).restarts(); r[0] != 1 {
		t.Fatalf("restarts %v", r)
	}
}

func TestContainerStartFailures(t *testing.T) {
	e := newTestEnv(t, helperImage(t, "registry.example/exit:*", "exit"), helperImage(t, "registry.example/lazy:*", "never-ready"))
	tests := []struct {
		name, image, want string
	}{
		{"exits before ping", "registry.example/exit:1", "exited with code 3 before passing its /ping health check; its last output: helper: failing on purpose"},
		{"never healthy", "registry.example/lazy:1", "did not pass its /ping health check within 1s"},
		{"unknown image", "registry.example/unknown:1", "map it to a local command"},
		{"missing model data", "registry.example/exit:1", "s3://models/none.tar.gz does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ContainerSpec{Image: tc.image}
			if strings.HasPrefix(tc.name, "missing") {
				c.ModelDataURL = "s3://models/none.tar.gz"
			}
			s, err := e.host.StartModel(context.Background(), ModelSpec{Name: "bad", Replicas: 1, StartupTimeout: time.Second, Containers: []ContainerSpec{c}})
			if err == nil {
				s.Close(context.Background())
				t.Fatal("StartModel succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestContainerScaleAndTimeout(t *testing.T) {
	e := newTestEnv(t, helperImage(t, "registry.example/echo:*", "server"))
	s := startHelper(t, e, ModelSpec{Name: "scaled", Replicas: 1, Concurrency: 1, InvocationTimeout: 300 * time.Millisecond,
		Containers: []ContainerSpec{{Image: "registry.example/echo:1"}}})
	ctx := context.Background()
	if err := s.Scale(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Replicas != 3 || st.Healthy != 3 {
		t.Fatalf("after scale up: %+v", st)
	}
	if err := s.Scale(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Replicas != 1 || st.Healthy != 1 {
		t.Fatalf("after scale down: %+v", st)
	}
	err := s.Invoke(ctx, &Request{Body: []byte("sleep:2000")}, &Response{})
	if !errors.Is(err, ErrModelTimeout) {
		t.Fatalf("slow model: %v, want ErrModelTimeout", err)
	}
	// With one slot, a second request queues behind the first instead of failing.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Invoke(ctx, &Request{Body: []byte("sleep:100")}, &Response{})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("queued requests: %v", errs)
	}
}

func TestInferencePipeline(t *testing.T) {
	e := newTestEnv(t, helperImage(t, "registry.example/echo:*", "server"))
	s := startHelper(t, e, ModelSpec{Name: "pipe", Replicas: 1, Containers: []ContainerSpec{
		{Image: "registry.example/echo:1", Hostname: "first"}, {Image: "registry.example/echo:1", Hostname: "second"}}})
	resp := invoke(t, s, "raw", "text/csv", "application/json")
	outer := decodeEcho(t, resp)
	if outer.ContentType != "application/json" || !strings.Contains(outer.Body, `"body":"raw"`) {
		t.Fatalf("second container saw %+v", outer)
	}
	if st := s.Status(); st.Kind != "pipeline" || st.Healthy != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestNativeFromArtifacts(t *testing.T) {
	e := newTestEnv(t)
	model := e.putTarGz(t, "xgb/model.tar.gz", map[string][]byte{"xgboost-model": tinyModelJSON(t)})
	for _, image := range []string{"sluice/xgboost", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"} {
		t.Run(image, func(t *testing.T) {
			s := startHelper(t, e, ModelSpec{Name: "xgb", Replicas: 2, Containers: []ContainerSpec{{Image: image, ModelDataURL: model,
				Environment: map[string]string{"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}}}})
			if st := s.Status(); st.Kind != "native" || st.Replicas != 2 {
				t.Fatalf("status %+v", st)
			}
			if got := string(invoke(t, s, "1,1,1", "text/csv", "").Body); got != `{"predictions":[{"score":1.75}]}` {
				t.Fatalf("answer %s", got)
			}
		})
	}
	_, err := e.host.StartModel(context.Background(), ModelSpec{Name: "empty", Replicas: 1, Containers: []ContainerSpec{{Image: "sluice/xgboost",
		ModelDataURL: e.putTarGz(t, "xgb/empty.tar.gz", map[string][]byte{"README": []byte("no model")})}}})
	if err == nil || !strings.Contains(err.Error(), "hold no XGBoost model") {
		t.Fatalf("archive without a model: %v", err)
	}
}

// TestContainerNetworkIsolation: the container of a model with EnableNetworkIsolation answers
// invocations, but cannot reach anything itself, not even a listener on the host's loopback;
// without isolation the same container reaches it.
func TestContainerNetworkIsolation(t *testing.T) {
	e := newTestEnv(t, helperImage(t, "registry.example/echo:*", "server"))
	if err := e.host.runtime.ServerIsolation(context.Background()); err != nil {
		t.Skipf("SKIPPED: isolated model servers cannot run here: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name    string
		isolate bool
		want    string
	}{
		{"isolated", true, "unreachable"},
		{"not isolated", false, "reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startHelper(t, e, ModelSpec{Name: "echo-" + strings.ReplaceAll(tc.name, " ", "-"), Replicas: 2, NetworkIsolation: tc.isolate,
				Containers: []ContainerSpec{{Image: "registry.example/echo:1"}}})
			if st := s.Status(); st.Healthy != 2 {
				t.Fatalf("status %+v: both replicas should pass /ping", st)
			}
			for range 4 { // over both replicas
				if resp := invoke(t, s, "dial:"+l.Addr().String(), "", ""); resp.Status != 200 || string(resp.Body) != tc.want {
					t.Fatalf("the container reports %d %q, want %q", resp.Status, resp.Body, tc.want)
				}
			}
			if resp := invoke(t, s, "hello", "", ""); decodeEcho(t, resp).Body != "hello" {
				t.Fatalf("echo %q", resp.Body)
			}
		})
	}
}
