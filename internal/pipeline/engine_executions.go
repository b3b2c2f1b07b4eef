package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// StartRequest is a StartPipelineExecution request.
type StartRequest struct {
	// Pipeline is the pipeline's name or ARN.
	Pipeline    string
	DisplayName string
	Description string
	Parameters  []ParameterValue
	// Parallelism overrides the pipeline's ParallelismConfiguration for this execution.
	Parallelism *ParallelismConfiguration
	// ClientToken makes the request idempotent: a retry with the same token returns the
	// execution the first request started.
	ClientToken string
	// PipelineVersionID, when set, must be the pipeline's current version: the server keeps
	// only the current definition of a pipeline.
	PipelineVersionID int64
}

// Execution is a pipeline execution, as DescribePipelineExecution reports it.
type Execution struct {
	ARN           string
	ID            string
	PipelineARN   string
	PipelineName  string
	DisplayName   string
	Description   string
	Status        string
	FailureReason string
	// Parallelism is the limit the execution runs under, nil when there is none.
	Parallelism *ParallelismConfiguration
	// Experiment is the resolved PipelineExperimentConfig (ExperimentName, TrialName).
	Experiment map[string]string
	VersionID  int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	EndedAt    time.Time
	CreatedBy  registry.UserContext
	ModifiedBy registry.UserContext
	// Definition is the definition the execution runs.
	Definition string
	// Parameters are the values given at start.
	Parameters []ParameterValue
}

func executionFromRow(x store.PipelineExecution) Execution {
	out := Execution{
		ARN: x.ARN, ID: x.ExecID, PipelineARN: x.PipelineARN, PipelineName: x.PipelineName,
		DisplayName: x.DisplayName, Description: x.Description, Status: x.Status, FailureReason: x.FailureReason,
		VersionID: x.VersionID, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt, EndedAt: x.EndedAt,
		Definition: x.Definition,
	}
	if x.Parallelism > 0 {
		out.Parallelism = &ParallelismConfiguration{MaxParallelExecutionSteps: x.Parallelism}
	}
	json.Unmarshal(x.Experiment, &out.Experiment)
	json.Unmarshal(x.Parameters, &out.Parameters)
	json.Unmarshal(x.CreatedBy, &out.CreatedBy)
	json.Unmarshal(x.ModifiedBy, &out.ModifiedBy)
	return out
}

