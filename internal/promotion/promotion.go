// Package promotion moves models from one environment to the next: environments (a local or a
// remote Sluice server's endpoints, each with its own configuration), the deployments that
// Sluice:Deploy pipeline steps make to them, recorded as releases, the manual approval gates
// those pipelines wait at, and the triggers that start deploy pipelines — on a registry approval
// event, on a schedule, or from a webhook call.
//
// The Service implements pipeline.Delivery: a Deploy step asks it to deploy a model package to
// an environment and then polls the outcome, which is read from the endpoint itself, so that a
// restarted server finds every deployment where it left it. A release is written before the
// endpoint is touched and is keyed by the execution, step and attempt, so a retried call finds
// the deployment it already started.
package promotion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// Errors callers branch on. The *Error values the Service returns wrap one of them and carry a
// message a person can act on.
var (
	ErrNotFound = errors.New("promotion: not found")
	ErrExists   = errors.New("promotion: already exists")
	ErrInvalid  = errors.New("promotion: invalid request")
	ErrConflict = errors.New("promotion: conflict")
	// ErrForbidden is a webhook call without the trigger's token.
	ErrForbidden = errors.New("promotion: forbidden")
)

// Error is a promotion error with a client-facing message; errors.Is matches its Kind.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invoker sends requests to local endpoints; *serving.Router implements it.
type Invoker interface {
	Invoke(ctx context.Context, endpoint string, req *serving.Request, resp *serving.Response) (serving.Call, error)
}

// Pipelines is what promotion needs from the pipeline engine; *pipeline.Engine implements it.
type Pipelines interface {
	StartExecution(ctx context.Context, actor registry.Actor, in pipeline.StartRequest) (pipeline.Execution, error)
	DescribePipeline(ctx context.Context, nameOrARN string) (pipeline.Pipeline, error)
	DecideApproval(ctx context.Context, token string, dec pipeline.ApprovalDecision) (string, error)
}

// Config is what a Service needs. Store is required; the rest enable what needs them: Hosting,
// Registry and Router deploy to and invoke local endpoints, Blob holds the artifacts copied to
// remote servers, Pipelines starts executions for triggers and answers approval gates, Alarms
// adds alarm states to rollback evidence, Events feeds event triggers.
type Config struct {
	Store     *store.Store
	Hosting   *hosting.Service
	Registry  *registry.Service
	Router    Invoker
	Blob      blob.Store
	Alarms    *alarm.Service
	Events    *events.Log
	Pipelines Pipelines
	// URL is this server's base URL, which jobs testing a local environment's endpoint use
	// (pipeline.EndpointLocator); empty means such jobs cannot be told where it is.
	URL string
	// HTTP is the client for remote servers; nil means a client with a 30 s timeout.
	HTTP *http.Client
	// Poll is how often triggers look for events from other replicas and due schedules;
	// default one second.
	Poll time.Duration
	Log  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service manages environments, releases, approval gates and triggers.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Service; triggers fire once Run runs.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("promotion: Config.Store is required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Log}, nil
}

// SetPipelines sets the pipeline engine once it exists: the engine is built with the Service as
// its Delivery, so the two refer to each other.
func (s *Service) SetPipelines(p Pipelines) { s.cfg.Pipelines = p }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// wrap passes promotion errors through and adds context to the rest.
func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return fmt.Errorf("promotion: %s: %w", op, err)
}
