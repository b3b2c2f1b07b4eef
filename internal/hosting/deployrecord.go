package hosting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/store"
)

// Deployment statuses (DeploymentRecord.Status).
const (
	DeploymentInProgress = "InProgress"
	DeploymentSucceeded  = "Succeeded"
	DeploymentRolledBack = "RolledBack"
	// DeploymentFailed is an update that ended before any traffic moved: the new fleet did
	// not become healthy, its config could not be planned, or an alarm could not be watched.
	DeploymentFailed = "Failed"
	// DeploymentStopped is an update cut short by DeleteEndpoint.
	DeploymentStopped = "Stopped"
)

// Deployment phases (DeploymentRecord.Phase).
const (
	PhaseProvisioning    = "Provisioning"
	PhaseBaking          = "Baking"
	PhaseTerminationWait = "TerminationWait"
	PhaseRollingBack     = "RollingBack"
	PhaseDone            = "Done"
)

// Kinds of DeploymentEvent.
const (
	EventStarted          = "Started"
	EventResumed          = "Resumed"
	EventNewFleetHealthy  = "NewFleetHealthy"
	EventNewFleetFailed   = "NewFleetFailed"
	EventTrafficShifted   = "TrafficShifted"
	EventBaked            = "Baked"
	EventTerminationWait  = "TerminationWait"
	EventAlarmState       = "AlarmStateChange"
	EventRollbackStarted  = "RollbackStarted"
	EventNewFleetStopped  = "NewFleetStopped"
	EventOldFleetStopped  = "OldFleetStopped"
	EventDeploymentEnded  = "DeploymentEnded"
	EventNewFleetResized  = "NewFleetResized"
	EventOldFleetResized  = "OldFleetResized"
	EventEndpointDeleted  = "EndpointDeleted"
	EventTimeoutExceeded  = "TimeoutExceeded"
	EventAlarmsNotWatched = "AlarmsNotWatched"
)

// DeploymentStateChange is the detail type of the event each deployment step emits, so the
// event stream shows a deployment as it happens.
const DeploymentStateChange = "Sluice Endpoint Deployment State Change"

// DeploymentRecord is the evidence of one endpoint update: what changed, how traffic moved,
// what the alarms and the two fleets showed at every step, and how it ended. It is kept after
// the deployment and after the endpoint.
type DeploymentRecord struct {
	DeploymentId int64  `json:"DeploymentId"`
	EndpointName string `json:"EndpointName"`
	EndpointArn  string `json:"EndpointArn"`
	// Status is InProgress, Succeeded, RolledBack, Failed or Stopped; Phase is where an
	// InProgress deployment is.
	Status string `json:"Status"`
	Phase  string `json:"Phase"`

	OldEndpointConfigName string          `json:"OldEndpointConfigName"`
	NewEndpointConfigName string          `json:"NewEndpointConfigName"`
	OldVariants           []FleetVariant  `json:"OldVariants,omitempty"`
	NewVariants           []FleetVariant  `json:"NewVariants,omitempty"`
	DeploymentConfig      json.RawMessage `json:"DeploymentConfig,omitempty"`
	// Strategy is ALL_AT_ONCE, CANARY, LINEAR or ROLLING; TrafficSteps the percentage of
	// traffic on the new fleet after each step.
	Strategy                         string    `json:"Strategy"`
	TrafficSteps                     []float64 `json:"TrafficSteps"`
	WaitIntervalInSeconds            float64   `json:"WaitIntervalInSeconds"`
	TerminationWaitInSeconds         float64   `json:"TerminationWaitInSeconds"`
	MaximumExecutionTimeoutInSeconds float64   `json:"MaximumExecutionTimeoutInSeconds,omitempty"`
	Alarms                           []string  `json:"Alarms,omitempty"`
	// RollbackBatchPercent is a rolling update's RollbackMaximumBatchSize, as a percentage of
	// each old variant's instances: how much of the old fleet comes back at a time after a
	// rollback (100 when it was not set).
	RollbackBatchPercent float64 `json:"RollbackBatchPercent,omitempty"`

	// Step is the index of the current traffic step, -1 before the first.
	Step int `json:"Step"`
	// NewTrafficPercent is the share of traffic the new fleet takes now.
	NewTrafficPercent float64 `json:"NewTrafficPercent"`
	// PhaseEndsAt is when the current bake ends.
	PhaseEndsAt time.Time `json:"PhaseEndsAt,omitzero"`

	StartTime time.Time `json:"StartTime"`
	EndTime   time.Time `json:"EndTime,omitzero"`
	// FailureReason says why a deployment did not succeed.
	FailureReason string `json:"FailureReason,omitempty"`
	// Rollback is set when the deployment was rolled back.
	Rollback *RollbackEvidence `json:"Rollback,omitempty"`
	Events   []DeploymentEvent `json:"Events"`

	// Plan is the new config resolved into what runs, kept so that a restart resumes the same
	// deployment. It is stored but not shown (containers' environments may hold secrets).
	Plan *Plan `json:"Plan,omitempty"`
}

// FleetVariant describes one variant of a fleet in a record.
type FleetVariant struct {
	VariantName   string   `json:"VariantName"`
	ModelName     string   `json:"ModelName"`
	Images        []string `json:"Images"`
	InstanceCount int      `json:"InstanceCount"`
	Weight        float64  `json:"Weight"`
}

