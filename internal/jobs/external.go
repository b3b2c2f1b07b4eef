package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// KindTransform is a batch transform job. The runner queues, claims, recovers, stops and
// reports it like the other kinds; the Executor registered for the kind (package transform)
// does the work.
const KindTransform Kind = "transform"

// EventTransformJobStateChange is the EventBridge detail type of transform job state changes.
const EventTransformJobStateChange = "SageMaker Transform Job State Change"

// Executor runs the jobs of a kind the runner does not run itself. Everything around a run
// stays the runner's: the queue and its slots, claims and heartbeats, recovery after a restart,
// stop requests, the job's log, its status, timeline and events.
type Executor interface {
	// Execute runs one attempt of a claimed job and reports how it ended. It must return soon
	// after run.Context() ends, which happens when the job is stopped or the server stops.
	Execute(run *Run) Result
}

// Result is how an Executor's run ended.
type Result struct {
	// Status is StatusCompleted, StatusFailed or StatusStopped.
	Status string
	// Message ends the job's timeline; Reason is the FailureReason of a failure (clipped to
	// SageMaker's 1024 characters).
	Message string
	Reason  string
	// Err is a failure of the run rather than of the job (the store, a lost claim): when the
	// server is stopping the job is left for the next start, otherwise it fails as an internal
	// error.
	Err error
}

// Run is one attempt of a job handed to an Executor.
type Run struct {
	x    *execution
	spec json.RawMessage
}

// Context ends when the job is stopped or the server stops.
func (r *Run) Context() context.Context { return r.x.jobCtx }

// Name is the job's name.
func (r *Run) Name() string { return r.x.name }

// ARN is the job's ARN.
func (r *Run) ARN() string { return r.x.arn }

// Spec is the request the job was created with.
func (r *Run) Spec() json.RawMessage { return r.spec }

// Attempt counts the runs of the job; above 1 an earlier run was interrupted by a restart.
func (r *Run) Attempt() int { return r.x.attempt }

// Workspace is a fresh folder for the run's scratch files, removed when the job ends.
func (r *Run) Workspace() string { return r.x.ml }

// Log is the job's log, which `sluice jobs logs` and the native API stream.
func (r *Run) Log() io.Writer { return r.x.log }

// Logf writes a line of the runner's own into the job's log.
func (r *Run) Logf(format string, args ...any) { r.x.log.note(format, args...) }

// Stopped reports whether a stop was requested.
func (r *Run) Stopped() bool { return r.x.stopped() }

// Step records the next step of the job's timeline. With start set it also records the job's
// start time (TransformStartTime and the like), once.
func (r *Run) Step(status, msg string, start bool) error {
	now := r.x.r.now().UTC()
	return r.x.step(status, msg, now, func(rec *record) {
		if start && rec.StartedAt.IsZero() {
			rec.StartedAt = now
		}
	})
}

// RegisterExecutor makes the runner run jobs of kind with ex. Register before Run.
func (r *Runner) RegisterExecutor(kind Kind, ex Executor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.executors == nil {
		r.executors = map[Kind]Executor{}
	}
	r.executors[kind] = ex
}

func (r *Runner) executor(kind Kind) Executor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.executors[kind]
}

// external runs a claimed job through the executor of its kind.
func (x *execution) external(ex Executor, spec json.RawMessage) (outcome, error) {
	if err := x.begin(nil); err != nil {
		return outcome{}, err
	}
	if err := x.settle(); err != nil {
		return outcome{}, err
	}
	res := ex.Execute(&Run{x: x, spec: spec})
	if x.runCtx.Err() != nil {
		return outcome{}, x.runCtx.Err() // the server is stopping: the next start runs it again
	}
	if res.Err != nil {
		if errors.Is(res.Err, errLostClaim) {
			return outcome{}, res.Err
		}
		return failed("InternalServerError: %v", res.Err), nil
	}
	switch {
	case res.Status == StatusCompleted:
		return outcome{status: StatusCompleted, secondary: SecondaryCompleted, message: res.Message}, nil
	case x.stopped() || res.Status == StatusStopped:
		o := stoppedOutcome()
		if res.Message != "" {
			o.message = res.Message
		}
		return o, nil
	}
	o := failed("%s", res.Reason)
	if res.Message != "" {
		o.message = res.Message
	}
	return o, nil
}

