package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ---- environments

// EnvironmentRow is a row of environments: a named deployment target and its configuration.
type EnvironmentRow struct {
	ID   int64
	Name string
	// Spec is the environment's configuration as a JSON document.
	Spec      json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

func scanEnvironment(r scanner) (EnvironmentRow, error) {
	var e EnvironmentRow
	var spec string
	var c, u int64
	err := r.Scan(&e.ID, &e.Name, &spec, &c, &u)
	e.Spec, e.CreatedAt, e.UpdatedAt = json.RawMessage(spec), FromNanos(c), FromNanos(u)
	return e, err
}

// PutEnvironment creates an environment, or replaces the configuration of the one of that name.
func (tx *Tx) PutEnvironment(ctx context.Context, e *EnvironmentRow) error {
	res, err := tx.ExecContext(ctx, `UPDATE environments SET spec = $1, updated_at = $2 WHERE name = $3`, string(e.Spec), Nanos(e.UpdatedAt), e.Name)
	if err != nil {
		return fmt.Errorf("store: update environment: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO environments (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		e.Name, string(e.Spec), Nanos(e.CreatedAt), Nanos(e.UpdatedAt)).Scan(&e.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: environment %q: %w", e.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert environment: %w", err)
	}
	return nil
}

// Environment reads an environment by name, or ErrNotFound.
func (s *Store) Environment(ctx context.Context, name string) (EnvironmentRow, error) {
	e, err := scanEnvironment(s.reads().QueryRowContext(ctx, `SELECT id, name, spec, created_at, updated_at FROM environments WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("store: environment %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("store: read environment: %w", err)
	}
	return e, nil
}

// Environments lists every environment by name.
func (s *Store) Environments(ctx context.Context) ([]EnvironmentRow, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT id, name, spec, created_at, updated_at FROM environments ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list environments: %w", err)
	}
	out, err := collect(rows, scanEnvironment)
	if err != nil {
		return nil, fmt.Errorf("store: list environments: %w", err)
	}
	return out, nil
}

// DeleteEnvironment deletes an environment; its releases stay as history.
func (tx *Tx) DeleteEnvironment(ctx context.Context, name string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM environments WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store: delete environment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: environment %q: %w", name, ErrNotFound)
	}
	return nil
}

// ---- releases

// ReleaseRow is a row of releases: one deployment of a model package version to an environment.
type ReleaseRow struct {
	ID                  int64
	Key                 string
	Environment         string
	EndpointName        string
	EndpointConfigName  string
	ModelName           string
	ModelPackageARN     string
	ModelPackageGroup   string
	ModelPackageVersion int
	ExecutionARN        string
	StepName            string
	ApprovedBy          string
	ApprovedAt          time.Time
	ApprovalComment     string
	Status              string
	FailureReason       string
	// Evidence is a JSON document: what the deployment observed when it rolled back or failed.
	Evidence  json.RawMessage
	StartedAt time.Time
	EndedAt   time.Time
	UpdatedAt time.Time
}

const releaseColumns = `id, release_key, environment, endpoint_name, endpoint_config_name, model_name, model_package_arn,
	model_package_group, model_package_version, execution_arn, step_name, approved_by, approved_at, approval_comment, status,
	failure_reason, evidence, started_at, ended_at, updated_at`

func scanRelease(r scanner) (ReleaseRow, error) {
	var x ReleaseRow
	var version, approved, started, ended, updated int64
	var evidence string
	err := r.Scan(&x.ID, &x.Key, &x.Environment, &x.EndpointName, &x.EndpointConfigName, &x.ModelName, &x.ModelPackageARN,
		&x.ModelPackageGroup, &version, &x.ExecutionARN, &x.StepName, &x.ApprovedBy, &approved, &x.ApprovalComment, &x.Status,
		&x.FailureReason, &evidence, &started, &ended, &updated)
	x.ModelPackageVersion = int(version)
	x.Evidence = json.RawMessage(evidence)
	x.ApprovedAt, x.StartedAt, x.EndedAt, x.UpdatedAt = FromNanos(approved), FromNanos(started), FromNanos(ended), FromNanos(updated)
	return x, err
}

// InsertRelease records a release and sets its ID; a release with the same key already
// recorded is ErrConflict.
func (tx *Tx) InsertRelease(ctx context.Context, x *ReleaseRow) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO releases (release_key, environment, endpoint_name, endpoint_config_name, model_name,
		model_package_arn, model_package_group, model_package_version, execution_arn, step_name, approved_by, approved_at,
		approval_comment, status, failure_reason, evidence, started_at, ended_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id`,
		x.Key, x.Environment, x.EndpointName, x.EndpointConfigName, x.ModelName, x.ModelPackageARN, x.ModelPackageGroup,
		x.ModelPackageVersion, x.ExecutionARN, x.StepName, x.ApprovedBy, Nanos(x.ApprovedAt), x.ApprovalComment, x.Status,
		x.FailureReason, plJSON(x.Evidence, "null"), Nanos(x.StartedAt), Nanos(x.EndedAt), Nanos(x.UpdatedAt)).Scan(&x.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: release %q: %w", x.Key, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert release: %w", err)
	}
	return nil
}

// UpdateReleaseStatus sets a release's outcome.
func (tx *Tx) UpdateReleaseStatus(ctx context.Context, id int64, status, reason string, evidence json.RawMessage, ended, updated time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE releases SET status = $1, failure_reason = $2, evidence = $3, ended_at = $4, updated_at = $5 WHERE id = $6`,
		status, reason, plJSON(evidence, "null"), Nanos(ended), Nanos(updated), id)
	if err != nil {
		return fmt.Errorf("store: update release: %w", err)
	}
	return nil
}

// SupersedeReleases moves the releases of an endpoint in status from to status to, except the
// release keep; it is how a release that goes live retires the one before it.
func (tx *Tx) SupersedeReleases(ctx context.Context, environment, endpoint, from, to string, keep int64, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE releases SET status = $1, updated_at = $2 WHERE environment = $3 AND endpoint_name = $4 AND status = $5 AND id <> $6`,
		to, Nanos(at), environment, endpoint, from, keep)
	if err != nil {
		return fmt.Errorf("store: supersede releases: %w", err)
	}
	return nil
}

// ReleaseByKey reads a release by its key, or ErrNotFound.
func (s *Store) ReleaseByKey(ctx context.Context, key string) (ReleaseRow, error) {
	x, err := scanRelease(s.reads().QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases WHERE release_key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return x, fmt.Errorf("store: release %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return x, fmt.Errorf("store: read release: %w", err)
	}
	return x, nil
}

// ReleaseQuery selects releases, newest first.
type ReleaseQuery struct {
	// Environment restricts the list to one environment ("" lists all).
	Environment string
	// BeforeID resumes before the release with this id (0: from the newest).
	BeforeID int64
	Limit    int
}

// ListReleases lists releases, newest first.
func (s *Store) ListReleases(ctx context.Context, q ReleaseQuery) ([]ReleaseRow, error) {
	var w plWhere
	if q.Environment != "" {
		w.add("environment = " + w.arg(q.Environment))
	}
	if q.BeforeID > 0 {
		w.add("id < " + w.arg(q.BeforeID))
	}
	query := `SELECT ` + releaseColumns + ` FROM releases` + w.sql() + ` ORDER BY id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ` + w.arg(q.Limit)
	}
	rows, err := s.reads().QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	out, err := collect(rows, scanRelease)
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	return out, nil
}

// ---- triggers

// TriggerRow is a row of triggers.
type TriggerRow struct {
	ID       int64
	Name     string
	Kind     string
	Pipeline string
	// Spec is the trigger's settings as a JSON document.
	Spec      json.RawMessage
	TokenHash string
	// EventCursor is the outbox position an event trigger has handled.
	EventCursor int64
	// NextRunAt is a schedule's next firing.
	NextRunAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

const triggerColumns = `id, name, kind, pipeline, spec, token_hash, event_cursor, next_run_at, created_at, updated_at`

func scanTrigger(r scanner) (TriggerRow, error) {
	var x TriggerRow
	var spec string
	var next, c, u int64
	err := r.Scan(&x.ID, &x.Name, &x.Kind, &x.Pipeline, &spec, &x.TokenHash, &x.EventCursor, &next, &c, &u)
	x.Spec, x.NextRunAt, x.CreatedAt, x.UpdatedAt = json.RawMessage(spec), FromNanos(next), FromNanos(c), FromNanos(u)
	return x, err
}

// InsertTrigger stores a new trigger; a taken name is ErrConflict.
func (tx *Tx) InsertTrigger(ctx context.Context, x *TriggerRow) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO triggers (name, kind, pipeline, spec, token_hash, event_cursor, next_run_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		x.Name, x.Kind, x.Pipeline, string(x.Spec), x.TokenHash, x.EventCursor, Nanos(x.NextRunAt), Nanos(x.CreatedAt), Nanos(x.UpdatedAt)).Scan(&x.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: trigger %q: %w", x.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert trigger: %w", err)
	}
	return nil
}

