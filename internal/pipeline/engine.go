package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// The engine runs pipeline executions. It is a reconcile loop over durable state: an execution
// and each of its started steps are rows in the store, and every transition (a step starting,
// its job being created, the step ending, the execution ending) is written in a transaction
// together with the event that announces it. Each active execution has a driver goroutine that
// holds the execution's parsed definition and the current rows, and acts when something
// happens: a job it waits for changes state (the engine follows the jobs' state-change events in
// the outbox), a callback is answered, a stop or retry is asked for, a retry delay ends.
//
// Nothing the driver does depends on memory surviving: after a restart, the engine loads the
// executions that were Executing or Stopping and resumes them. Finished steps are not run
// again; a step whose job was being created or was running re-attaches to that job, because a
// job's name is derived from the execution, the step and the attempt; steps that create models
// or model packages are idempotent the same way.

// Execution statuses (PipelineExecutionStatus).
const (
	ExecutionExecuting = "Executing"
	ExecutionStopping  = "Stopping"
	ExecutionStopped   = "Stopped"
	ExecutionFailed    = "Failed"
	ExecutionSucceeded = "Succeeded"
)

// Step statuses (StepStatus).
const (
	StepStarting  = "Starting"
	StepExecuting = "Executing"
	StepStopping  = "Stopping"
	StepStopped   = "Stopped"
	StepFailed    = "Failed"
	StepSucceeded = "Succeeded"
)

// PipelineActive is the only PipelineStatus a stored pipeline has (Deleting is instantaneous).
const PipelineActive = "Active"

// stepDone reports whether a step status is final.
func stepDone(status string) bool {
	return status == StepSucceeded || status == StepFailed || status == StepStopped
}

// ExecutionDone reports whether an execution status is final.
func ExecutionDone(status string) bool {
	return status == ExecutionSucceeded || status == ExecutionFailed || status == ExecutionStopped
}

// Errors callers branch on. The *Error values the engine returns wrap one of them and carry a
// message a person can act on.
var (
	ErrNotFound = errors.New("pipeline: not found")
	ErrExists   = errors.New("pipeline: already exists")
	// ErrConflict is a request that does not fit the resource's state (stopping a finished
	// execution, deleting a pipeline that runs) or a reused idempotency token.
	ErrConflict = errors.New("pipeline: conflict")
	ErrInvalid  = errors.New("pipeline: invalid request")
)

// Error is an engine error with a client-facing message; errors.Is matches its Kind.
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

// JobRunner is what the engine needs from the job runner; *jobs.Runner implements it.
type JobRunner interface {
	CreateProcessingJob(ctx context.Context, spec *jobs.ProcessingJobSpec) (string, error)
	DescribeProcessingJob(ctx context.Context, name string) (*jobs.ProcessingJob, error)
	StopProcessingJob(ctx context.Context, name string) error
	CreateTrainingJob(ctx context.Context, spec *jobs.TrainingJobSpec) (string, error)
	DescribeTrainingJob(ctx context.Context, name string) (*jobs.TrainingJob, error)
	StopTrainingJob(ctx context.Context, name string) error
}

// ModelService creates SageMaker models for Model steps; *hosting.Service implements it.
type ModelService interface {
	CreateModel(ctx context.Context, in hosting.NewModel) (hosting.Model, error)
	DescribeModel(ctx context.Context, name string) (hosting.Model, error)
}

// Defaults of EngineConfig.
const (
	// DefaultBucket is created when the engine starts, for the examples' data and models, and
	// receives the outputs a Sluice:EndpointTest step's job leaves without a location, under
	// s3://sluice-default/<pipeline>/<execution id>/<step>/.
	DefaultBucket = "sluice-default"
	// DefaultPoll is how often the engine looks for executions started by other replicas and
	// re-checks what it waits for, in case a notification was missed.
	DefaultPoll = 2 * time.Second
	// recheckEvery is how many polls pass between full re-checks of what drivers wait on;
	// notifications make those re-checks a safety net, not the way work proceeds.
	recheckEvery = 15
)

