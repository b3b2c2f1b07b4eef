package promotion

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// Trigger kinds.
const (
	// TriggerEvent starts the pipeline when a version of ModelPackageGroupName becomes
	// Approved, or when an Approved one is withdrawn (the latest still-Approved version is then
	// deployed), as the registry's Model Package State Change events announce.
	TriggerEvent = "event"
	// TriggerSchedule starts the pipeline on Schedule.
	TriggerSchedule = "schedule"
	// TriggerWebhook starts the pipeline on POST /api/v1/webhooks/{name} with the trigger's token.
	TriggerWebhook = "webhook"
)

// Trigger starts executions of a deploy pipeline.
type Trigger struct {
	Name     string `json:"TriggerName"`
	Kind     string `json:"Kind"`
	Pipeline string `json:"PipelineName"`
	// ModelPackageGroupName is the group an event trigger listens to.
	ModelPackageGroupName string `json:"ModelPackageGroupName,omitempty"`
	// Schedule is a schedule trigger's rate(...) or cron(...) expression.
	Schedule string `json:"Schedule,omitempty"`
	// Parameters are passed to every execution. An event trigger also sets the pipeline's
	// ModelPackageArn and ModelPackageGroupName parameters, when it declares them.
	Parameters map[string]string `json:"Parameters,omitempty"`
	// Token is a webhook's secret, returned only when the trigger is created.
	Token        string     `json:"Token,omitempty"`
	NextRun      *time.Time `json:"NextRun,omitempty"`
	CreationTime time.Time  `json:"CreationTime"`
	// Firings are the latest executions the trigger started.
	Firings []Firing `json:"Firings,omitempty"`
}

// Firing is an execution a trigger started, with the delivery that caused it.
type Firing struct {
	DeliveryKey          string    `json:"DeliveryKey"`
	PipelineExecutionArn string    `json:"PipelineExecutionArn"`
	Reason               string    `json:"Reason"`
	Time                 time.Time `json:"Time"`
}

type triggerSpec struct {
	ModelPackageGroupName string            `json:"ModelPackageGroupName,omitempty"`
	Schedule              string            `json:"Schedule,omitempty"`
	Parameters            map[string]string `json:"Parameters,omitempty"`
}

var triggerNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// CreateTrigger stores a trigger. A webhook trigger's Token is generated and returned once.
func (s *Service) CreateTrigger(ctx context.Context, t Trigger) (Trigger, error) {
	if !triggerNameRE.MatchString(t.Name) {
		return Trigger{}, errorf(ErrInvalid, "TriggerName %q: 1 to 63 letters, digits or hyphens.", t.Name)
	}
	if t.Pipeline == "" {
		return Trigger{}, errorf(ErrInvalid, "PipelineName is required: the deploy pipeline the trigger starts.")
	}
	if s.cfg.Pipelines != nil {
		if _, err := s.cfg.Pipelines.DescribePipeline(ctx, t.Pipeline); err != nil {
			return Trigger{}, errorf(ErrInvalid, "Pipeline %s: %v", t.Pipeline, err)
		}
	}
	now := s.now()
	row := store.TriggerRow{Name: t.Name, Kind: t.Kind, Pipeline: t.Pipeline, CreatedAt: now, UpdatedAt: now}
	spec := triggerSpec{Parameters: t.Parameters}
	switch t.Kind {
	case TriggerEvent:
		if t.ModelPackageGroupName == "" {
			return Trigger{}, errorf(ErrInvalid, "An event trigger needs ModelPackageGroupName: the group whose approvals start the pipeline.")
		}
		spec.ModelPackageGroupName = t.ModelPackageGroupName
		// Only what happens from now on starts executions.
		cur, err := s.cfg.Store.LatestEventID(ctx)
		if err != nil {
			return Trigger{}, wrap(err, "create trigger")
		}
		row.EventCursor = cur
	case TriggerSchedule:
		sch, err := ParseSchedule(t.Schedule)
		if err != nil {
			return Trigger{}, errorf(ErrInvalid, "%v", err)
		}
		spec.Schedule = t.Schedule
		row.NextRunAt = sch.Next(now)
	case TriggerWebhook:
		var b [24]byte
		rand.Read(b[:])
		t.Token = "swh_" + hex.EncodeToString(b[:])
		row.TokenHash = hashToken(t.Token)
	default:
		return Trigger{}, errorf(ErrInvalid, "Kind %q: want %s, %s or %s.", t.Kind, TriggerEvent, TriggerSchedule, TriggerWebhook)
	}
	row.Spec, _ = json.Marshal(spec)
	err := s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.InsertTrigger(ctx, &row) })
	if errors.Is(err, store.ErrConflict) {
		return Trigger{}, errorf(ErrExists, "A trigger named %q exists already.", t.Name)
	}
	if err != nil {
		return Trigger{}, wrap(err, "create trigger")
	}
	out := triggerFromRow(row)
	out.Token = t.Token
	return out, nil
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func triggerFromRow(r store.TriggerRow) Trigger {
	var spec triggerSpec
	json.Unmarshal(r.Spec, &spec)
	t := Trigger{Name: r.Name, Kind: r.Kind, Pipeline: r.Pipeline, ModelPackageGroupName: spec.ModelPackageGroupName,
		Schedule: spec.Schedule, Parameters: spec.Parameters, CreationTime: r.CreatedAt}
	if !r.NextRunAt.IsZero() {
		n := r.NextRunAt
		t.NextRun = &n
	}
	return t
}

