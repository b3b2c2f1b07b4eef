package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// Sluice's delivery steps take a deploy pipeline from a registered model to production:
//
//	Sluice:Deploy        resolve a model package (explicit, or the latest Approved of a group),
//	                     create or update an environment's endpoint with the environment's
//	                     configuration and deployment policy, and wait for the outcome
//	Sluice:EndpointTest  invoke an environment's endpoint with sample payloads and assert on
//	                     status, latency and content, or run a processing job against it
//	Sluice:Approval      wait until a person approves or rejects
//
// The environments themselves (local or on another Sluice server), and the record of every
// deployment as a release, belong to the promotion package, which implements Delivery.

// Delivery is what the delivery steps need from environments; *promotion.Service implements it.
type Delivery interface {
	// Deploy starts a deployment, or finds the one started with the same Key, and reports its
	// progress. It must be idempotent: a restarted step calls it again.
	Deploy(ctx context.Context, req DeployRequest) (DeployProgress, error)
	// DeployStatus reports the progress of the deployment started with key.
	DeployStatus(ctx context.Context, key string) (DeployProgress, error)
	// Invoke sends one request to an environment's endpoint ("" is the environment's own).
	Invoke(ctx context.Context, environment, endpoint string, req Invocation) (InvocationResult, error)
}

// DeployRequest is a Sluice:Deploy step's request.
type DeployRequest struct {
	// Key identifies the deployment (the execution, step and attempt) and makes Deploy idempotent.
	Key         string
	Environment string
	// ModelPackage is a package ARN or GROUP/VERSION; empty deploys the latest Approved version
	// of ModelPackageGroup.
	ModelPackage      string
	ModelPackageGroup string
	// EndpointName overrides the environment's endpoint name.
	EndpointName string
	ExecutionARN string
	StepName     string
	// The approval that let this deployment through, if the execution passed a gate.
	ApprovedBy      string
	ApprovedAt      time.Time
	ApprovalComment string
}

// Deployment outcomes (DeployProgress.Status).
const (
	DeployInProgress = "InProgress"
	DeploySucceeded  = "Succeeded"
	DeployFailed     = "Failed"
	// DeployRolledBack is a deployment the endpoint rolled back (an alarm fired while baking).
	DeployRolledBack = "RolledBack"
)

// DeployProgress is where a deployment stands.
type DeployProgress struct {
	Status string
	// EndpointARN is what the step waits on.
	EndpointARN string
	// Properties are the step's properties once it succeeds (Steps.<name>.<member>).
	Properties map[string]any
	// Reason explains a failure or a rollback; Evidence is what the deployment observed.
	Reason   string
	Evidence any
}

// deployKind runs Sluice:Deploy steps. The step waits on the endpoint: a local one's status
// changes wake it, and it polls otherwise (an endpoint on a remote server).
type deployKind struct{}

func (deployKind) launchesJob() bool { return true }

// deployKey is the deployment's idempotency key: the same attempt always gets the same one.
func (a *attempt) deployKey() string {
	sum := sha256.Sum256([]byte(a.d.exec.ARN + "/" + a.step.Name + "/" + strconv.Itoa(a.row.Attempt)))
	return "rel-" + hex.EncodeToString(sum[:12])
}