// JobInfo is a job of any kind as the runner keeps it: the request as sent and its lifecycle.
type JobInfo struct {
	Kind            Kind
	Name            string
	ARN             string
	Status          string
	SecondaryStatus string
	FailureReason   string
	// Spec is the request the job was created with (without its tags).
	Spec             json.RawMessage
	CreationTime     time.Time
	LastModifiedTime time.Time
	// StartTime is when the run began its work; EndTime when the job ended.
	StartTime   time.Time
	EndTime     time.Time
	Transitions []Transition
	// Attempt counts runs; above 1 the server restarted during the job.
	Attempt int
}

func jobInfo(rec *record) *JobInfo {
	return &JobInfo{
		Kind: Kind(rec.Kind), Name: rec.Name, ARN: rec.ARN, Status: rec.Status, SecondaryStatus: rec.SecondaryStatus,
		FailureReason: rec.FailureReason, Spec: rec.Spec,
		CreationTime: rec.CreatedAt, LastModifiedTime: rec.UpdatedAt, StartTime: rec.StartedAt, EndTime: rec.EndedAt,
		Transitions: rec.transitions, Attempt: rec.Attempt,
	}
}

// CreateJob queues a job of a kind that a registered Executor runs and returns its ARN. spec
// is the request as it is stored and reported (without tags). A job with the same kind and
// name is an *ExistsError.
func (r *Runner) CreateJob(ctx context.Context, kind Kind, name string, spec any, tags []Tag, startMsg string) (string, error) {
	if r.executor(kind) == nil {
		return "", invalid("%s jobs are not run by this server", kind)
	}
	rec, err := r.newRecord(kind, name, spec, startMsg)
	if err != nil {
		return "", err
	}
	if err := r.insert(ctx, rec, tags); err != nil {
		return "", err
	}
	return rec.ARN, nil
}

// Job returns a job of this kind, or ErrNotFound.
func (r *Runner) Job(ctx context.Context, kind Kind, name string) (*JobInfo, error) {
	rec, err := r.load(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	return jobInfo(rec), nil
}

// StopJob stops a job of any kind: a queued one at once, a running one by ending its run's
// context (or signalling its process). The status is Stopping until the run has ended.
func (r *Runner) StopJob(ctx context.Context, kind Kind, name string) error {
	return r.stop(ctx, kind, name)
}

// WaitJob blocks until the job has ended and returns it.
func (r *Runner) WaitJob(ctx context.Context, kind Kind, name string) (*JobInfo, error) {
	rec, err := r.wait(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	return jobInfo(rec), nil
}

// transformDetail fills the state-change event of a transform job: DescribeTransformJob's
// members, as SageMaker's event carries them.
func transformDetail(detail map[string]any, rec *record, ms func(time.Time) any) {
	var spec map[string]any
	if json.Unmarshal(rec.Spec, &spec) == nil {
		for k, v := range spec {
			detail[k] = v
		}
	}
	detail["TransformJobName"] = rec.Name
	detail["TransformJobArn"] = rec.ARN
	detail["TransformJobStatus"] = rec.Status
	detail["TransformStartTime"] = ms(rec.StartedAt)
	detail["TransformEndTime"] = ms(rec.EndedAt)
}

// unknownKind is the failure of a job whose kind nothing here runs.
func unknownKind(kind string) outcome {
	return failed("InternalServerError: %s", fmt.Sprintf("no executor runs %q jobs on this server", kind))
}
