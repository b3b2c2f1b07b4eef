package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"

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
	router     *serving.Router
	capture    *serving.Capturer
	service    *hosting.Service
	controller *hosting.Controller
	log        *slog.Logger
}

// newEndpoints builds hosting: model servers run mapped images with the same catalog rules as
// jobs, in folders under the data directory's serving/.
func newEndpoints(cfg config.Config, st *store.Store, bs blob.Store, arns awsapi.ARNs, packages hosting.PackageSource, log *slog.Logger) (*endpoints, error) {
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
	e := &endpoints{log: log}
	e.capture = serving.NewCapturer(serving.CapturerConfig{Store: bs, Log: log})
	e.router = serving.NewRouter(serving.RouterConfig{Capture: e.capture, Log: log})
	e.controller = hosting.NewController(hosting.ControllerConfig{Store: st, ARNs: arns, Router: e.router, Models: host, Log: log})
	e.service = &hosting.Service{Store: st, ARNs: arns, Packages: packages, Images: host, Notify: e.controller.Notify}
	return e, nil
}

// actors are the long-running parts: the controller and the capture writer.
func (e *endpoints) actors() []actor {
	return []actor{{name: "endpoints", run: e.controller.Run}, {name: "data-capture", run: e.capture.Run}}
}

// mount adds InvokeEndpoint (behind auth), the endpoint metrics of the native API, and the
// router's Prometheus metrics.
func (e *endpoints) mount(mux, nativeMux *http.ServeMux, auth func(http.Handler) http.Handler, reg prometheus.Registerer, cfg config.Config) {
	rt := &runtimeapi.Handler{Router: e.router, Endpoints: e.service, Region: cfg.Region, AccountID: cfg.AccountID, Log: e.log.With("api", "runtime")}
	rt.Register(mux, auth)
	(&native.EndpointsAPI{Router: e.router, Endpoints: e.service, Log: e.log.With("api", "native")}).Register(nativeMux)
	reg.MustRegister(e.router)
}
