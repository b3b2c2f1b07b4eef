package promotion

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// Release is one deployment of a model package version to an environment.
type Release struct {
	ID                    int64           `json:"ReleaseId"`
	Environment           string          `json:"Environment"`
	EndpointName          string          `json:"EndpointName"`
	EndpointConfigName    string          `json:"EndpointConfigName"`
	ModelName             string          `json:"ModelName"`
	ModelPackageArn       string          `json:"ModelPackageArn"`
	ModelPackageGroupName string          `json:"ModelPackageGroupName,omitempty"`
	ModelPackageVersion   int             `json:"ModelPackageVersion,omitempty"`
	PipelineExecutionArn  string          `json:"PipelineExecutionArn"`
	StepName              string          `json:"StepName"`
	ApprovedBy            string          `json:"ApprovedBy,omitempty"`
	ApprovedAt            *time.Time      `json:"ApprovedAt,omitempty"`
	ApprovalComment       string          `json:"ApprovalComment,omitempty"`
	Status                string          `json:"Status"`
	FailureReason         string          `json:"FailureReason,omitempty"`
	Evidence              json.RawMessage `json:"Evidence,omitempty"`
	StartedAt             time.Time       `json:"StartedAt"`
	EndedAt               *time.Time      `json:"EndedAt,omitempty"`
}

func releaseFromRow(r store.ReleaseRow) Release {
	x := Release{ID: r.ID, Environment: r.Environment, EndpointName: r.EndpointName, EndpointConfigName: r.EndpointConfigName,
		ModelName: r.ModelName, ModelPackageArn: r.ModelPackageARN, ModelPackageGroupName: r.ModelPackageGroup,
		ModelPackageVersion: r.ModelPackageVersion, PipelineExecutionArn: r.ExecutionARN, StepName: r.StepName, ApprovedBy: r.ApprovedBy,
		ApprovalComment: r.ApprovalComment, Status: r.Status, FailureReason: r.FailureReason, StartedAt: r.StartedAt}
	if len(r.Evidence) > 0 && string(r.Evidence) != "null" {
		x.Evidence = r.Evidence
	}
	if !r.ApprovedAt.IsZero() {
		t := r.ApprovedAt
		x.ApprovedAt = &t
	}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt
		x.EndedAt = &t
	}
	return x
}

// EnvironmentReleases is one environment's row of the single pane: what is live, what is in
// progress, and the history.
type EnvironmentReleases struct {
	Environment  string    `json:"Environment"`
	Kind         string    `json:"Kind"`
	URL          string    `json:"Url,omitempty"`
	EndpointName string    `json:"EndpointName"`
	Live         *Release  `json:"Live,omitempty"`
	InProgress   []Release `json:"InProgress"`
	History      []Release `json:"History,omitempty"`
}

// ReleaseQuery selects the pane.
type ReleaseQuery struct {
	// Environment restricts it to one environment ("" for all, including environments deleted
	// since their releases).
	Environment string
	// History is how many past releases to list per environment (0: none).
	History int
}

// maxReleaseScan bounds how many releases one view reads per environment.
const maxReleaseScan = 500

// Releases returns, for each environment, what version is live, what is in progress, and
// (with q.History) the latest releases.
func (s *Service) Releases(ctx context.Context, q ReleaseQuery) ([]EnvironmentReleases, error) {
	envs, err := s.Environments(ctx)
	if err != nil {
		return nil, err
	}
	var out []EnvironmentReleases
	for _, e := range envs {
		if q.Environment != "" && e.Name != q.Environment {
			continue
		}
		er := EnvironmentReleases{Environment: e.Name, Kind: e.Kind(), EndpointName: e.EndpointName, InProgress: []Release{}}
		if e.Remote != nil {
			er.URL = e.Remote.URL
		}
		rows, err := s.cfg.Store.ListReleases(ctx, store.ReleaseQuery{Environment: e.Name, Limit: max(q.History, maxReleaseScan)})
		if err != nil {
			return nil, wrap(err, "list releases")
		}
		for i, r := range rows {
			rel := releaseFromRow(r)
			switch {
			case r.Status == ReleaseInProgress:
				er.InProgress = append(er.InProgress, rel)
			case r.Status == ReleaseLive && er.Live == nil && r.EndpointName == e.EndpointName:
				er.Live = &rel
			}
			if i < q.History {
				er.History = append(er.History, rel)
			}
		}
		out = append(out, er)
	}
	if q.Environment != "" && len(out) == 0 {
		return nil, errorf(ErrNotFound, "No environment is named %q; list them with `sluice envs list`.", q.Environment)
	}
	return out, nil
}
