package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// Release statuses.
const (
	// ReleaseInProgress is a deployment under way.
	ReleaseInProgress = "InProgress"
	// ReleaseLive is the release an environment's endpoint runs now.
	ReleaseLive = "Live"
	// ReleaseSuperseded was live until a later release replaced it.
	ReleaseSuperseded = "Superseded"
	// ReleaseFailed never went live: the endpoint could not be created or updated.
	ReleaseFailed = "Failed"
	// ReleaseRolledBack went out and was rolled back (an alarm fired while it baked); the
	// endpoint runs the release before it.
	ReleaseRolledBack = "RolledBack"
)

var _ pipeline.Delivery = (*Service)(nil)

// Deploy starts the deployment a Sluice:Deploy step asks for, or finds the one it started
// before (by req.Key), and reports its progress.
func (s *Service) Deploy(ctx context.Context, req pipeline.DeployRequest) (pipeline.DeployProgress, error) {
	if _, err := s.cfg.Store.ReleaseByKey(ctx, req.Key); err == nil {
		return s.DeployStatus(ctx, req.Key)
	} else if !errors.Is(err, store.ErrNotFound) {
		return pipeline.DeployProgress{}, err
	}
	env, err := s.Environment(ctx, req.Environment)
	if err != nil {
		return pipeline.DeployProgress{}, deliveryError(err)
	}
	pkg, err := s.resolvePackage(ctx, req)
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	t, err := s.target(env)
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	endpoint := env.EndpointName
	if req.EndpointName != "" {
		endpoint = req.EndpointName
	}
	dc, err := env.deploymentConfig()
	if err != nil {
		return pipeline.DeployProgress{}, &pipeline.DeliveryError{Message: fmt.Sprintf("Environment %s: DeploymentConfig: %v", env.Name, err)}
	}
	now := s.now()
	rel := store.ReleaseRow{Key: req.Key, Environment: env.Name, EndpointName: endpoint,
		// Configs are immutable, so every deployment gets its own, named after its key so that a
		// retried call finds it.
		EndpointConfigName: truncate(endpoint, 46) + "-" + strings.TrimPrefix(req.Key, "rel-")[:16],
		ModelName:          modelName(pkg), ModelPackageARN: pkg.ARN, ModelPackageGroup: pkg.GroupName, ModelPackageVersion: pkg.Version,
		ExecutionARN: req.ExecutionARN, StepName: req.StepName, ApprovedBy: req.ApprovedBy, ApprovedAt: req.ApprovedAt,
		ApprovalComment: req.ApprovalComment, Status: ReleaseInProgress, StartedAt: now, UpdatedAt: now}
	err = s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.InsertRelease(ctx, &rel) })
	if errors.Is(err, store.ErrConflict) {
		return s.DeployStatus(ctx, req.Key) // a concurrent call recorded it first
	}
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	if err := s.rollOut(ctx, t, env, rel, dc, pkg); err != nil {
		var de *pipeline.DeliveryError
		if errors.As(err, &de) {
			s.finish(ctx, rel, ReleaseFailed, de.Message, nil)
		}
		// Anything else is transient: the release stays InProgress and the step's retry (or
		// its next check) finds it.
		return pipeline.DeployProgress{}, err
	}
	return s.DeployStatus(ctx, req.Key)
}

// rollOut creates the model and config, then creates or updates the endpoint.
func (s *Service) rollOut(ctx context.Context, t target, env Environment, rel store.ReleaseRow, dc json.RawMessage, pkg registry.Package) error {
	if err := t.ensureModel(ctx, rel.ModelName, pkg); err != nil {
		return deliveryError(err)
	}
	if err := t.ensureConfig(ctx, rel.EndpointConfigName, rel.ModelName, env); err != nil {
		return deliveryError(err)
	}
	ep, found, err := t.endpoint(ctx, rel.EndpointName)
	if err != nil {
		return err
	}
	switch {
	case !found:
		return deliveryError(t.createEndpoint(ctx, rel.EndpointName, rel.EndpointConfigName, dc))
	case ep.ConfigName == rel.EndpointConfigName || ep.PendingConfig == rel.EndpointConfigName:
		return nil // started already
	case ep.Status != hosting.StatusInService:
		return &pipeline.DeliveryError{Message: fmt.Sprintf("Endpoint %s in environment %s is %s; another deployment is in flight or it failed (%s). Wait for it, or delete a Failed endpoint, and retry.",
			rel.EndpointName, env.Name, ep.Status, ep.FailureReason)}
	}
	return deliveryError(t.updateEndpoint(ctx, rel.EndpointName, rel.EndpointConfigName, dc))
}

