// Package serving is Sluice's data plane: model servers and the router in front of them.
//
// A model server ([ModelServer]) answers invocations for one model. [Host.StartModel] starts
// one from a [ModelSpec], choosing how:
//
//   - native: XGBoost models (the built-in and SageMaker XGBoost images) are served in-process
//     by the zero-allocation predictor of package xgboost, accepting text/csv, libsvm and JSON
//     like SageMaker's XGBoost container;
//   - framework: SageMaker's scikit-learn image runs the user's inference.py (model_fn,
//     input_fn, predict_fn, output_fn) under a small Python server that implements the
//     inference toolkit's contract on the host's interpreter;
//   - container: any other image runs its serving command through the process runtime, on a
//     free loopback port, with the model at /opt/ml/model, and is called over SageMaker's
//     serving contract (GET /ping, POST /invocations).
//
// A started model has a number of replicas (an endpoint variant's instance count); together
// they are a fleet. Container replicas each get their own process and port, are load-balanced
// by least outstanding requests with bounded queues, and are health-checked and restarted.
//
// The [Router] holds one routing table per endpoint: which variants exist, their weights and
// the fleet behind each. The hosting controller builds tables and publishes them atomically;
// the hot path reads the current table with one atomic load and takes no lock. The router
// records per-variant metrics and hands sampled traffic to data capture.
//
// Model servers do not depend on endpoints: batch transform starts one with StartModel and
// calls Invoke.
package serving

import (
	"context"
	"errors"
	"time"
)

// Request is one invocation as a model server receives it.
type Request struct {
	// Body is the payload. Model servers do not keep it after Invoke returns.
	Body []byte
	// ContentType and Accept are the caller's, passed to the model.
	ContentType string
	Accept      string
	// CustomAttributes is X-Amzn-SageMaker-Custom-Attributes, passed through.
	CustomAttributes string
	// InferenceID is X-Amzn-SageMaker-Inference-Id, recorded by data capture.
	InferenceID string
	// TargetVariant, when set, overrides weighted routing (router only).
	TargetVariant string
}

// Response is a model server's answer. A model that answers with an error status (4xx, 5xx)
// is a Response too, not an error: the caller reports it as SageMaker's ModelError.
type Response struct {
	// Status is the model's HTTP status.
	Status int
	// Body is appended to; callers pass a reused buffer (Body[:0]) to avoid allocation.
	Body []byte
	// ContentType is the model's Content-Type.
	ContentType string
	// CustomAttributes is the model's X-Amzn-SageMaker-Custom-Attributes.
	CustomAttributes string
}

// Reset empties r, keeping the capacity of its body.
func (r *Response) Reset() {
	*r = Response{Body: r.Body[:0]}
}

// OK reports whether the model answered with a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// ModelServer is a running model: one or more replicas behind one Invoke.
type ModelServer interface {
	// Invoke sends req to a healthy replica and fills resp. It returns an error only when the
	// model could not be asked or did not answer (see the Err… values); a model's own error
	// status is in resp.Status.
	Invoke(ctx context.Context, req *Request, resp *Response) error
	// Scale changes the number of replicas, waiting until new ones are healthy.
	Scale(ctx context.Context, replicas int) error
	// Status reports the replicas and how many are healthy.
	Status() Status
	// Close stops taking requests, lets in-flight ones finish while ctx allows, and stops
	// every replica.
	Close(ctx context.Context) error
}

// Status is a model server's replica count.
type Status struct {
	// Kind is "native", "framework", "container" or "pipeline".
	Kind     string
	Replicas int
	Healthy  int
}

// Errors Invoke returns, wrapped with details; callers branch with errors.Is.
var (
	// ErrUnavailable means no replica is healthy (starting, restarting or closed).
	ErrUnavailable = errors.New("no healthy model server")
	// ErrOverloaded means every replica is busy and the queue is full or the wait timed out.
	ErrOverloaded = errors.New("model server overloaded")
	// ErrModelTimeout means the model did not answer within the invocation timeout.
	ErrModelTimeout = errors.New("model invocation timed out")
	// ErrResponseTooLarge means the model's answer exceeded MaxPayload.
	ErrResponseTooLarge = errors.New("model response too large")
	// ErrNoVariant means the target variant is not part of the endpoint.
	ErrNoVariant = errors.New("no such variant")
	// ErrNoEndpoint means the router has no table for the endpoint.
	ErrNoEndpoint = errors.New("endpoint not served here")
)

// Limits of SageMaker's real-time inference contract.
const (
	// MaxPayload is the largest request or response body: 6 MiB.
	MaxPayload = 6 << 20
	// DefaultInvocationTimeout is how long a model has to answer.
	DefaultInvocationTimeout = 60 * time.Second
	// DefaultStartupTimeout is how long a container has to pass its first /ping.
	DefaultStartupTimeout = 4 * time.Minute
	// PingTimeout bounds one /ping.
	PingTimeout = 2 * time.Second
)

// ModelSpec says what to serve and how many replicas to run.
type ModelSpec struct {
	// Name identifies the model in logs and errors (the SageMaker model name).
	Name string
	// Containers run in order: one for a single model, several for a serial inference
	// pipeline in which each container's output is the next one's input.
	Containers []ContainerSpec
	// Replicas is the number of replicas (InitialInstanceCount); at least 1.
	Replicas int
	// StartupTimeout bounds the wait for a container's first successful /ping; default
	// DefaultStartupTimeout (ContainerStartupHealthCheckTimeoutInSeconds).
	StartupTimeout time.Duration
	// InvocationTimeout bounds one invocation; default DefaultInvocationTimeout.
	InvocationTimeout time.Duration
	// Concurrency bounds the requests in flight per container replica; default 64.
	Concurrency int
	// Env holds extra "KEY=value" entries for every container (batch transform's
	// SAGEMAKER_BATCH and friends).
	Env []string
	// NetworkIsolation runs every container process in an empty network namespace
	// (the model's EnableNetworkIsolation): it answers the router, which dials into
	// that namespace, and can reach nothing itself. A host that cannot provide this
	// refuses to start the model.
	NetworkIsolation bool
}

// ContainerSpec is one container of a model (SageMaker's ContainerDefinition, resolved).
type ContainerSpec struct {
	// Hostname is ContainerHostname, used in logs and pipeline errors.
	Hostname string
	// Image is the ImageUri.
	Image string
	// ModelDataURL is the s3:// URI of the model artifacts: a tar.gz object (extracted into
	// /opt/ml/model), or, when ModelDataUncompressed, an object copied into /opt/ml/model or a
	// prefix (ending in "/") whose objects are. Empty for a container without artifacts.
	ModelDataURL          string
	ModelDataUncompressed bool
	// Environment is the container's Environment.
	Environment map[string]string
}