// Triggers lists triggers with their latest firings.
func (s *Service) Triggers(ctx context.Context) ([]Trigger, error) {
	rows, err := s.cfg.Store.Triggers(ctx)
	if err != nil {
		return nil, wrap(err, "list triggers")
	}
	out := make([]Trigger, 0, len(rows))
	for _, r := range rows {
		t := triggerFromRow(r)
		fs, err := s.cfg.Store.TriggerFirings(ctx, r.Name, 10)
		if err != nil {
			return nil, wrap(err, "list trigger firings")
		}
		for _, f := range fs {
			t.Firings = append(t.Firings, Firing{DeliveryKey: f.DeliveryKey, PipelineExecutionArn: f.ExecutionARN, Reason: f.Reason, Time: f.FiredAt})
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteTrigger deletes a trigger; executions it started go on.
func (s *Service) DeleteTrigger(ctx context.Context, name string) error {
	err := s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteTrigger(ctx, name) })
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "No trigger is named %q.", name)
	}
	return wrap(err, "delete trigger")
}

// fire starts the trigger's pipeline for one delivery. The execution's ClientRequestToken is
// derived from the trigger and the delivery key, so a redelivered event (or a retried webhook
// call with the same delivery id) returns the execution the first delivery started.
func (s *Service) fire(ctx context.Context, row store.TriggerRow, key, reason string, extra map[string]string) (Firing, error) {
	if s.cfg.Pipelines == nil {
		return Firing{}, errorf(ErrInvalid, "This server runs without pipelines.")
	}
	var spec triggerSpec
	json.Unmarshal(row.Spec, &spec)
	params := map[string]string{}
	for k, v := range spec.Parameters {
		params[k] = v
	}
	if len(extra) > 0 {
		declared, err := s.declaredParameters(ctx, row.Pipeline)
		if err != nil {
			return Firing{}, err
		}
		for k, v := range extra {
			if declared[k] {
				params[k] = v
			}
		}
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var pv []pipeline.ParameterValue
	for _, k := range names {
		pv = append(pv, pipeline.ParameterValue{Name: k, Value: params[k]})
	}
	sum := sha256.Sum256([]byte(row.Name + "\x00" + key))
	x, err := s.cfg.Pipelines.StartExecution(ctx, registry.Actor{Name: "trigger/" + row.Name}, pipeline.StartRequest{
		Pipeline: row.Pipeline, DisplayName: truncate("trigger-"+row.Name, 82), Description: truncate(reason, 3072),
		Parameters: pv, ClientToken: "trigger-" + hex.EncodeToString(sum[:16])})
	if err != nil {
		return Firing{}, err
	}
	f := store.TriggerFiring{TriggerName: row.Name, DeliveryKey: key, ExecutionARN: x.ARN, Reason: reason, FiredAt: s.now()}
	err = s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.InsertTriggerFiring(ctx, &f) })
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return Firing{}, err
	}
	return Firing{DeliveryKey: key, PipelineExecutionArn: x.ARN, Reason: reason, Time: f.FiredAt}, nil
}

func (s *Service) declaredParameters(ctx context.Context, name string) (map[string]bool, error) {
	p, err := s.cfg.Pipelines.DescribePipeline(ctx, name)
	if err != nil {
		return nil, err
	}
	def, err := pipeline.Parse([]byte(p.Definition))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, prm := range def.Parameters {
		out[prm.Name] = true
	}
	return out, nil
}

// Webhook starts a webhook trigger's pipeline when token is the trigger's. delivery, when set
// (a CI system's delivery or run id), makes the call idempotent: the same delivery starts one
// execution however often it is sent.
func (s *Service) Webhook(ctx context.Context, name, token, delivery string, params map[string]string) (Firing, error) {
	row, err := s.cfg.Store.Trigger(ctx, name)
	if err != nil || row.Kind != TriggerWebhook || subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(row.TokenHash)) != 1 {
		// One answer for an unknown trigger and a wrong token, so names cannot be probed.
		return Firing{}, errorf(ErrForbidden, "Unknown webhook trigger or wrong token; send the token `sluice triggers create` printed, as `Authorization: Bearer TOKEN`.")
	}
	if delivery == "" {
		var b [12]byte
		rand.Read(b[:])
		delivery = "call-" + hex.EncodeToString(b[:])
	}
	if len(delivery) > 256 {
		return Firing{}, errorf(ErrInvalid, "The delivery id has %d characters; at most 256.", len(delivery))
	}
	// Parameters from the call go to the pipeline's declared parameters only.
	f, err := s.fire(ctx, row, "webhook:"+delivery, "webhook call "+delivery, params)
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			return Firing{}, errorf(ErrInvalid, "%s", pe.Message)
		}
		return Firing{}, wrap(err, "webhook")
	}
	return f, nil
}

