package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/sluice-ml/sluice/internal/jobs"
)

// EndpointAccess is what a job needs to reach an environment's endpoint.
type EndpointAccess struct {
	// EndpointName is the endpoint the environment serves (or the one the step named).
	EndpointName string
	// URL is the base URL of the server that runs the endpoint: this server for a local
	// environment, the remote's URL otherwise.
	URL string
	// Region is the region to sign requests for; empty means this server's.
	Region string
	// AccessKeyID and SecretAccessKey are the environment's own key (set for a remote
	// environment only). A step hands them to its job only when its Credentials ask for it.
	AccessKeyID     string
	SecretAccessKey string
}

// EndpointLocator is implemented by a Delivery that can tell a job where an environment's
// endpoint is; *promotion.Service implements it. An EndpointTest step with a ProcessingJob
// needs it.
type EndpointLocator interface {
	EndpointAccess(ctx context.Context, environment, endpoint string) (EndpointAccess, error)
}

// startEndpointTestJob runs the step's ProcessingJob (a CreateProcessingJob request without
// the name) against the endpoint. The job finds the endpoint in its environment:
//
//	ENDPOINT_NAME                        the endpoint to invoke
//	SLUICE_ENVIRONMENT                   the environment's name
//	SLUICE_ENDPOINT_URL,
//	AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME   the server that runs the endpoint
//	AWS_REGION, AWS_DEFAULT_REGION       the region to sign for
//	AWS_ACCESS_KEY_ID,
//	AWS_SECRET_ACCESS_KEY                only when Arguments.Credentials names a key
//
// Credentials are never passed implicitly: Credentials is either {AccessKeyId,
// SecretAccessKey} or {FromEnvironment: true}, which passes a remote environment's own key.
// Without it the job must bring its own key. Variables the ProcessingJob's Environment sets
// override these.
func (a *attempt) startEndpointTestJob(ctx context.Context, args map[string]any, env, endpoint string) outcome {
	runner := a.d.e.cfg.Jobs
	if runner == nil {
		return failed("%s steps with a ProcessingJob need the job runner, and this server runs without one.", StepEndpointTest)
	}
	loc, ok := a.d.e.cfg.Delivery.(EndpointLocator)
	if !ok {
		return failed("%s steps with a ProcessingJob need environments that can tell a job where their endpoint is.", StepEndpointTest)
	}
	pj, ok := args["ProcessingJob"].(map[string]any)
	if !ok {
		return failed("step %q: Arguments.ProcessingJob: want an object, got %s", a.step.Name, describeKind(args["ProcessingJob"]))
	}
	vars, err := endpointTestCredentials(args["Credentials"])
	if err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	acc, err := loc.EndpointAccess(ctx, env, endpoint)
	if err != nil {
		var de *DeliveryError
		if errors.As(err, &de) {
			return failed("step %q: %s", a.step.Name, de.Message)
		}
		return faulted("step %q: finding environment %q's endpoint: %v", a.step.Name, env, err)
	}
	if vars["FromEnvironment"] != "" {
		delete(vars, "FromEnvironment")
		if acc.AccessKeyID == "" || acc.SecretAccessKey == "" {
			return failed("step %q: Arguments.Credentials.FromEnvironment: environment %q has no access key of its own (only a remote environment has one)", a.step.Name, env)
		}
		vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"] = acc.AccessKeyID, acc.SecretAccessKey
	}
	region := acc.Region
	if region == "" {
		region = a.d.e.cfg.Region
	}
	vars["ENDPOINT_NAME"] = acc.EndpointName
	vars["SLUICE_ENVIRONMENT"] = env
	vars["SLUICE_ENDPOINT_URL"] = acc.URL
	vars["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = acc.URL
	vars["AWS_REGION"], vars["AWS_DEFAULT_REGION"] = region, region

	fillProcessingOutputs(pj, a)
	var spec jobs.ProcessingJobSpec
	if err := decodeInto(pj, &spec); err != nil {
		return failed("step %q: ProcessingJob: %v", a.step.Name, err)
	}
	maps.Copy(vars, spec.Environment)
	spec.Environment = vars
	spec.ProcessingJobName = a.name()
	arn := a.d.e.arn("processing-job/" + strings.ToLower(spec.ProcessingJobName))
	a.d.e.watch(arn, a.d)
	got, err := runner.CreateProcessingJob(ctx, &spec)
	if o, done := jobCreateError(err, arn); done {
		a.d.e.unwatch(arn)
		return o
	}
	if got != "" {
		arn = got
	}
	return running(arn, map[string]any{"ProcessingJob": map[string]any{"Arn": arn}})
}

// endpointTestCredentials reads Arguments.Credentials into the variables it passes (or
// FromEnvironment, resolved once the environment is known).
func endpointTestCredentials(v any) (map[string]string, error) {
	out := map[string]string{}
	if v == nil {
		return out, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Arguments.Credentials: want an object, got %s", describeKind(v))
	}
	if b, _ := m["FromEnvironment"].(bool); b || m["FromEnvironment"] == "true" {
		if len(m) > 1 {
			return nil, errors.New("Arguments.Credentials: set FromEnvironment or AccessKeyId and SecretAccessKey, not both")
		}
		out["FromEnvironment"] = "true"
		return out, nil
	}
	id, _ := m["AccessKeyId"].(string)
	secret, _ := m["SecretAccessKey"].(string)
	if id == "" || secret == "" {
		return nil, errors.New("Arguments.Credentials: want AccessKeyId and SecretAccessKey (strings), or FromEnvironment: true")
	}
	out["AWS_ACCESS_KEY_ID"], out["AWS_SECRET_ACCESS_KEY"] = id, secret
	if tok, _ := m["SessionToken"].(string); tok != "" {
		out["AWS_SESSION_TOKEN"] = tok
	}
	return out, nil
}

// checkEndpointTestJob reports how the step's processing job stands: the step passes when it
// completes and fails with its FailureReason otherwise.
func checkEndpointTestJob(ctx context.Context, a *attempt) outcome {
	runner := a.d.e.cfg.Jobs
	if runner == nil {
		return failed("%s steps with a ProcessingJob need the job runner, and this server runs without one.", StepEndpointTest)
	}
	job, err := runner.DescribeProcessingJob(ctx, a.name())
	if errors.Is(err, jobs.ErrNotFound) {
		return failed("The step's processing job %s no longer exists.", a.row.ResourceARN)
	}
	if err != nil {
		a.d.log.Warn("pipeline: describing an endpoint test's processing job", "job", a.name(), "error", err)
		return outcome{status: StepExecuting}
	}
	md := map[string]any{"ProcessingJob": map[string]any{"Arn": job.ProcessingJobArn}}
	switch job.ProcessingJobStatus {
	case jobs.StatusCompleted:
		env := job.Environment["SLUICE_ENVIRONMENT"]
		props := map[string]any{"Environment": env, "EndpointName": job.Environment["ENDPOINT_NAME"],
			"ProcessingJobArn": job.ProcessingJobArn, "ProcessingJobStatus": job.ProcessingJobStatus}
		return succeeded(props, md)
	case jobs.StatusFailed:
		o := failed("The endpoint test job failed: %s", jobFailureReason(job.FailureReason, job.ExitMessage))
		o.exception = jobException(job.FailureReason)
		o.metadata = md
		return o
	case jobs.StatusStopped:
		return outcome{status: StepStopped, reason: "The endpoint test's processing job was stopped.", metadata: md}
	}
	return outcome{status: StepExecuting}
}
