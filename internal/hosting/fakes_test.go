package hosting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

var testARNs = awsapi.ARNs{Region: "us-east-1", AccountID: "123456789012"}

// fakeServer is a model server that answers with its model's image name.
type fakeServer struct {
	image    string
	replicas atomic.Int32
	closed   atomic.Bool
}

func (s *fakeServer) Invoke(ctx context.Context, req *serving.Request, resp *serving.Response) error {
	if s.closed.Load() {
		return serving.ErrUnavailable
	}
	resp.Status = 200
	resp.Body = append(resp.Body, s.image...)
	return nil
}

func (s *fakeServer) Scale(ctx context.Context, n int) error {
	s.replicas.Store(int32(n))
	return nil
}

func (s *fakeServer) Status() serving.Status {
	return serving.Status{Kind: "fake", Replicas: int(s.replicas.Load()), Healthy: int(s.replicas.Load())}
}

func (s *fakeServer) Close(ctx context.Context) error {
	s.closed.Store(true)
	return nil
}

// fakeModels starts fakeServers; an image containing "broken" fails to start, and an image
// containing "slow" waits for release.
type fakeModels struct {
	mu      sync.Mutex
	started []*fakeServer
	release chan struct{}
}

func newFakeModels() *fakeModels { return &fakeModels{release: make(chan struct{})} }

func (m *fakeModels) StartModel(ctx context.Context, spec serving.ModelSpec) (serving.ModelServer, error) {
	image := spec.Containers[0].Image
	if strings.Contains(image, "broken") {
		return nil, fmt.Errorf("serving: model %s: container primary exited with code 1 before passing its /ping health check", spec.Name)
	}
	if strings.Contains(image, "slow") {
		select {
		case <-m.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s := &fakeServer{image: image}
	s.replicas.Store(int32(spec.Replicas))
	m.mu.Lock()
	m.started = append(m.started, s)
	m.mu.Unlock()
	return s, nil
}

func (m *fakeModels) servers(image string) (running, closed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.started {
		if s.image != image {
			continue
		}
		if s.closed.Load() {
			closed++
		} else {
			running++
		}
	}
	return running, closed
}

// fakePackages is a registry with fixed packages.
type fakePackages map[string]registry.Package

func (f fakePackages) Package(ctx context.Context, ref string) (registry.Package, error) {
	if p, ok := f[ref]; ok {
		return p, nil
	}
	return registry.Package{}, &registry.Error{Kind: registry.ErrNotFound, Message: "ModelPackage " + ref + " does not exist."}
}

func pkg(arn string, status registry.ApprovalStatus, image, data string, env map[string]string) registry.Package {
	spec, _ := json.Marshal(map[string]any{"Containers": []map[string]any{{"Image": image, "ModelDataUrl": data, "Environment": env}}})
	return registry.Package{ARN: arn, ApprovalStatus: status, Spec: registry.Spec{InferenceSpecification: spec}}
}

// fakeImages refuses images that contain "unknown".
type fakeImages struct{}

func (fakeImages) CheckImage(image string, env map[string]string) error {
	if strings.Contains(image, "unknown") {
		return errors.New("not a built-in image; map it to a local command")
	}
	return nil
}

// world is a store, a service and a running controller.
type world struct {
	st     *store.Store
	svc    *Service
	ctrl   *Controller
	router *serving.Router
	models *fakeModels
	stop   func()
}

func newWorld(t *testing.T, s *store.Store) *world {
	t.Helper()
	w := &world{st: s, router: serving.NewRouter(serving.RouterConfig{}), models: newFakeModels()}
	w.svc = &Service{Store: s, ARNs: testARNs, Images: fakeImages{}, Packages: fakePackages{
		"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1": pkg("arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1", registry.Approved, "sluice/xgboost", "s3://models/churn/1/model.tar.gz", map[string]string{"A": "pkg", "B": "pkg"}),
		"churn/2": pkg("arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/2", registry.PendingManualApproval, "sluice/xgboost", "s3://models/churn/2/model.tar.gz", nil),
	}}
	w.startController(t)
	return w
}

func (w *world) startController(t *testing.T) {
	w.ctrl = NewController(ControllerConfig{Store: w.st, ARNs: testARNs, Router: w.router, Models: w.models, Interval: 50 * time.Millisecond})
	w.svc.Notify = w.ctrl.Notify
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		w.ctrl.Run(ctx)
		close(done)
	}()
	w.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(w.stop)
}

func eachWorld(t *testing.T, fn func(t *testing.T, w *world)) {
	storetest.Each(t, func(t *testing.T, s *store.Store) { fn(t, newWorld(t, s)) })
}

func (w *world) model(t *testing.T, name, image string) {
	t.Helper()
	if _, err := w.svc.CreateModel(context.Background(), NewModel{ModelName: name, PrimaryContainer: &ContainerDefinition{Image: image}}); err != nil {
		t.Fatalf("CreateModel %s: %v", name, err)
	}
}

func i32(n int32) *int32     { return &n }
func f64(f float64) *float64 { return &f }
func variant(name, model string, weight float64, count int32) ProductionVariant {
	return ProductionVariant{VariantName: name, ModelName: model, InitialInstanceCount: i32(count), InstanceType: "ml.m5.large", InitialVariantWeight: f64(weight)}
}

func (w *world) config(t *testing.T, name string, vs ...ProductionVariant) {
	t.Helper()
	if _, err := w.svc.CreateEndpointConfig(context.Background(), EndpointConfig{EndpointConfigName: name, ProductionVariants: vs}, nil); err != nil {
		t.Fatalf("CreateEndpointConfig %s: %v", name, err)
	}
}

// waitStatus polls until the endpoint has the status (or is gone, for "").
func (w *world) waitStatus(t *testing.T, name, status string) Endpoint {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, err := w.svc.DescribeEndpoint(context.Background(), name)
		if status == "" && errors.Is(err, ErrNotFound) {
			return Endpoint{}
		}
		if err == nil && e.EndpointStatus == status {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint %s: status %q (err %v), want %q", name, e.EndpointStatus, err, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *world) invoke(t *testing.T, endpoint, target string) (string, string, error) {
	t.Helper()
	resp := &serving.Response{}
	call, err := w.router.Invoke(context.Background(), endpoint, &serving.Request{TargetVariant: target}, resp)
	return call.Variant(), string(resp.Body), err
}

func wantKind(t *testing.T, err error, kind error, text string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want kind %v", err, kind)
	}
	if !strings.Contains(err.Error(), text) {
		t.Fatalf("error %q does not say %q", err, text)
	}
}
