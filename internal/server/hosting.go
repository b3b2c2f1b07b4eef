package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/api/native"
	runtimeapi "github.com/sluice-ml/sluice/internal/api/runtime"
	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// endpoints is the hosting side of the server: the data plane (model host, router, data
// capture) and the control plane that drives it (the hosting service and its controller).
type endpoints struct {
	// runtimeAuth verifies InvokeEndpoint requests with cached access keys.
	runtimeAuth func(http.Handler) http.Handler
	router      *serving.Router
	capture     *serving.Capturer
	service     *hosting.Service
	controller  *hosting.Controller
	log         *slog.Logger
	// host starts model servers; batch transform runs its models there too.
	host *serving.Host
}

// newEndpoints builds hosting: model servers run mapped images with the same catalog rules as
// jobs, in folders under the data directory's serving/. Every invocation is recorded into the
// alarm service's recorder, which deployments' rollback alarms watch.
func newEndpoints(cfg config.Config, st *store.Store, bs blob.Store, arns awsapi.ARNs, packages hosting.PackageSource, alarms *alarm.Service, log *slog.Logger) (*endpoints, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("server: finding the sluice executable: %w", err)
	}
	mappings, err := imageMappings(cfg.Jobs.Images)
	if err != nil {
		return nil, err
	}
	catalog, err := runtime.NewCatalog(runtime.CatalogConfig{Executable: exe, Python: cfg.Jobs.Python, Mappings: mappings})
	if err != nil {
		return nil, fmt.Errorf("server: jobs.images: %w", err)
	}
	proc, err := runtime.NewProcess(runtime.ProcessConfig{InitPath: exe, Logger: log})
	if err != nil {
		return nil, err
	}
	host, err := serving.NewHost(serving.HostConfig{Blob: bs, Catalog: catalog, Runtime: proc, WorkDir: cfg.Path("serving"), Log: log})
	if err != nil {
		return nil, err
	}
	e := &endpoints{log: log, host: host}
	verifier := &awsapi.Verifier{Keys: newKeyCache(keyLookup{st}, keyCacheTTL), Services: []string{"sagemaker"}, Log: log.With("component", "auth")}
	// InvokeEndpoint does not use the caller's identity, so the request is not copied to carry it.
	e.runtimeAuth = verifier.Authenticate
	e.capture = serving.NewCapturer(serving.CapturerConfig{Store: bs, Log: log})
	rec := alarms.Recorder()
	e.router = serving.NewRouter(serving.RouterConfig{Capture: e.capture, Log: log,
		Series: func(endpoint, variant string) serving.InvocationSeries { return rec.Endpoint(endpoint, variant) }})
	e.controller = hosting.NewController(hosting.ControllerConfig{Store: st, ARNs: arns, Router: e.router, Models: host, Log: log,
		Alarms: alarms})
	e.service = &hosting.Service{Store: st, ARNs: arns, Packages: packages, Images: host, Notify: e.controller.Notify, Alarms: alarms}
	return e, nil
}

// actors are the long-running parts: the controller and the capture writer.
func (e *endpoints) actors() []actor {
	return []actor{{name: "endpoints", run: e.controller.Run}, {name: "data-capture", run: e.capture.Run}}
}

// mount adds InvokeEndpoint (behind its own SigV4 verifier), the endpoint metrics of the native
// API (whose routes nativeMux's owner authenticates), and the router's Prometheus metrics.
func (e *endpoints) mount(mux, nativeMux *http.ServeMux, reg prometheus.Registerer, cfg config.Config) {
	rt := &runtimeapi.Handler{Router: e.router, Endpoints: e.service, Region: cfg.Region, AccountID: cfg.AccountID, Log: e.log.With("api", "runtime")}
	rt.Register(mux, e.runtimeAuth)
	(&native.EndpointsAPI{Router: e.router, Endpoints: e.service, Log: e.log.With("api", "native")}).Register(nativeMux)
	(&native.DeploymentsAPI{Endpoints: e.service, Log: e.log.With("api", "native")}).Register(nativeMux)
	reg.MustRegister(e.router)
}

// keyCacheTTL is how long the data plane trusts an access key it has read: a deleted key stops
// working on InvokeEndpoint within this time.
const keyCacheTTL = 5 * time.Second

// keyCache keeps access keys for a few seconds, so InvokeEndpoint, the hot path, does not read
// the database on every request. Unknown keys are not cached: a key just created works at once.
type keyCache struct {
	next awsapi.KeyLookup
	ttl  time.Duration

	mu   sync.RWMutex
	keys map[string]cachedKey
}

type cachedKey struct {
	secret string
	p      awsapi.Principal
	until  time.Time
}

func newKeyCache(next awsapi.KeyLookup, ttl time.Duration) *keyCache {
	return &keyCache{next: next, ttl: ttl, keys: map[string]cachedKey{}}
}

func (c *keyCache) LookupKey(ctx context.Context, id string) (string, awsapi.Principal, error) {
	now := time.Now()
	c.mu.RLock()
	k, ok := c.keys[id]
	c.mu.RUnlock()
	if ok && now.Before(k.until) {
		return k.secret, k.p, nil
	}
	secret, p, err := c.next.LookupKey(ctx, id)
	if err != nil {
		return "", awsapi.Principal{}, err
	}
	c.mu.Lock()
	if len(c.keys) > 1024 {
		clear(c.keys)
	}
	c.keys[id] = cachedKey{secret: secret, p: p, until: now.Add(c.ttl)}
	c.mu.Unlock()
	return secret, p, nil
}