// newExecutionID is a 12-character lower-case alphanumeric id, like SageMaker's.
func newExecutionID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [12]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// StartExecution checks the parameters against the pipeline's definition, stores a new
// execution in the Executing status and hands it to the engine.
func (e *Engine) StartExecution(ctx context.Context, actor registry.Actor, in StartRequest) (Execution, error) {
	arn, err := e.pipelineARN(in.Pipeline)
	if err != nil {
		return Execution{}, err
	}
	if in.Parallelism != nil {
		if err := in.Parallelism.Validate(); err != nil {
			return Execution{}, errorf(ErrInvalid, "%v", err)
		}
	}
	var out store.PipelineExecution
	started := false
	err = e.store.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.PipelineForUpdate(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "Pipeline %s does not exist.", in.Pipeline)
		}
		if err != nil {
			return err
		}
		if in.ClientToken != "" {
			prev, err := tx.PipelineExecutionByToken(ctx, p.ID, in.ClientToken)
			if err == nil {
				out = prev // a retry of the request that started it
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if in.PipelineVersionID != 0 && in.PipelineVersionID != p.VersionID {
			return errorf(ErrInvalid, "PipelineVersionId %d is not the current version (%d) of pipeline %s; this server runs the current version only.", in.PipelineVersionID, p.VersionID, p.Name)
		}
		def, err := Parse([]byte(p.Definition))
		if err != nil {
			return errorf(ErrInvalid, "The pipeline's definition is not valid: %v", err)
		}
		params, err := def.BindParameters(in.Parameters)
		if err != nil {
			return errorf(ErrInvalid, "PipelineParameters: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		now := e.now()
		id := newExecutionID()
		x := store.PipelineExecution{
			ARN: e.ExecutionARN(p.Name, id), ExecID: id, PipelineID: p.ID, PipelineARN: p.ARN, PipelineName: p.Name,
			VersionID: p.VersionID, DisplayName: in.DisplayName, Description: in.Description, Status: ExecutionExecuting,
			Definition: p.Definition, Parameters: encodeJSON(nonNil(in.Parameters)), ClientToken: in.ClientToken,
			CreatedAt: now, UpdatedAt: now, CreatedBy: actorJSON(actor), ModifiedBy: actorJSON(actor),
		}
		if x.DisplayName == "" {
			x.DisplayName = "execution-" + fmt.Sprint(now.UnixMilli())
		}
		var pipePar *ParallelismConfiguration
		if p.Parallelism > 0 {
			pipePar = &ParallelismConfiguration{MaxParallelExecutionSteps: p.Parallelism}
		}
		x.Parallelism = MaxParallelSteps(pipePar, in.Parallelism)
		if def.PipelineExperimentConfig != nil {
			env := Env{Parameters: params, Execution: map[string]any{
				"StartDateTime": formatExecutionTime(now), "CurrentDateTime": formatExecutionTime(now),
				"PipelineName": p.Name, "PipelineArn": p.ARN, "PipelineExecutionId": id, "PipelineExecutionArn": x.ARN,
			}}
			exp, err := def.PipelineExperimentConfig.Resolve(env)
			if err != nil {
				return errorf(ErrInvalid, "PipelineExperimentConfig: %v", err)
			}
			x.Experiment = encodeJSON(exp)
		}
		if err := tx.InsertPipelineExecution(ctx, &x); err != nil {
			return err
		}
		p.LastRunAt = now
		if err := tx.UpdatePipeline(ctx, &p); err != nil {
			return err
		}
		out, started = x, true
		return e.emitExecution(ctx, tx, &x, "")
	})
	if err != nil {
		return Execution{}, wrapErr(err, "start")
	}
	if started {
		e.launch(out.ID, out.ARN, false)
	}
	return executionFromRow(out), nil
}

func nonNil(v []ParameterValue) []ParameterValue {
	if v == nil {
		return []ParameterValue{}
	}
	return v
}

// execution reads an execution by ARN.
func (e *Engine) execution(ctx context.Context, arn string) (store.PipelineExecution, error) {
	x, err := e.store.PipelineExecution(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return x, errorf(ErrNotFound, "Pipeline execution %s does not exist.", arn)
	}
	if err != nil {
		return x, fmt.Errorf("pipeline: read execution: %w", err)
	}
	return x, nil
}

// DescribeExecution returns an execution by ARN.
func (e *Engine) DescribeExecution(ctx context.Context, arn string) (Execution, error) {
	x, err := e.execution(ctx, arn)
	if err != nil {
		return Execution{}, err
	}
	return executionFromRow(x), nil
}

// ExecutionParameters lists every parameter of an execution with the value it runs with: the
// one given at start, or the default, as text.
func (e *Engine) ExecutionParameters(ctx context.Context, arn string) ([]ParameterValue, error) {
	x, err := e.execution(ctx, arn)
	if err != nil {
		return nil, err
	}
	def, err := Parse([]byte(x.Definition))
	if err != nil {
		return nil, fmt.Errorf("pipeline: execution %s: stored definition: %w", arn, err)
	}
	var given []ParameterValue
	json.Unmarshal(x.Parameters, &given)
	values, err := def.BindParameters(given)
	if err != nil {
		return nil, fmt.Errorf("pipeline: execution %s: stored parameters: %w", arn, err)
	}
	out := make([]ParameterValue, 0, len(def.Parameters))
	for _, p := range def.Parameters {
		s, err := FormatValue(values[p.Name])
		if err != nil {
			continue
		}
		out = append(out, ParameterValue{Name: p.Name, Value: s})
	}
	return out, nil
}

// Sort keys of ListPipelineExecutions.
const (
	SortByExecutionARN = "PipelineExecutionArn"
)

// ExecutionQuery selects the executions of one pipeline for ListPipelineExecutions.
type ExecutionQuery struct {
	Pipeline                    string
	CreatedAfter, CreatedBefore time.Time
	// SortBy is SortByCreationTime (the default) or SortByExecutionARN.
	SortBy     string
	Descending bool
	After      *store.Cursor
	Limit      int
}

// ExecutionPage is one page of executions; Next is nil on the last page.
type ExecutionPage struct {
	Executions []Execution
	Next       *store.Cursor
}

// ListExecutions lists a pipeline's executions, one page at a time.
func (e *Engine) ListExecutions(ctx context.Context, q ExecutionQuery) (ExecutionPage, error) {
	arn, err := e.pipelineARN(q.Pipeline)
	if err != nil {
		return ExecutionPage{}, err
	}
	p, err := e.store.Pipeline(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return ExecutionPage{}, errorf(ErrNotFound, "Pipeline %s does not exist.", q.Pipeline)
	}
	if err != nil {
		return ExecutionPage{}, fmt.Errorf("pipeline: list executions: %w", err)
	}
	byARN := q.SortBy == SortByExecutionARN
	rows, err := e.store.ListPipelineExecutions(ctx, store.PipelineExecutionQuery{
		PipelineID: p.ID, CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
		SortByARN: byARN, Descending: q.Descending, After: q.After, Limit: pageLimit(q.Limit),
	})
	if err != nil {
		return ExecutionPage{}, fmt.Errorf("pipeline: list executions: %w", err)
	}
	var page ExecutionPage
	for i, r := range rows {
		if q.Limit > 0 && i == q.Limit {
			c := rows[i-1].SortKey(byARN)
			page.Next = &c
			break
		}
		page.Executions = append(page.Executions, executionFromRow(r))
	}
	return page, nil
}

// StepInfo is one step of an execution, as ListPipelineExecutionSteps reports it.
type StepInfo struct {
	Name          string
	DisplayName   string
	Description   string
	Type          string
	Status        string
	FailureReason string
	StartTime     time.Time
	EndTime       time.Time
	AttemptCount  int
	// Metadata is the step type's metadata (ProcessingJob.Arn, Condition.Outcome, …) as JSON.
	Metadata json.RawMessage
	// CacheSource is SourcePipelineExecutionArn when the step reused an earlier run.
	CacheSource string
	// RetryAt is when a step waiting to retry starts its next attempt.
	RetryAt time.Time
}

func stepFromRow(r store.PipelineStep) StepInfo {
	s := StepInfo{
		Name: r.Name, DisplayName: r.DisplayName, Description: r.Description, Type: r.Type, Status: r.Status,
		FailureReason: r.FailureReason, StartTime: r.StartedAt, EndTime: r.EndedAt, AttemptCount: r.Attempt,
		Metadata: r.Metadata, CacheSource: r.CacheSource, RetryAt: r.RetryAt,
	}
	if !r.FirstStartedAt.IsZero() {
		s.StartTime = r.FirstStartedAt
	}
	return s
}

// StepQuery pages through the steps of an execution.
type StepQuery struct {
	Execution string
	// Ascending lists steps in the order they started; the default is newest first, as
	// SageMaker lists them.
	Ascending bool
	// AfterID resumes after a step of a previous page (StepPage.Next).
	AfterID int64
	Limit   int
}

// StepPage is one page of steps; Next is 0 on the last page.
type StepPage struct {
	Steps []StepInfo
	Next  int64
}

// ListSteps lists the steps of an execution that have started.
func (e *Engine) ListSteps(ctx context.Context, q StepQuery) (StepPage, error) {
	x, err := e.execution(ctx, q.Execution)
	if err != nil {
		return StepPage{}, err
	}
	rows, err := e.store.ListPipelineSteps(ctx, store.PipelineStepQuery{
		ExecutionID: x.ID, Descending: !q.Ascending, AfterID: q.AfterID, Limit: pageLimit(q.Limit),
	})
	if err != nil {
		return StepPage{}, fmt.Errorf("pipeline: list steps: %w", err)
	}
	var page StepPage
	for i, r := range rows {
		if q.Limit > 0 && i == q.Limit {
			page.Next = rows[i-1].ID
			break
		}
		page.Steps = append(page.Steps, stepFromRow(r))
	}
	return page, nil
}

// updateExecution changes an execution in a transaction: fn sees the locked row and edits it;
// when the status changes, the event is written with it. The engine's driver is told to read
// the execution again.
func (e *Engine) updateExecution(ctx context.Context, arn string, fn func(tx *store.Tx, x *store.PipelineExecution) error) (store.PipelineExecution, error) {
	var out store.PipelineExecution
	err := e.store.InTx(ctx, func(tx *store.Tx) error {
		x, err := tx.PipelineExecutionForUpdate(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "Pipeline execution %s does not exist.", arn)
		}
		if err != nil {
			return err
		}
		prev := x.Status
		if err := fn(tx, &x); err != nil {
			return err
		}
		x.UpdatedAt = e.now()
		if err := tx.UpdatePipelineExecution(ctx, &x); err != nil {
			return err
		}
		out = x
		if x.Status != prev {
			return e.emitExecution(ctx, tx, &x, prev)
		}
		return nil
	})
	if err != nil {
		return out, wrapErr(err, "update execution")
	}
	return out, nil
}