// deliveryError turns a refusal (by hosting, the registry or this package) into the message a
// step fails with; other errors pass through as service faults.
func deliveryError(err error) error {
	if err == nil {
		return nil
	}
	var de *pipeline.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	var he *hosting.Error
	if errors.As(err, &he) {
		return &pipeline.DeliveryError{Message: he.Message}
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return &pipeline.DeliveryError{Message: re.Message}
	}
	var pe *Error
	if errors.As(err, &pe) {
		return &pipeline.DeliveryError{Message: pe.Message}
	}
	return err
}

// resolvePackage finds the version to deploy: the one named, which must be Approved, or the
// group's latest Approved.
func (s *Service) resolvePackage(ctx context.Context, req pipeline.DeployRequest) (registry.Package, error) {
	reg := s.cfg.Registry
	if reg == nil {
		return registry.Package{}, &pipeline.DeliveryError{Message: "This server runs without the model registry."}
	}
	if req.ModelPackage == "" {
		p, err := reg.LatestApproved(ctx, req.ModelPackageGroup)
		return p, deliveryError(err)
	}
	p, err := reg.Package(ctx, req.ModelPackage)
	if err != nil {
		return p, deliveryError(err)
	}
	if p.ApprovalStatus != registry.Approved {
		return p, &pipeline.DeliveryError{Message: fmt.Sprintf("Model package %s is %s; only Approved versions are deployed.", p.ARN, p.ApprovalStatus)}
	}
	return p, nil
}

// DeployStatus reads the deployment's outcome from its endpoint and records it in the release.
func (s *Service) DeployStatus(ctx context.Context, key string) (pipeline.DeployProgress, error) {
	rel, err := s.cfg.Store.ReleaseByKey(ctx, key)
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	if rel.Status != ReleaseInProgress {
		return s.progress(ctx, rel, endpointState{}), nil
	}
	env, err := s.Environment(ctx, rel.Environment)
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	t, err := s.target(env)
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	ep, found, err := t.endpoint(ctx, rel.EndpointName)
	if err != nil {
		return pipeline.DeployProgress{}, err
	}
	switch {
	case !found:
		rel = s.finish(ctx, rel, ReleaseFailed, fmt.Sprintf("Endpoint %s of environment %s was deleted during the deployment.", rel.EndpointName, env.Name), nil)
	case ep.Status == hosting.StatusFailed:
		rel = s.finish(ctx, rel, ReleaseFailed, fmt.Sprintf("Endpoint %s of environment %s failed: %s", rel.EndpointName, env.Name, ep.FailureReason),
			s.evidence(ctx, t, env, rel, ep))
	case ep.Status == hosting.StatusInService && ep.ConfigName == rel.EndpointConfigName:
		rel = s.finish(ctx, rel, ReleaseLive, "", map[string]any{"Deployment": s.deploymentRecord(ctx, t, env, rel)})
	case ep.Status == hosting.StatusInService || ep.Status == hosting.StatusRollbackFailed:
		// The endpoint settled on another config: the update was rolled back.
		reason := ep.FailureReason
		if reason == "" {
			reason = "the endpoint went back to config " + ep.ConfigName
		}
		rel = s.finish(ctx, rel, ReleaseRolledBack, fmt.Sprintf("The deployment of %s to %s (environment %s) was rolled back: %s",
			versionRef(rel), rel.EndpointName, env.Name, reason), s.evidence(ctx, t, env, rel, ep))
	}
	return s.progress(ctx, rel, ep), nil
}

// evidence is what a failed or rolled-back deployment leaves behind: the endpoint's state, the
// state of every alarm that guarded it, and hosting's record of the update.
func (s *Service) evidence(ctx context.Context, t target, env Environment, rel store.ReleaseRow, ep endpointState) any {
	ev := map[string]any{"Endpoint": ep, "Deployment": s.deploymentRecord(ctx, t, env, rel)}
	if s.cfg.Alarms != nil && len(env.Alarms) > 0 {
		var alarms []map[string]any
		for _, n := range env.Alarms {
			a, ok := s.cfg.Alarms.Get(n)
			if !ok {
				alarms = append(alarms, map[string]any{"AlarmName": n, "StateValue": "MISSING"})
				continue
			}
			alarms = append(alarms, map[string]any{"AlarmName": n, "StateValue": string(a.State.Value), "StateReason": a.State.Reason,
				"StateUpdatedTimestamp": a.State.Updated})
		}
		ev["Alarms"] = alarms
	}
	return ev
}

// recentDeployments is how many of an endpoint's latest deployments are searched for a release's.
const recentDeployments = 20