// Run fires event and schedule triggers until ctx ends. Each event trigger follows the outbox
// from its own persisted cursor, which moves past an event only once the execution it starts is
// recorded: delivery is at least once, and the derived ClientRequestToken makes it at most one
// execution per event.
func (s *Service) Run(ctx context.Context) error {
	for {
		changed := s.cfg.Store.Changed()
		if err := s.tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("promotion: triggers", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-time.After(s.cfg.Poll):
		}
	}
}

// tick handles what is due now: new events and due schedules.
func (s *Service) tick(ctx context.Context) error {
	rows, err := s.cfg.Store.Triggers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rows {
		switch r.Kind {
		case TriggerEvent:
			errs = append(errs, s.followEvents(ctx, r))
		case TriggerSchedule:
			errs = append(errs, s.runSchedule(ctx, r))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) followEvents(ctx context.Context, r store.TriggerRow) error {
	var spec triggerSpec
	json.Unmarshal(r.Spec, &spec)
	for {
		evs, err := s.cfg.Store.EventsAfter(ctx, r.EventCursor, 200)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, ev := range evs {
			if err := s.onEvent(ctx, r, spec, ev); err != nil {
				// Stop here: the cursor stays before this event, so it is delivered again.
				return fmt.Errorf("trigger %s: event %d: %w", r.Name, ev.ID, err)
			}
			r.EventCursor = ev.ID
		}
		if err := s.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
			return tx.AdvanceTrigger(ctx, r.Name, r.EventCursor, r.NextRunAt, s.now())
		}); err != nil {
			return err
		}
		if len(evs) < 200 {
			return nil
		}
	}
}

// onEvent starts the pipeline for an approval change in the trigger's group.
func (s *Service) onEvent(ctx context.Context, r store.TriggerRow, spec triggerSpec, ev store.Event) error {
	if ev.DetailType != events.ModelPackageStateChange {
		return nil
	}
	var c registry.StateChange
	if json.Unmarshal(ev.Detail, &c) != nil || c.ModelPackageGroupName != spec.ModelPackageGroupName {
		return nil
	}
	extra := map[string]string{"ModelPackageGroupName": c.ModelPackageGroupName}
	var reason string
	switch c.Effect() {
	case registry.DeployThis:
		extra["ModelPackageArn"] = c.ModelPackageArn
		reason = fmt.Sprintf("%s/%d became Approved", c.ModelPackageGroupName, c.ModelPackageVersion)
	case registry.DeployLatestApproved:
		if s.cfg.Registry == nil {
			return nil
		}
		latest, err := s.cfg.Registry.LatestApproved(ctx, c.ModelPackageGroupName)
		if errors.Is(err, registry.ErrNotFound) {
			s.log.Info("promotion: an Approved version was withdrawn and none is left to deploy", "trigger", r.Name, "package", c.ModelPackageArn)
			return nil
		}
		if err != nil {
			return err
		}
		extra["ModelPackageArn"] = latest.ARN
		reason = fmt.Sprintf("%s/%d was withdrawn (%s); redeploying %s/%d", c.ModelPackageGroupName, c.ModelPackageVersion,
			c.ModelApprovalStatus, latest.GroupName, latest.Version)
	default:
		return nil
	}
	_, err := s.fire(ctx, r, fmt.Sprintf("event:%d", ev.ID), reason, extra)
	var pe *pipeline.Error
	if errors.As(err, &pe) && !errors.Is(err, pipeline.ErrConflict) {
		// The pipeline refuses the start (deleted, parameters no longer fit): retrying the same
		// event would never succeed, so it is logged and passed.
		s.log.Warn("promotion: trigger could not start its pipeline", "trigger", r.Name, "event", ev.ID, "error", pe.Message)
		return nil
	}
	return err
}

func (s *Service) runSchedule(ctx context.Context, r store.TriggerRow) error {
	now := s.now()
	if r.NextRunAt.IsZero() || now.Before(r.NextRunAt) {
		return nil
	}
	var spec triggerSpec
	json.Unmarshal(r.Spec, &spec)
	sch, err := ParseSchedule(spec.Schedule)
	if err != nil {
		return err
	}
	due := r.NextRunAt
	if _, err := s.fire(ctx, r, "schedule:"+due.UTC().Format(time.RFC3339), "scheduled run of "+due.UTC().Format(time.RFC3339), nil); err != nil {
		var pe *pipeline.Error
		if !errors.As(err, &pe) {
			return err
		}
		s.log.Warn("promotion: schedule could not start its pipeline", "trigger", r.Name, "error", pe.Message)
	}
	// Runs missed while the server was down are not made up: the next one is after now.
	return s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.AdvanceTrigger(ctx, r.Name, r.EventCursor, sch.Next(now), now) })
}