// Trigger reads a trigger by name, or ErrNotFound.
func (s *Store) Trigger(ctx context.Context, name string) (TriggerRow, error) {
	x, err := scanTrigger(s.reads().QueryRowContext(ctx, `SELECT `+triggerColumns+` FROM triggers WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return x, fmt.Errorf("store: trigger %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return x, fmt.Errorf("store: read trigger: %w", err)
	}
	return x, nil
}

// Triggers lists every trigger by name.
func (s *Store) Triggers(ctx context.Context) ([]TriggerRow, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+triggerColumns+` FROM triggers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list triggers: %w", err)
	}
	out, err := collect(rows, scanTrigger)
	if err != nil {
		return nil, fmt.Errorf("store: list triggers: %w", err)
	}
	return out, nil
}

// DeleteTrigger deletes a trigger and its firings.
func (tx *Tx) DeleteTrigger(ctx context.Context, name string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM triggers WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store: delete trigger: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: trigger %q: %w", name, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM trigger_firings WHERE trigger_name = $1`, name); err != nil {
		return fmt.Errorf("store: delete trigger firings: %w", err)
	}
	return nil
}

// AdvanceTrigger records an event trigger's cursor and a schedule's next run; the cursor
// never moves back, so a slow replica cannot make events be handled twice over.
func (tx *Tx) AdvanceTrigger(ctx context.Context, name string, cursor int64, nextRun, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE triggers SET event_cursor = CASE WHEN event_cursor > $1 THEN event_cursor ELSE $1 END,
		next_run_at = $2, updated_at = $3 WHERE name = $4`, cursor, Nanos(nextRun), Nanos(at), name)
	if err != nil {
		return fmt.Errorf("store: advance trigger: %w", err)
	}
	return nil
}

// TriggerFiring is a row of trigger_firings.
type TriggerFiring struct {
	ID           int64
	TriggerName  string
	DeliveryKey  string
	ExecutionARN string
	Reason       string
	FiredAt      time.Time
}

// InsertTriggerFiring records that a delivery started an execution; a delivery key already
// recorded for the trigger is ErrConflict.
func (tx *Tx) InsertTriggerFiring(ctx context.Context, f *TriggerFiring) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO trigger_firings (trigger_name, delivery_key, execution_arn, reason, fired_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, f.TriggerName, f.DeliveryKey, f.ExecutionARN, f.Reason, Nanos(f.FiredAt)).Scan(&f.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: firing %q of trigger %q: %w", f.DeliveryKey, f.TriggerName, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert trigger firing: %w", err)
	}
	return nil
}

// TriggerFirings lists a trigger's firings, newest first.
func (s *Store) TriggerFirings(ctx context.Context, trigger string, limit int) ([]TriggerFiring, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT id, trigger_name, delivery_key, execution_arn, reason, fired_at FROM trigger_firings
		WHERE trigger_name = $1 ORDER BY id DESC LIMIT $2`, trigger, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list trigger firings: %w", err)
	}
	defer rows.Close()
	var out []TriggerFiring
	for rows.Next() {
		var f TriggerFiring
		var at int64
		if err := rows.Scan(&f.ID, &f.TriggerName, &f.DeliveryKey, &f.ExecutionARN, &f.Reason, &at); err != nil {
			return nil, fmt.Errorf("store: list trigger firings: %w", err)
		}
		f.FiredAt = FromNanos(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// ---- approval gates

// GateStep is a pipeline step of a given type with its execution, for listing approval gates.
type GateStep struct {
	PipelineStep
	ExecutionARN string
	PipelineName string
}

// GateSteps lists the steps of type stepType, newest first: only those waiting (Executing)
// when pending is set.
func (s *Store) GateSteps(ctx context.Context, stepType string, pending bool, limit int) ([]GateStep, error) {
	var w plWhere
	w.add("s.type = " + w.arg(stepType))
	if pending {
		w.add("s.status = 'Executing'")
	}
	query := `SELECT ` + plPrefixColumns("s.", pipelineStepColumns) + `, x.arn, x.pipeline_name FROM pipeline_steps s
		JOIN pipeline_executions x ON x.id = s.execution_id` + w.sql() + ` ORDER BY s.id DESC`
	if limit > 0 {
		query += ` LIMIT ` + w.arg(limit)
	}
	rows, err := s.reads().QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list gate steps: %w", err)
	}
	defer rows.Close()
	var out []GateStep
	for rows.Next() {
		var g GateStep
		var arn, name string
		st, err := scanPipelineStep(gateTail{r: rows, tail: []any{&arn, &name}})
		if err != nil {
			return nil, fmt.Errorf("store: list gate steps: %w", err)
		}
		g.PipelineStep, g.ExecutionARN, g.PipelineName = st, arn, name
		out = append(out, g)
	}
	return out, rows.Err()
}

// gateTail appends the execution's columns after a step row's.
type gateTail struct {
	r    interface{ Scan(...any) error }
	tail []any
}

func (s gateTail) Scan(dest ...any) error { return s.r.Scan(append(dest, s.tail...)...) }
