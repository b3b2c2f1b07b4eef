// Package sagemaker serves SageMaker's control-plane operations over the JSON 1.1 protocol. Each
// resource family has a file of request and response types and handlers that validate the wire
// shape and call the domain packages; business rules live in those packages, not here.
package sagemaker

import (
	"log/slog"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/transform"
)

// API holds what the handlers need. The server builds it once.
type API struct {
	Store *store.Store
	ARNs  awsapi.ARNs
	Log   *slog.Logger
	// Registry is the model registry behind the ModelPackage operations.
	Registry *registry.Service
	// Jobs runs processing and training jobs.
	Jobs *jobs.Runner
	// Hosting holds models, endpoint configs and endpoints.
	Hosting *hosting.Service
	// Pipelines stores pipelines and runs their executions.
	Pipelines *pipeline.Engine
	// Transforms runs batch transform jobs.
	Transforms *transform.Service
}

// Register adds every operation this server supports to mux.
func (a *API) Register(mux *awsapi.Mux) {
	a.registerTags(mux)
	a.registerRegistry(mux)
	a.registerJobs(mux)
	a.registerHosting(mux)
	a.registerPipelines(mux)
	a.registerTransform(mux)
}