// StopExecution asks an execution to stop: it is Stopping at once, its running jobs are
// stopped, nothing more starts, and it is Stopped when nothing runs any more. Stopping an
// execution that is already stopping or stopped is not an error.
func (e *Engine) StopExecution(ctx context.Context, actor registry.Actor, arn string) (Execution, error) {
	x, err := e.updateExecution(ctx, arn, func(tx *store.Tx, x *store.PipelineExecution) error {
		switch x.Status {
		case ExecutionExecuting:
			x.Status, x.StopRequested, x.ModifiedBy = ExecutionStopping, true, actorJSON(actor)
			return nil
		case ExecutionStopping, ExecutionStopped:
			return nil
		}
		return errorf(ErrConflict, "Pipeline execution %s has already ended with status %s; only an Executing execution can be stopped.", arn, x.Status)
	})
	if err != nil {
		return Execution{}, err
	}
	e.launch(x.ID, x.ARN, true)
	return executionFromRow(x), nil
}

// RetryExecution runs a Failed or Stopped execution again under the same ARN: steps that
// succeeded keep their results, failed and stopped steps start a new attempt, and the steps
// they held back run after them.
func (e *Engine) RetryExecution(ctx context.Context, actor registry.Actor, arn string, parallelism *ParallelismConfiguration) (Execution, error) {
	if parallelism != nil {
		if err := parallelism.Validate(); err != nil {
			return Execution{}, errorf(ErrInvalid, "%v", err)
		}
	}
	x, err := e.updateExecution(ctx, arn, func(tx *store.Tx, x *store.PipelineExecution) error {
		if x.Status != ExecutionFailed && x.Status != ExecutionStopped {
			return errorf(ErrConflict, "Pipeline execution %s is %s; only a Failed or Stopped execution can be retried.", arn, x.Status)
		}
		rows, err := tx.PipelineSteps(ctx, x.ID)
		if err != nil {
			return err
		}
		now := e.now()
		for i := range rows {
			r := &rows[i]
			if r.Status != StepFailed && r.Status != StepStopped {
				continue
			}
			r.Status, r.Attempt, r.FailureReason = StepStarting, r.Attempt+1, ""
			r.RetryAt, r.EndedAt, r.StartedAt, r.UpdatedAt, r.CallbackToken = time.Time{}, time.Time{}, now, now, ""
			if err := tx.UpdatePipelineStep(ctx, r); err != nil {
				return err
			}
			if err := e.emitStep(ctx, tx, x, r, nil); err != nil {
				return err
			}
		}
		x.Status, x.FailureReason, x.EndedAt, x.StopRequested = ExecutionExecuting, "", time.Time{}, false
		x.ModifiedBy = actorJSON(actor)
		if parallelism != nil {
			x.Parallelism = parallelism.MaxParallelExecutionSteps
		}
		return nil
	})
	if err != nil {
		return Execution{}, err
	}
	e.launch(x.ID, x.ARN, true)
	return executionFromRow(x), nil
}

