// Package server wires Sluice together: it builds every subsystem from the configuration, serves
// the APIs and runs the controllers as one group that starts and stops together.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/api/native"
	"github.com/sluice-ml/sluice/internal/api/sagemaker"
	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/promotion"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/transform"
)

// shutdownGrace bounds how long in-flight requests and controllers get to finish on shutdown.
const shutdownGrace = 10 * time.Second

// Server is a running Sluice control plane.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	listener net.Listener
	http     *http.Server
	actors   []actor
	blobs    blob.Store
	jobs     *jobs.Runner
	alarms   *alarm.Service
	// FirstStart is true when this start created the root access key.
	FirstStart bool
}

// actor is a long-running part of the server: run blocks until ctx ends or it fails.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// New builds the server: opens the store, binds the listener, creates the root key on first
// start, and assembles the HTTP handlers. Nothing runs until Run.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	st, err := store.Open(ctx, cfg.Database, cfg.DataDir, log.With("component", "store"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server: listen on %s: %w (is another server running? choose another with --listen)", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, log: log, store: st, listener: ln}
	s.FirstStart, err = bootstrapRootKey(ctx, st, cfg.DataDir, cfg.Region, s.URL())
	if err != nil {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("server: root access key: %w", err)
	}
	if s.blobs, err = openBlobStore(ctx, cfg); err == nil {
		s.jobs, err = newJobRunner(cfg, st, s.blobs, log.With("component", "jobs"))
	}
	if err != nil {
		if s.blobs != nil {
			closeBlobStore(s.blobs)
		}
		ln.Close()
		st.Close()
		return nil, err
	}
	s.actors = append(s.actors, actor{name: "jobs", run: s.jobs.Run})
	if s.alarms, err = newAlarms(ctx, cfg, st, log.With("component", "alarms")); err != nil {
		closeBlobStore(s.blobs)
		ln.Close()
		st.Close()
		return nil, err
	}
	s.actors = append(s.actors, actor{name: "alarms", run: s.alarms.Run})
	arns := awsapi.ARNs{Region: cfg.Region, AccountID: cfg.AccountID}
	packages := &registry.Service{Store: st, ARNs: arns}
	eps, err := newEndpoints(cfg, st, s.blobs, arns, packages, s.alarms, log.With("component", "endpoints"))
	if err != nil {
		closeBlobStore(s.blobs)
		ln.Close()
		st.Close()
		return nil, err
	}
	s.actors = append(s.actors, eps.actors()...)

	reg := prometheus.NewRegistry()
	metrics := newAPIMetrics(reg)
	eventLog := &events.Log{Store: st, Region: cfg.Region, AccountID: cfg.AccountID}

	smMux := awsapi.NewMux("SageMaker", log.With("api", "sagemaker"), metrics.observe)
	smAPI := &sagemaker.API{Store: st, ARNs: arns, Log: log.With("api", "sagemaker")}
	smAPI.Registry = packages
	smAPI.Hosting = eps.service
	smAPI.Jobs = s.jobs
	// The pipeline engine runs pipeline steps through the job runner, the registry and hosting.
	pipelineCfg := pipeline.EngineConfig{Store: st, Blob: s.blobs, Jobs: s.jobs, Registry: smAPI.Registry,
		Region: cfg.Region, AccountID: cfg.AccountID, Log: log.With("component", "pipelines")}
	if smAPI.Hosting != nil {
		pipelineCfg.Models = smAPI.Hosting
	}
	// Batch transform jobs run in the job runner's queue, with their models in hosting's
	// model host.
	transforms, err := transform.New(transform.Config{Jobs: s.jobs, Store: st, Blob: s.blobs, Models: eps.service, Host: eps.host,
		Log: log.With("component", "transform")})
	if err != nil {
		closeBlobStore(s.blobs)
		ln.Close()
		st.Close()
		return nil, err
	}
	smAPI.Transforms = transforms
	pipelineCfg.Transforms = transforms
	// Deploy pipelines deploy to environments (this server's endpoints or another server's)
	// through promotion, which in turn starts pipelines for its triggers.
	promo, err := promotion.New(promotion.Config{Store: st, Hosting: eps.service, Registry: packages, Router: eps.router, Blob: s.blobs,
		Alarms: s.alarms, Events: eventLog, URL: s.URL(), Log: log.With("component", "promotion")})
	if err != nil {
		closeBlobStore(s.blobs)
		ln.Close()
		st.Close()
		return nil, err
	}
	pipelineCfg.Delivery = promo
	pipelines, err := pipeline.NewEngine(pipelineCfg)
	if err != nil {
		closeBlobStore(s.blobs)
		ln.Close()
		st.Close()
		return nil, err
	}
	s.actors = append(s.actors, actor{name: "pipelines", run: pipelines.Run})
	promo.SetPipelines(pipelines)
	s.actors = append(s.actors, actor{name: "triggers", run: promo.Run})
	smAPI.Pipelines = pipelines
	smAPI.Register(smMux)

	verifier := &awsapi.Verifier{Keys: keyLookup{st}, Services: []string{"sagemaker", "monitoring"}, Log: log.With("component", "auth")}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /{$}", mountCloudWatch(mux, s.alarms, verifier, metrics.observe, log.With("api", "cloudwatch"), verifier.Middleware(smMux)))

	nativeMux := http.NewServeMux()
	nativeAPI := &native.API{Events: eventLog, Jobs: s.jobs, Transforms: transforms, Blob: s.blobs, Promotion: promo, Log: log.With("api", "native")}
	nativeAPI.Register(nativeMux)
	// Webhooks authenticate with their trigger's token, not SigV4: CI systems call them.
	mux.Handle("POST /api/v1/webhooks/{trigger}", nativeAPI.WebhookHandler())
	eps.mount(mux, nativeMux, reg, cfg)
	mux.Handle("/api/v1/", verifier.Middleware(nativeMux))

	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// URL is the base URL clients use to reach this server.
func (s *Server) URL() string { return endpointURL(s.listener.Addr().String()) }

// Store exposes the store, for tests and embedded use.
func (s *Server) Store() *store.Store { return s.store }

// Blob exposes the artifact store, for tests and embedded use.
func (s *Server) Blob() blob.Store { return s.blobs }

// Jobs exposes the job runner, for tests, benchmarks and embedded use.
func (s *Server) Jobs() *jobs.Runner { return s.jobs }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "database unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Run serves until ctx ends or a part fails, then shuts everything down within shutdownGrace.
// The first part to fail stops the rest; its error is returned.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	defer closeBlobStore(s.blobs)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	errc := make(chan error, len(s.actors)+1)
	for _, a := range s.actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", a.name, err)
				cancel(err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel(err)
		}
	}()
	s.log.Info("sluice server started", "url", s.URL(), "data_dir", s.cfg.DataDir, "database", string(s.store.Dialect()))

	<-ctx.Done()
	s.log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	s.http.Shutdown(sctx)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		s.log.Warn("shutdown grace period ended with work still running")
	}
	close(errc)
	for err := range errc {
		return err
	}
	return nil
}