// EngineConfig is what an Engine needs. Store is required; Blob is needed by steps that read
// property files or definitions from the artifact store, Jobs by Processing and Training
// steps, Registry by RegisterModel steps, Models by Model steps and Transforms by Transform
// steps. A step whose dependency is missing fails with a message that says so.
type EngineConfig struct {
	Store    *store.Store
	Blob     blob.Store
	Jobs     JobRunner
	Registry *registry.Service
	Models   ModelService
	// Transforms runs the jobs of Transform steps.
	Transforms TransformService
	// Delivery deploys to and tests environments for Sluice:Deploy and Sluice:EndpointTest
	// steps; *promotion.Service implements it.
	Delivery Delivery
	// Region and AccountID go into ARNs.
	Region    string
	AccountID string
	// DefaultBucket is the engine's default bucket; default DefaultBucket.
	DefaultBucket string
	// MaxParallelSteps bounds the steps of one execution that run at once when neither the
	// pipeline nor the execution sets ParallelismConfiguration; 0 means no bound.
	MaxParallelSteps int
	// Poll is how often the engine re-checks its work without a notification; default
	// DefaultPoll.
	Poll time.Duration
	Log  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Engine stores pipelines and runs their executions. Its methods are safe for concurrent use;
// Run drives the executions.
type Engine struct {
	cfg   EngineConfig
	store *store.Store
	log   *slog.Logger

	mu      sync.Mutex
	running bool
	runCtx  context.Context
	drivers map[int64]*driver  // active executions driven here, by row id
	watches map[string]*driver // job ARN → the driver waiting for it
	wg      sync.WaitGroup
}

// NewEngine checks cfg and returns an engine; no execution runs until Run.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("pipeline: EngineConfig.Store is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.DefaultBucket == "" {
		cfg.DefaultBucket = DefaultBucket
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Log,
		drivers: map[int64]*driver{},
		watches: map[string]*driver{},
	}, nil
}

func (e *Engine) now() time.Time { return e.cfg.Now().UTC().Truncate(time.Microsecond) }

// arn builds arn:aws:sagemaker:<region>:<account>:<resource>.
func (e *Engine) arn(resource string) string {
	return fmt.Sprintf("arn:aws:sagemaker:%s:%s:%s", e.cfg.Region, e.cfg.AccountID, resource)
}

// PipelineARN is the ARN of the named pipeline.
func (e *Engine) PipelineARN(name string) string { return e.arn("pipeline/" + strings.ToLower(name)) }

// ExecutionARN is the ARN of an execution of the named pipeline.
func (e *Engine) ExecutionARN(pipelineName, execID string) string {
	return e.PipelineARN(pipelineName) + "/execution/" + execID
}

// Run drives executions until ctx ends: it resumes the executions that were active when the
// server stopped, then runs every execution started here, waking on job state changes. When
// ctx ends, drivers stop where they are; their state is already stored.
//
// Of the servers that share a PostgreSQL database, one leads and drives every execution; the
// others wait to take over, and the executions they start are picked up by the leader within
// a poll interval.
func (e *Engine) Run(ctx context.Context) error {
	for {
		lease, err := e.store.Lead(ctx, "pipelines", e.cfg.Poll)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pipeline: taking the lead: %w", err)
		}
		err = e.lead(lease.Context())
		lease.Release()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		e.log.Warn("pipeline: lost the lead (its database connection broke); waiting to take it again")
	}
}

// lead drives executions while this server leads, until ctx ends.
func (e *Engine) lead(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("pipeline: engine is already running")
	}
	e.running, e.runCtx = true, ctx
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running, e.runCtx = false, nil
		e.mu.Unlock()
		e.wg.Wait()
	}()

	if e.cfg.Blob != nil {
		if err := blob.EnsureBucket(ctx, e.cfg.Blob, e.cfg.DefaultBucket); err != nil {
			e.log.Warn("pipeline: default bucket", "bucket", e.cfg.DefaultBucket, slog.Any("error", err))
		}
	}
	// Follow job events from now on; drivers resumed below check their jobs directly once, so
	// nothing that happened before this cursor is missed.
	cursor, err := e.store.LatestEventID(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	followErr := make(chan error, 1)
	go func() { followErr <- e.followJobs(ctx, cursor) }()
	if err := e.resumeAll(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("pipeline: resuming executions", slog.Any("error", err))
	}
	tick := time.NewTicker(e.cfg.Poll)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-followErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pipeline: following job events: %w", err)
		case <-tick.C:
			if err := e.resumeAll(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("pipeline: looking for executions", slog.Any("error", err))
			}
			if n%recheckEvery != 0 {
				continue
			}
			// Now and then, look at every job a driver waits on, in case a state change
			// went unseen: on PostgreSQL, a transaction can commit an event with a lower id
			// after the follower has read past it.
			e.mu.Lock()
			for _, d := range e.drivers {
				d.poke(false)
			}
			e.mu.Unlock()
		}
	}
}

