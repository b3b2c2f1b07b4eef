package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/store"
)

// stepKind runs the steps of one type. The engine declares it; one file per step type
// (step_*.go) implements it.
type stepKind interface {
	// launchesJob reports whether the step creates a job and waits for it. Such a step's row
	// is written before the job is created, so that a restart re-attaches to the job.
	launchesJob() bool
	// start runs or launches one attempt. A step that finishes at once returns its final
	// outcome; one that waits (for a job, for a callback answer) returns StepExecuting with
	// what it waits on.
	start(ctx context.Context, a *attempt) outcome
	// check looks at what a waiting attempt waits on: StepExecuting while it still runs.
	check(ctx context.Context, a *attempt) outcome
	// stop asks what the attempt waits on to stop; the step ends when check says so.
	stop(ctx context.Context, a *attempt) error
}

// poller is implemented by step kinds that wait on something no event announces (an endpoint on
// another server, a gate's deadline): the driver re-checks a waiting attempt after pollAfter
// (0: only on events).
type poller interface {
	pollAfter(r *store.PipelineStep, now time.Time) time.Duration
}

// cacheDigester is implemented by step kinds whose cache key covers the content of their code
// inputs, not only the arguments that name them.
type cacheDigester interface {
	cacheDigests(ctx context.Context, a *attempt, args any) ([]string, error)
}

// kindFor returns the runner of a step type.
func kindFor(t StepType) stepKind {
	switch t {
	case StepProcessing:
		return processingKind{}
	case StepTraining:
		return trainingKind{}
	case StepCondition:
		return conditionKind{}
	case StepFail:
		return failKind{}
	case StepCallback:
		return callbackKind{}
	case StepRegisterModel:
		return registerModelKind{}
	case StepModel:
		return modelKind{}
	case StepTransform:
		return transformKind{}
	case StepDeploy:
		return deployKind{}
	case StepEndpointTest:
		return endpointTestKind{}
	case StepApproval:
		return approvalKind{}
	}
	return unsupportedKind{t: t}
}

// outcome is what starting or checking an attempt found.
type outcome struct {
	// status is StepExecuting (still running), StepSucceeded, StepFailed or StepStopped.
	status string
	// resource is the ARN of what the attempt created.
	resource string
	// metadata is the step's Metadata (nil leaves it as it was).
	metadata map[string]any
	// properties are what Steps.<name>.<path> resolves against, for a success.
	properties any
	// files are the step's parsed property files, for a successful Processing step.
	files *propertyFiles
	// reason is the FailureReason of a failure.
	reason string
	// exception is the RetryPolicy exception type of a failure, "" when no policy applies.
	exception string
	// token is a Callback step's CallbackToken.
	token string
	// event holds extra members for the step's status-change event.
	event map[string]any
}

func running(resource string, metadata map[string]any) outcome {
	return outcome{status: StepExecuting, resource: resource, metadata: metadata}
}

func succeeded(properties any, metadata map[string]any) outcome {
	return outcome{status: StepSucceeded, properties: properties, metadata: metadata}
}

func failed(format string, args ...any) outcome {
	return outcome{status: StepFailed, reason: fmt.Sprintf(format, args...)}
}

// faulted is a failure that a Step.SERVICE_FAULT retry policy covers: the service call that
// starts the step failed, not the step's own work.
func faulted(format string, args ...any) outcome {
	o := failed(format, args...)
	o.exception = RetryStepServiceFault
	return o
}

// propertyFiles are a Processing step's property files, read when it succeeds: the parsed
// documents by name, and for each file that could not be read, why.
type propertyFiles struct {
	Values map[string]any    `json:"Values,omitempty"`
	Errors map[string]string `json:"Errors,omitempty"`
}

// attempt is one attempt of one step.
type attempt struct {
	d    *driver
	step *Step
	row  *store.PipelineStep
	kind stepKind

	args     any
	argsErr  error
	resolved bool
}

func (d *driver) attempt(name string) *attempt {
	s, _ := d.def.Step(name)
	return &attempt{d: d, step: s, row: d.rows[name], kind: kindFor(s.Type)}
}

// name is the name of what the attempt creates (a job or a model): SageMaker's
// pipelines-<execution id>-<step>-<suffix>, within the 63 characters a name may have. The
// suffix is derived from the execution, the step and the attempt, so that the same attempt
// always gets the same name and a restart finds what it created.
func (a *attempt) name() string {
	return resourceName(a.d.exec.ExecID, a.step.Name, a.row.Attempt)
}

func resourceName(execID, step string, attempt int) string {
	var b strings.Builder
	for _, c := range strings.ToLower(step) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '-' || c == '_':
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 29 {
		s = s[:29]
	}
	s = strings.Trim(s, "-")
	sum := sha256.Sum256([]byte(execID + "/" + step + "/" + strconv.Itoa(attempt)))
	suffix := new(big.Int).SetBytes(sum[:8]).Text(36)
	suffix = strings.Repeat("0", max(0, 10-len(suffix))) + suffix
	if s == "" {
		return "pipelines-" + execID + "-" + suffix[:10]
	}
	return "pipelines-" + execID + "-" + s + "-" + suffix[:10]
}