// deploymentRecord finds hosting's record of the update a release started (the newest one to
// its endpoint config): strategy, traffic steps, alarm states, and what triggered a rollback.
// When it cannot be read, the evidence says so instead of failing the release's bookkeeping.
func (s *Service) deploymentRecord(ctx context.Context, t target, env Environment, rel store.ReleaseRow) any {
	unavailable := func(why string) any {
		return map[string]any{"Unavailable": true, "Reason": why}
	}
	ds, err := t.deployments(ctx, rel.EndpointName)
	if err != nil {
		s.log.Warn("promotion: reading an endpoint's deployment record", "release", rel.Key, "environment", env.Name, "error", err)
		return unavailable(err.Error())
	}
	for _, d := range ds {
		if d.NewEndpointConfigName == rel.EndpointConfigName {
			return d
		}
	}
	return unavailable(fmt.Sprintf("endpoint %s has no deployment record for config %s (an endpoint's creation leaves none)", rel.EndpointName, rel.EndpointConfigName))
}

// finish records a release's outcome; a release that goes live retires the one before it.
func (s *Service) finish(ctx context.Context, rel store.ReleaseRow, status, reason string, evidence any) store.ReleaseRow {
	now := s.now()
	var ev json.RawMessage
	if evidence != nil {
		ev, _ = json.Marshal(evidence)
	}
	err := s.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		if status == ReleaseLive {
			if err := tx.SupersedeReleases(ctx, rel.Environment, rel.EndpointName, ReleaseLive, ReleaseSuperseded, rel.ID, now); err != nil {
				return err
			}
		}
		return tx.UpdateReleaseStatus(ctx, rel.ID, status, reason, ev, now, now)
	})
	if err != nil {
		s.log.Warn("promotion: recording a release's outcome", "release", rel.Key, "status", status, "error", err)
		return rel
	}
	rel.Status, rel.FailureReason, rel.Evidence, rel.EndedAt, rel.UpdatedAt = status, reason, ev, now, now
	return rel
}

func (s *Service) progress(ctx context.Context, rel store.ReleaseRow, ep endpointState) pipeline.DeployProgress {
	p := pipeline.DeployProgress{EndpointARN: ep.ARN, Reason: rel.FailureReason}
	if len(rel.Evidence) > 0 && string(rel.Evidence) != "null" {
		var ev any
		json.Unmarshal(rel.Evidence, &ev)
		p.Evidence = ev
	}
	switch rel.Status {
	case ReleaseInProgress:
		p.Status = pipeline.DeployInProgress
	case ReleaseFailed:
		p.Status = pipeline.DeployFailed
	case ReleaseRolledBack:
		p.Status = pipeline.DeployRolledBack
	default:
		p.Status = pipeline.DeploySucceeded
		p.Properties = map[string]any{"Environment": rel.Environment, "EndpointName": rel.EndpointName, "EndpointArn": ep.ARN,
			"EndpointConfigName": rel.EndpointConfigName, "ModelName": rel.ModelName, "ModelPackageArn": rel.ModelPackageARN,
			"ModelPackageGroupName": rel.ModelPackageGroup, "ModelPackageVersion": json.Number(fmt.Sprint(rel.ModelPackageVersion)),
			"ReleaseId": json.Number(fmt.Sprint(rel.ID))}
	}
	return p
}

func versionRef(rel store.ReleaseRow) string {
	if rel.ModelPackageGroup != "" {
		return fmt.Sprintf("%s/%d", rel.ModelPackageGroup, rel.ModelPackageVersion)
	}
	return rel.ModelPackageARN
}

// Invoke sends one request to an environment's endpoint, for Sluice:EndpointTest steps.
func (s *Service) Invoke(ctx context.Context, environment, endpoint string, inv pipeline.Invocation) (pipeline.InvocationResult, error) {
	env, err := s.Environment(ctx, environment)
	if err != nil {
		return pipeline.InvocationResult{}, deliveryError(err)
	}
	if endpoint == "" {
		endpoint = env.EndpointName
	}
	t, err := s.target(env)
	if err != nil {
		return pipeline.InvocationResult{}, err
	}
	return t.invoke(ctx, endpoint, inv)
}

// EndpointAccess tells a job where an environment's endpoint is: this server for a local
// environment, the remote server (and its access key, which the step passes only when asked)
// otherwise. It implements pipeline.EndpointLocator.
func (s *Service) EndpointAccess(ctx context.Context, environment, endpoint string) (pipeline.EndpointAccess, error) {
	env, err := s.Environment(ctx, environment)
	if err != nil {
		return pipeline.EndpointAccess{}, deliveryError(err)
	}
	if endpoint == "" {
		endpoint = env.EndpointName
	}
	if r := env.Remote; r != nil {
		return pipeline.EndpointAccess{EndpointName: endpoint, URL: strings.TrimSuffix(r.URL, "/"), Region: r.Region,
			AccessKeyID: r.AccessKeyID, SecretAccessKey: r.SecretAccessKey}, nil
	}
	if s.cfg.URL == "" {
		return pipeline.EndpointAccess{}, &pipeline.DeliveryError{Message: "This server was started without its own URL, so a job cannot be told where environment " + environment + "'s endpoint is."}
	}
	return pipeline.EndpointAccess{EndpointName: endpoint, URL: s.cfg.URL}, nil
}