// resumeAll starts a driver for every active execution that has none here.
func (e *Engine) resumeAll(ctx context.Context) error {
	execs, err := e.store.PipelineExecutionsInStatus(ctx, ExecutionExecuting, ExecutionStopping)
	if err != nil {
		return err
	}
	for _, x := range execs {
		e.launch(x.ID, x.ARN, false)
	}
	return nil
}

// launch makes sure a driver runs the execution (row id), and tells an existing one to read
// its rows again when reload is set. Without a running engine it does nothing: the execution
// is resumed when Run starts.
func (e *Engine) launch(id int64, arn string, reload bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running {
		return
	}
	if d, ok := e.drivers[id]; ok {
		d.poke(reload)
		return
	}
	d := newDriver(e, id, arn)
	e.drivers[id] = d
	e.wg.Add(1)
	ctx := e.runCtx
	go func() {
		defer e.wg.Done()
		d.run(ctx)
	}()
}

// notify tells the driver of an execution (row id), if one runs here, to read its rows again.
func (e *Engine) notify(id int64) {
	e.mu.Lock()
	d := e.drivers[id]
	e.mu.Unlock()
	if d != nil {
		d.poke(true)
	}
}

// retire removes a finished driver unless something arrived for it meanwhile; it reports
// whether the driver may exit.
func (e *Engine) retire(d *driver) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d.pending() {
		return false
	}
	delete(e.drivers, d.id)
	for arn, w := range e.watches {
		if w == d {
			delete(e.watches, arn)
		}
	}
	return true
}

func (e *Engine) watch(arn string, d *driver) {
	e.mu.Lock()
	e.watches[arn] = d
	e.mu.Unlock()
}

func (e *Engine) unwatch(arn string) {
	e.mu.Lock()
	delete(e.watches, arn)
	e.mu.Unlock()
}

// Job state-change events, and the status members they carry.
var jobEventStatus = map[string]string{
	jobs.EventProcessingJobStateChange: "ProcessingJobStatus",
	jobs.EventTrainingJobStateChange:   "TrainingJobStatus",
	jobs.EventTransformJobStateChange:  "TransformJobStatus",
	// A Sluice:Deploy step waits on its endpoint; every status change may end the deployment.
	hosting.EndpointStateChange: "EndpointStatus",
}

// followJobs reads the outbox after cursor and wakes the driver waiting on a job whenever the
// job stops running (or starts stopping). It wakes on local commits and polls for commits made
// by other replicas.
func (e *Engine) followJobs(ctx context.Context, cursor int64) error {
	const batch = 1000
	for {
		changed := e.store.Changed()
		evs, err := e.store.EventsAfter(ctx, cursor, batch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range evs {
			cursor = ev.ID
			member, ok := jobEventStatus[ev.DetailType]
			if !ok || len(ev.Resources) == 0 {
				continue
			}
			e.mu.Lock()
			d := e.watches[ev.Resources[0]]
			e.mu.Unlock()
			if d == nil {
				continue
			}
			var detail map[string]any
			if json.Unmarshal(ev.Detail, &detail) != nil {
				continue
			}
			if st, _ := detail[member].(string); jobs.Terminal(st) || st == jobs.StatusStopping || ev.DetailType == hosting.EndpointStateChange {
				d.jobChanged(ev.Resources[0])
			}
		}
		if len(evs) == batch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-time.After(e.cfg.Poll):
		}
	}
}