// env is what the attempt's expressions are evaluated against.
func (a *attempt) env(ctx context.Context) Env {
	d := a.d
	x := map[string]any{
		"StartDateTime":        formatExecutionTime(d.exec.CreatedAt),
		"CurrentDateTime":      formatExecutionTime(d.e.now()),
		"PipelineName":         d.exec.PipelineName,
		"PipelineArn":          d.exec.PipelineARN,
		"PipelineExecutionId":  d.exec.ExecID,
		"PipelineExecutionArn": d.exec.ARN,
	}
	switch a.step.Type {
	case StepProcessing:
		x["ProcessingJobName"] = a.name()
	case StepTraining:
		x["TrainingJobName"] = a.name()
	}
	return Env{
		Parameters:     d.params,
		Execution:      x,
		Experiment:     d.experiment,
		StepProperties: d.properties,
		PropertyFile:   d.propertyFile,
		ReadJSON:       func(uri string) (any, error) { return d.readJSON(ctx, uri) },
	}
}

// formatExecutionTime is how Execution.StartDateTime and CurrentDateTime read: ISO 8601 in
// UTC with milliseconds.
func formatExecutionTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// arguments resolves the step's Arguments once per attempt.
func (a *attempt) arguments(ctx context.Context) (any, error) {
	if !a.resolved {
		a.args, a.argsErr = a.step.ResolveArguments(a.env(ctx))
		a.resolved = true
	}
	return a.args, a.argsErr
}

// argumentMap resolves the Arguments and requires an object.
func (a *attempt) argumentMap(ctx context.Context) (map[string]any, error) {
	v, err := a.arguments(ctx)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("step %q: Arguments: want an object, got %s", a.step.Name, describeKind(v))
	}
	return m, nil
}

// outputPrefix is the step's folder in the default bucket:
// s3://<default bucket>/<pipeline>/<execution id>/<step>.
func (a *attempt) outputPrefix() string {
	return fmt.Sprintf("s3://%s/%s/%s/%s", a.d.e.cfg.DefaultBucket, a.d.exec.PipelineName, a.d.exec.ExecID, a.step.Name)
}

// properties returns a finished step's properties.
func (d *driver) properties(step string) (any, error) {
	if v, ok := d.props[step]; ok {
		return v, nil
	}
	r := d.rows[step]
	if r == nil || r.Status != StepSucceeded {
		status := "not started"
		if r != nil {
			status = r.Status
		}
		return nil, fmt.Errorf("step %q has not succeeded (it is %s)", step, status)
	}
	v, err := decodeJSON(r.Properties)
	if err != nil {
		return nil, fmt.Errorf("step %q: stored properties: %w", step, err)
	}
	d.props[step] = v
	return v, nil
}

// propertyFile returns a property file of a finished Processing step.
func (d *driver) propertyFile(step, file string) (any, error) {
	pf, ok := d.files[step]
	if !ok {
		r := d.rows[step]
		if r == nil || r.Status != StepSucceeded {
			return nil, fmt.Errorf("step %q has not succeeded", step)
		}
		if len(r.PropertyFiles) > 0 {
			v, err := decodeJSON(r.PropertyFiles)
			if err != nil {
				return nil, fmt.Errorf("step %q: stored property files: %w", step, err)
			}
			// decodeJSON keeps numbers as json.Number, which conditions compare by value.
			if m, ok := v.(map[string]any); ok {
				if vals, ok := m["Values"].(map[string]any); ok {
					pf.Values = vals
				}
				if errs, ok := m["Errors"].(map[string]any); ok {
					pf.Errors = map[string]string{}
					for k, e := range errs {
						pf.Errors[k], _ = e.(string)
					}
				}
			}
		}
		d.files[step] = pf
	}
	if v, ok := pf.Values[file]; ok {
		return v, nil
	}
	if why, ok := pf.Errors[file]; ok {
		return nil, fmt.Errorf("property file %q of step %q could not be read: %s", file, step, why)
	}
	return nil, fmt.Errorf("step %q has no property file %q", step, file)
}

// maxJSONDocument bounds a property file or a JSON object read by Std:JsonGet.
const maxJSONDocument = 4 << 20

// readJSON reads and parses a JSON object from the artifact store.
func (d *driver) readJSON(ctx context.Context, uri string) (any, error) {
	return readJSONObject(ctx, d.e.cfg.Blob, uri)
}

func readJSONObject(ctx context.Context, bs blob.Store, uri string) (any, error) {
	if bs == nil {
		return nil, errors.New("this server has no artifact store")
	}
	u, err := blob.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	rc, err := bs.Get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSONDocument+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	if len(b) > maxJSONDocument {
		return nil, fmt.Errorf("%s is larger than %d bytes", uri, maxJSONDocument)
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s is not JSON: %w", uri, err)
	}
	return v, nil
}

// decodeInto converts a resolved arguments value into a request struct.
func decodeInto(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("Arguments.%s: want a JSON %s, got %s", te.Field, te.Type.Kind(), te.Value)
		}
		return err
	}
	return nil
}

// toJSONMap converts a typed value into a JSON object.
func toJSONMap(v any) map[string]any {
	jv, err := ToJSONValue(v)
	if err != nil {
		return map[string]any{}
	}
	m, _ := jv.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// epoch is a timestamp as the JSON 1.1 wire writes it: seconds, as a number.
func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return json.Number(strconv.FormatFloat(float64(t.UnixMicro())/1e6, 'f', -1, 64))
}

// unsupportedKind stands for a step type the engine does not run; validation refuses such
// definitions, so it only runs for a stored definition from an older or newer server.
type unsupportedKind struct{ t StepType }

func (unsupportedKind) launchesJob() bool { return false }
func (k unsupportedKind) start(context.Context, *attempt) outcome {
	return failed("Step type %q is not supported by this server.", k.t)
}
func (unsupportedKind) check(context.Context, *attempt) outcome {
	return outcome{status: StepExecuting}
}
func (unsupportedKind) stop(context.Context, *attempt) error { return nil }