// ExecutionUpdate is an UpdatePipelineExecution request; nil fields are left alone.
type ExecutionUpdate struct {
	DisplayName *string
	Description *string
	Parallelism *ParallelismConfiguration
}

// UpdateExecution changes an execution's display name, description or parallelism.
func (e *Engine) UpdateExecution(ctx context.Context, actor registry.Actor, arn string, u ExecutionUpdate) (Execution, error) {
	if u.Parallelism != nil {
		if err := u.Parallelism.Validate(); err != nil {
			return Execution{}, errorf(ErrInvalid, "%v", err)
		}
	}
	x, err := e.updateExecution(ctx, arn, func(tx *store.Tx, x *store.PipelineExecution) error {
		if u.DisplayName != nil {
			x.DisplayName = *u.DisplayName
		}
		if u.Description != nil {
			x.Description = *u.Description
		}
		if u.Parallelism != nil {
			x.Parallelism = u.Parallelism.MaxParallelExecutionSteps
		}
		x.ModifiedBy = actorJSON(actor)
		return nil
	})
	if err != nil {
		return Execution{}, err
	}
	e.notify(x.ID)
	return executionFromRow(x), nil
}

// SendStepSuccess answers a Callback step: it succeeds with the output parameters as its
// properties. It returns the execution's ARN. Answering again the same way is not an error.
func (e *Engine) SendStepSuccess(ctx context.Context, token string, outputs []ParameterValue) (string, error) {
	return e.answer(ctx, token, func(step *Step, r *store.PipelineStep) error {
		values := map[string]string{}
		for _, o := range outputs {
			if _, dup := values[o.Name]; dup {
				return errorf(ErrInvalid, "OutputParameters: %q is given more than once.", o.Name)
			}
			values[o.Name] = o.Value
		}
		props, err := CallbackProperties(step.OutputParameters, values)
		if err != nil {
			declared := make([]string, len(step.OutputParameters))
			for i, o := range step.OutputParameters {
				declared[i] = fmt.Sprintf("%s (%s)", o.OutputName, o.OutputType)
			}
			sort.Strings(declared)
			return errorf(ErrInvalid, "OutputParameters: %v; step %s declares %s.", err, step.Name, listOrNone(declared))
		}
		r.Status, r.Properties = StepSucceeded, encodeJSON(props)
		return setCallbackOutputs(r, nonNil(outputs))
	}, StepSucceeded)
}