// RollbackEvidence is what triggered a rollback and how fast traffic went back.
type RollbackEvidence struct {
	// Trigger is the alarm that fired, or "timeout", "alarm deleted".
	Trigger string `json:"Trigger"`
	// AlarmFiredAt is when the alarm entered ALARM, as the alarm service recorded it.
	AlarmFiredAt time.Time `json:"AlarmFiredAt,omitzero"`
	// TrafficRestoredAt is when every request went back to the old fleet; ReactionMillis is
	// the time between the two.
	TrafficRestoredAt time.Time `json:"TrafficRestoredAt"`
	ReactionMillis    float64   `json:"ReactionMillis,omitempty"`
	// NewTrafficPercent is the share the new fleet had when the rollback began.
	NewTrafficPercent float64 `json:"NewTrafficPercent"`
}

// DeploymentEvent is one step of a deployment, with what was observed then.
type DeploymentEvent struct {
	Time              time.Time `json:"Time"`
	Type              string    `json:"Type"`
	Step              int       `json:"Step"`
	NewTrafficPercent float64   `json:"NewTrafficPercent"`
	Message           string    `json:"Message"`
	// Alarms are the states of the rollback alarms at this moment.
	Alarms []AlarmObservation `json:"Alarms,omitempty"`
	// Fleets are the old and new fleets' traffic since the previous event.
	Fleets []FleetObservation `json:"Fleets,omitempty"`
}

// AlarmObservation is an alarm's state and the latest value of its metric.
type AlarmObservation struct {
	AlarmName string `json:"AlarmName"`
	State     string `json:"State"`
	Reason    string `json:"Reason,omitempty"`
	// Metric is the alarm's statistic and metric, e.g. "Average of Invocation5XXErrorRate".
	Metric string `json:"Metric,omitempty"`
	// Value is the metric's latest datapoint in the alarm's period, when there is one.
	Value     *float64 `json:"Value,omitempty"`
	Threshold float64  `json:"Threshold"`
}

// FleetObservation is the traffic one fleet served in a window, as the router saw it.
type FleetObservation struct {
	// Fleet is "old" or "new".
	Fleet               string    `json:"Fleet"`
	Since               time.Time `json:"Since"`
	Invocations         uint64    `json:"Invocations"`
	Invocation4XXErrors uint64    `json:"Invocation4XXErrors"`
	Invocation5XXErrors uint64    `json:"Invocation5XXErrors"`
	// ModelLatency percentiles in microseconds.
	ModelLatencyP50Micros float64 `json:"ModelLatencyP50Micros"`
	ModelLatencyP99Micros float64 `json:"ModelLatencyP99Micros"`
}

func decodeRecord(row store.Deployment) (DeploymentRecord, error) {
	var r DeploymentRecord
	if err := json.Unmarshal(row.Record, &r); err != nil {
		return r, fmt.Errorf("hosting: deployment %d: stored record: %w", row.ID, err)
	}
	r.DeploymentId = row.ID
	return r, nil
}

func (r *DeploymentRecord) encode() json.RawMessage {
	b, _ := json.Marshal(r)
	return b
}

// public is the record as clients see it: without the resolved plan.
func (r DeploymentRecord) public() DeploymentRecord {
	r.Plan = nil
	return r
}

// fleetVariants describes plan variants for a record.
func fleetVariants(vs []PlanVariant) []FleetVariant {
	var out []FleetVariant
	for _, v := range vs {
		fv := FleetVariant{VariantName: v.Name, ModelName: v.Model, InstanceCount: v.Instances, Weight: v.Weight}
		for _, c := range v.Containers {
			fv.Images = append(fv.Images, c.Image)
		}
		out = append(out, fv)
	}
	return out
}

// emitDeploymentChange announces a deployment's latest event in the transaction that stored it.
func emitDeploymentChange(ctx context.Context, tx *store.Tx, r *DeploymentRecord) error {
	detail := map[string]any{"EndpointName": r.EndpointName, "EndpointArn": r.EndpointArn, "DeploymentId": r.DeploymentId,
		"Status": r.Status, "Phase": r.Phase, "Strategy": r.Strategy, "NewTrafficPercent": r.NewTrafficPercent}
	if n := len(r.Events); n > 0 {
		detail["Event"] = r.Events[n-1]
	}
	if r.FailureReason != "" {
		detail["FailureReason"] = r.FailureReason
	}
	return events.Emit(ctx, tx, DeploymentStateChange, []string{r.EndpointArn}, detail)
}

// Deployments lists an endpoint's deployments, newest first, up to limit (default 20) before
// the deployment ID before (0: from the newest). History outlives the endpoint.
func (s *Service) Deployments(ctx context.Context, endpointName string, before int64, limit int) ([]DeploymentRecord, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.Store.Deployments(ctx, s.ARNs.For(KindEndpoint, endpointName), before, limit)
	if err != nil {
		return nil, wrap(err, "list deployments")
	}
	out := []DeploymentRecord{}
	for _, row := range rows {
		r, err := decodeRecord(row)
		if err != nil {
			return nil, err
		}
		out = append(out, r.public())
	}
	return out, nil
}

// Deployment returns one deployment of an endpoint by ID.
func (s *Service) Deployment(ctx context.Context, endpointName string, id int64) (DeploymentRecord, error) {
	row, err := s.Store.Deployment(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && row.EndpointARN != s.ARNs.For(KindEndpoint, endpointName)) {
		return DeploymentRecord{}, errorf(ErrNotFound, "Endpoint %s has no deployment %d.", endpointName, id)
	}
	if err != nil {
		return DeploymentRecord{}, wrap(err, "describe deployment")
	}
	r, err := decodeRecord(row)
	return r.public(), err
}
