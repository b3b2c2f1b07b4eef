package native

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sluice-ml/sluice/internal/hosting"
)

// DeploymentsAPI serves the evidence of endpoint updates: every deployment with its configs,
// strategy, traffic steps, alarm states, fleet metrics and outcome. SageMaker keeps none of
// this beyond the endpoint's last status; Sluice keeps it after the endpoint is gone.
type DeploymentsAPI struct {
	// Endpoints is *hosting.Service.
	Endpoints interface {
		Deployments(ctx context.Context, endpointName string, before int64, limit int) ([]hosting.DeploymentRecord, error)
		Deployment(ctx context.Context, endpointName string, id int64) (hosting.DeploymentRecord, error)
		DescribeEndpoint(ctx context.Context, name string) (hosting.Endpoint, error)
	}
	Log *slog.Logger
}

// Register adds the routes to mux.
func (a *DeploymentsAPI) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/endpoints/{name}/deployments", handler(a.list, a.Log))
	mux.Handle("GET /api/v1/endpoints/{name}/deployments/{id}", handler(a.get, a.Log))
}

// DeploymentPage is the answer of GET /api/v1/endpoints/{name}/deployments: newest first;
// Next, when not zero, is the `before` of the following page.
type DeploymentPage struct {
	Deployments []hosting.DeploymentRecord `json:"Deployments"`
	Next        int64                      `json:"Next,omitempty"`
}

func (a *DeploymentsAPI) list(r *http.Request) (any, error) {
	name := r.PathValue("name")
	limit, err := intParam(r, "limit", 20, 1, 100)
	if err != nil {
		return nil, err
	}
	before, err := intParam(r, "before", 0, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	ds, err := a.Endpoints.Deployments(r.Context(), name, before, int(limit)+1)
	if err != nil {
		return nil, err
	}
	page := DeploymentPage{Deployments: ds}
	if len(ds) > int(limit) {
		page.Deployments = ds[:limit]
		page.Next = ds[limit-1].DeploymentId
	}
	if len(ds) == 0 && before == 0 {
		// No history: say whether the endpoint exists at all.
		if _, err := a.Endpoints.DescribeEndpoint(r.Context(), name); errors.Is(err, hosting.ErrNotFound) {
			return nil, NotFound("endpoint %s does not exist and has no deployment history", name)
		}
	}
	return page, nil
}

func (a *DeploymentsAPI) get(r *http.Request) (any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, BadRequest("deployment id %q: expected a positive integer", r.PathValue("id"))
	}
	d, err := a.Endpoints.Deployment(r.Context(), r.PathValue("name"), id)
	if errors.Is(err, hosting.ErrNotFound) {
		return nil, NotFound("%v", err)
	}
	return d, err
}