// SendStepFailure answers a Callback step: it fails with the reason, and the execution fails.
func (e *Engine) SendStepFailure(ctx context.Context, token, reason string) (string, error) {
	return e.answer(ctx, token, func(step *Step, r *store.PipelineStep) error {
		r.Status, r.FailureReason = StepFailed, reason
		return nil
	}, StepFailed)
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "no output parameters"
	}
	return strings.Join(l, ", ")
}

// setCallbackOutputs adds the answer's output parameters to a Callback step's metadata.
func setCallbackOutputs(r *store.PipelineStep, outputs []ParameterValue) error {
	md := map[string]map[string]any{}
	json.Unmarshal(r.Metadata, &md)
	cb := md["Callback"]
	if cb == nil {
		cb = map[string]any{}
	}
	list := make([]map[string]string, len(outputs))
	for i, o := range outputs {
		list[i] = map[string]string{"Name": o.Name, "Value": o.Value}
	}
	cb["OutputParameters"] = list
	md["Callback"] = cb
	r.Metadata = encodeJSON(md)
	return nil
}

// answer applies a callback answer to the step waiting with token.
func (e *Engine) answer(ctx context.Context, token string, apply func(*Step, *store.PipelineStep) error, want string) (string, error) {
	if token == "" {
		return "", errorf(ErrInvalid, "CallbackToken is required.")
	}
	var x store.PipelineExecution
	err := e.store.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.PipelineStepByToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "No pipeline step waits for callback token %q; check the token listed with the step (ListPipelineExecutionSteps, Metadata.Callback.CallbackToken).", token)
		}
		if err != nil {
			return err
		}
		if x, err = tx.PipelineExecutionByID(ctx, r.ExecutionID); err != nil {
			return err
		}
		if stepDone(r.Status) {
			if r.Status == want {
				return nil // the same answer again
			}
			return errorf(ErrConflict, "The callback of step %s was already answered: the step is %s.", r.Name, r.Status)
		}
		if r.Status != StepExecuting && r.Status != StepStopping {
			return errorf(ErrConflict, "Step %s is %s and does not wait for a callback.", r.Name, r.Status)
		}
		def, err := Parse([]byte(x.Definition))
		if err != nil {
			return fmt.Errorf("pipeline: execution %s: stored definition: %w", x.ARN, err)
		}
		step, ok := def.Step(r.Name)
		if !ok || (step.Type != StepCallback && step.Type != StepApproval) {
			return errorf(ErrConflict, "Step %s is not a Callback step.", r.Name)
		}
		if err := apply(step, &r); err != nil {
			return err
		}
		now := e.now()
		r.EndedAt, r.UpdatedAt, r.RetryAt = now, now, time.Time{}
		if err := tx.UpdatePipelineStep(ctx, &r); err != nil {
			return err
		}
		return e.emitStep(ctx, tx, &x, &r, nil)
	})
	if err != nil {
		return "", wrapErr(err, "callback")
	}
	e.notify(x.ID)
	return x.ARN, nil
}