func (deployKind) start(ctx context.Context, a *attempt) outcome {
	dl := a.d.e.cfg.Delivery
	if dl == nil {
		return failed("%s steps need environments, and this server runs without them.", StepDeploy)
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	req := DeployRequest{Key: a.deployKey(), ExecutionARN: a.d.exec.ARN, StepName: a.step.Name}
	req.Environment, _ = args["Environment"].(string)
	req.ModelPackage, _ = args["ModelPackageArn"].(string)
	req.ModelPackageGroup, _ = args["ModelPackageGroupName"].(string)
	req.EndpointName, _ = args["EndpointName"].(string)
	if req.Environment == "" {
		return failed("step %q: Arguments.Environment: required (the environment to deploy to)", a.step.Name)
	}
	if req.ModelPackage == "" && req.ModelPackageGroup == "" {
		return failed("step %q: Arguments: set ModelPackageArn, or ModelPackageGroupName to deploy its latest Approved version", a.step.Name)
	}
	a.approval(&req)
	p, err := dl.Deploy(ctx, req)
	if err != nil {
		return deliveryFailure(err)
	}
	return a.deployOutcome(req.Key, p)
}

// approval finds the latest decided approval gate of the execution, which the release records.
func (a *attempt) approval(req *DeployRequest) {
	var best *store.PipelineStep
	for _, r := range a.d.rows {
		if StepType(r.Type) == StepApproval && r.Status == StepSucceeded && (best == nil || r.EndedAt.After(best.EndedAt)) {
			best = r
		}
	}
	if best == nil {
		return
	}
	var md struct{ Approval approvalMetadata }
	if json.Unmarshal(best.Metadata, &md) == nil {
		req.ApprovedBy, req.ApprovalComment, req.ApprovedAt = md.Approval.DecidedBy, md.Approval.Comment, md.Approval.DecidedAt
	}
}

func (a *attempt) deployOutcome(key string, p DeployProgress) outcome {
	md := map[string]any{"Deploy": map[string]any{"ReleaseKey": key, "EndpointArn": p.EndpointARN, "Status": p.Status}}
	switch p.Status {
	case DeploySucceeded:
		o := succeeded(p.Properties, md)
		o.resource = p.EndpointARN
		return o
	case DeployFailed, DeployRolledBack:
		if p.Evidence != nil {
			md["Deploy"].(map[string]any)["Evidence"] = p.Evidence
		}
		o := failed("%s", p.Reason)
		o.metadata = md
		return o
	}
	res := p.EndpointARN
	if res == "" {
		res = key // nothing to watch yet; polling finds the endpoint
	} else {
		a.d.e.watch(res, a.d)
	}
	return running(res, md)
}

// deliveryFailure turns a Delivery error into a failure; a request it refuses is the step's
// own failure, anything else a service fault that Step.SERVICE_FAULT retries.
func deliveryFailure(err error) outcome {
	var de *DeliveryError
	if ok := errors.As(err, &de); ok {
		return failed("%s", de.Message)
	}
	return faulted("Deployment failed: %v", err)
}

// DeliveryError is a Delivery refusal with a message a person can act on (an unknown
// environment, a group with no Approved version).
type DeliveryError struct{ Message string }

func (e *DeliveryError) Error() string { return e.Message }

func (deployKind) check(ctx context.Context, a *attempt) outcome {
	dl := a.d.e.cfg.Delivery
	if dl == nil {
		return failed("%s steps need environments, and this server runs without them.", StepDeploy)
	}
	var md struct{ Deploy struct{ ReleaseKey string } }
	json.Unmarshal(a.row.Metadata, &md)
	key := md.Deploy.ReleaseKey
	if key == "" {
		key = a.deployKey()
	}
	p, err := dl.DeployStatus(ctx, key)
	if err != nil {
		// A transient failure to look: try again at the next poll.
		a.d.log.Warn("pipeline: checking a deployment", "step", a.step.Name, "error", err)
		return outcome{status: StepExecuting}
	}
	out := a.deployOutcome(key, p)
	if out.status == StepExecuting {
		return outcome{status: StepExecuting}
	}
	return out
}

// stop leaves the deployment to finish or roll back on its own: an endpoint update cannot be
// abandoned halfway, and the step ends with its outcome.
func (deployKind) stop(context.Context, *attempt) error { return nil }

// pollAfter re-checks a deployment every two seconds, for endpoints whose status changes no
// local event announces.
func (deployKind) pollAfter(*store.PipelineStep, time.Time) time.Duration { return 2 * time.Second }

// ---- argument validation and properties of the delivery steps

// deliveryArgs lists each delivery step's arguments: their JSON kind ("string", "number",
// "list", "object", "bool") and whether they are required.
var deliveryArgs = map[StepType]map[string]argSpec{
	StepDeploy: {
		"Environment": {kind: "string", required: true}, "ModelPackageArn": {kind: "string"},
		"ModelPackageGroupName": {kind: "string"}, "EndpointName": {kind: "string"},
	},
	StepEndpointTest: {
		"Environment": {kind: "string", required: true}, "EndpointName": {kind: "string"},
		"ContentType": {kind: "string"}, "Accept": {kind: "string"}, "Payloads": {kind: "list"},
		"PayloadsS3Uri": {kind: "string"}, "ExpectStatus": {kind: "number"}, "ExpectBodyMatches": {kind: "string"},
		"ExpectBodyContains": {kind: "string"}, "MaxLatencyMillis": {kind: "number"},
		"ProcessingJob": {kind: "object"}, "Credentials": {kind: "object"},
	},
	StepApproval: {
		"Message": {kind: "string"}, "TimeoutInSeconds": {kind: "number"},
	},
}

type argSpec struct {
	kind     string
	required bool
}

func (v *validator) deliveryArguments(s *Step) {
	specs := deliveryArgs[s.Type]
	m, ok := s.Arguments.(map[string]any)
	if !ok {
		if s.Arguments != nil {
			v.add(s.Name, "Arguments", "want an object, got %s", describeKind(s.Arguments))
			return
		}
		m = map[string]any{}
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, present := m[n]; specs[n].required && !present {
			v.add(s.Name, "Arguments."+n, "required")
		}
	}
	for k, val := range m {
		sp, known := specs[k]
		if !known {
			v.add(s.Name, "Arguments."+k, "unknown argument of a %s step (known: %s)", s.Type, listOrNone(names))
			continue
		}
		if _, isExpr, _ := ParseExpr(val); isExpr {
			continue
		}
		if got := jsonKind(val); got != sp.kind {
			v.add(s.Name, "Arguments."+k, "want a %s or an expression, got %s", sp.kind, describeKind(val))
		}
	}
	if s.Type == StepDeploy {
		_, arn := m["ModelPackageArn"]
		_, group := m["ModelPackageGroupName"]
		if !arn && !group {
			v.add(s.Name, "Arguments", "set ModelPackageArn, or ModelPackageGroupName to deploy the group's latest Approved version")
		}
	}
	if s.Type == StepEndpointTest {
		_, inline := m["Payloads"]
		_, s3 := m["PayloadsS3Uri"]
		_, job := m["ProcessingJob"]
		switch {
		case job && (inline || s3):
			v.add(s.Name, "Arguments.ProcessingJob", "set either ProcessingJob (a job that tests the endpoint) or Payloads/PayloadsS3Uri, not both")
		case !inline && !s3 && !job:
			v.add(s.Name, "Arguments", "set Payloads (inline), PayloadsS3Uri (one payload per line) or ProcessingJob (a job that tests the endpoint)")
		}
		if _, creds := m["Credentials"]; creds && !job {
			v.add(s.Name, "Arguments.Credentials", "only a step with a ProcessingJob passes credentials")
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64, int, int64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return describeKind(v)
}

// deliveryProperties are the members Steps.<name>.<member> may read on each delivery step.
var deliveryProperties = map[StepType][]string{
	StepDeploy: {"Environment", "EndpointName", "EndpointArn", "EndpointConfigName", "ModelName", "ModelPackageArn",
		"ModelPackageGroupName", "ModelPackageVersion", "ReleaseId"},
	StepEndpointTest: {"Environment", "EndpointName", "Invocations", "Passed", "Failed", "MaxLatencyMillis",
		"ProcessingJobArn", "ProcessingJobStatus"},
	StepApproval: {"Decision", "DecidedBy", "Comment", "DecidedAt"},
}

func checkDeliveryProperty(target *Step, path PropertyPath, props []string) error {
	if len(path) == 1 && path[0].Kind == ElemField && slices.Contains(props, path[0].Name) {
		return nil
	}
	return fmt.Errorf("a %s step has only the properties %s", target.Type, listOrNone(props))
}
