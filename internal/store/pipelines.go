package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func init() {
	registerResourceKind("pipeline", "pipelines", "arn")
}

// Pipeline is a row of pipelines.
type Pipeline struct {
	ID          int64
	ARN         string
	Name        string
	DisplayName string
	Description string
	RoleARN     string
	// Definition is the pipeline definition JSON as the client sent it.
	Definition string
	// Parallelism is ParallelismConfiguration.MaxParallelExecutionSteps; 0 means none given.
	Parallelism int
	Status      string
	VersionID   int64
	ClientToken string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastRunAt   time.Time
	// CreatedBy and ModifiedBy are JSON documents (SageMaker's UserContext).
	CreatedBy  json.RawMessage
	ModifiedBy json.RawMessage
}

// SortKey returns the keyset position of p in a list sorted by name or by creation time.
func (p Pipeline) SortKey(byName bool) Cursor {
	if byName {
		return Cursor{Sort: strings.ToLower(p.Name), ID: p.ID}
	}
	return Cursor{Sort: strconv.FormatInt(Nanos(p.CreatedAt), 10), ID: p.ID}
}

// PipelineExecution is a row of pipeline_executions.
type PipelineExecution struct {
	ID            int64
	ARN           string
	ExecID        string
	PipelineID    int64
	PipelineARN   string
	PipelineName  string
	VersionID     int64
	DisplayName   string
	Description   string
	Status        string
	FailureReason string
	// Definition is the definition the execution runs.
	Definition string
	// Parameters are the values given at start, as JSON [{Name, Value}].
	Parameters json.RawMessage
	// Parallelism is the execution's MaxParallelExecutionSteps override; 0 means none.
	Parallelism int
	// Experiment is the resolved PipelineExperimentConfig, as JSON.
	Experiment json.RawMessage
	// Selective is the SelectiveExecutionConfig as given, as JSON ("" when none).
	Selective     string
	ClientToken   string
	StopRequested bool
	// Version counts the row's updates; UpdatePipelineExecution refuses a stale one.
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	EndedAt    time.Time
	CreatedBy  json.RawMessage
	ModifiedBy json.RawMessage
}

// SortKey returns the keyset position of e in a list sorted by creation time or by ARN.
func (e PipelineExecution) SortKey(byARN bool) Cursor {
	if byARN {
		return Cursor{Sort: e.ARN, ID: e.ID}
	}
	return Cursor{Sort: strconv.FormatInt(Nanos(e.CreatedAt), 10), ID: e.ID}
}

// PipelineStep is a row of pipeline_steps: one step of an execution that has started.
type PipelineStep struct {
	ID          int64
	ExecutionID int64
	PipelineID  int64
	Name        string
	Type        string
	DisplayName string
	Description string
	Status      string
	// Attempt counts the step's attempts, the current one included (AttemptCount).
	Attempt       int
	FailureReason string
	// Metadata is the step's Metadata as ListPipelineExecutionSteps reports it (JSON).
	Metadata json.RawMessage
	// Properties is what Steps.<name>.<path> resolves against (JSON).
	Properties json.RawMessage
	// PropertyFiles holds the parsed property files by name (JSON object).
	PropertyFiles json.RawMessage
	// ResourceARN is what the current attempt created: a job, a model or a model package.
	ResourceARN string
	CacheKey    string
	// CacheSource is the execution ARN whose run this step reused, when it was a cache hit.
	CacheSource   string
	CallbackToken string
	// RetryAt, when set, is when the next attempt starts.
	RetryAt        time.Time
	Version        int64
	FirstStartedAt time.Time
	StartedAt      time.Time
	EndedAt        time.Time
	UpdatedAt      time.Time
}

func plJSON(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	return string(b)
}

func plFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- pipelines

const pipelineColumns = `id, arn, name, display_name, description, role_arn, definition, parallelism, status, version_id,
	client_token, created_at, updated_at, last_run_at, created_by, modified_by`

func scanPipeline(r scanner) (Pipeline, error) {
	var p Pipeline
	var par int64
	var created, updated, lastRun int64
	var by, mby string
	err := r.Scan(&p.ID, &p.ARN, &p.Name, &p.DisplayName, &p.Description, &p.RoleARN, &p.Definition, &par, &p.Status, &p.VersionID,
		&p.ClientToken, &created, &updated, &lastRun, &by, &mby)
	if err != nil {
		return p, err
	}
	p.Parallelism = int(par)
	p.CreatedAt, p.UpdatedAt, p.LastRunAt = FromNanos(created), FromNanos(updated), FromNanos(lastRun)
	p.CreatedBy, p.ModifiedBy = json.RawMessage(by), json.RawMessage(mby)
	return p, nil
}

// InsertPipeline stores a new pipeline and sets p.ID. A pipeline with the same ARN (the same
// name, ignoring case) is ErrConflict.
func (tx *Tx) InsertPipeline(ctx context.Context, p *Pipeline) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO pipelines (arn, name, display_name, description, role_arn, definition, parallelism, status,
		version_id, client_token, created_at, updated_at, last_run_at, created_by, modified_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		p.ARN, p.Name, p.DisplayName, p.Description, p.RoleARN, p.Definition, p.Parallelism, p.Status,
		p.VersionID, p.ClientToken, Nanos(p.CreatedAt), Nanos(p.UpdatedAt), Nanos(p.LastRunAt),
		plJSON(p.CreatedBy, "{}"), plJSON(p.ModifiedBy, "{}")).Scan(&p.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: pipeline %s: %w", p.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert pipeline: %w", err)
	}
	return nil
}

// UpdatePipeline writes every mutable column of p (found by ID).
func (tx *Tx) UpdatePipeline(ctx context.Context, p *Pipeline) error {
	res, err := tx.ExecContext(ctx, `UPDATE pipelines SET display_name = $1, description = $2, role_arn = $3, definition = $4,
		parallelism = $5, status = $6, version_id = $7, updated_at = $8, last_run_at = $9, modified_by = $10 WHERE id = $11`,
		p.DisplayName, p.Description, p.RoleARN, p.Definition, p.Parallelism, p.Status, p.VersionID,
		Nanos(p.UpdatedAt), Nanos(p.LastRunAt), plJSON(p.ModifiedBy, "{}"), p.ID)
	if err != nil {
		return fmt.Errorf("store: update pipeline: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: update pipeline %d: %w", p.ID, ErrNotFound)
	}
	return nil
}

// DeletePipeline removes a pipeline with its executions and their steps.
func (tx *Tx) DeletePipeline(ctx context.Context, id int64) error {
	for _, q := range []string{
		`DELETE FROM pipeline_steps WHERE pipeline_id = $1`,
		`DELETE FROM pipeline_executions WHERE pipeline_id = $1`,
		`DELETE FROM pipelines WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("store: delete pipeline: %w", err)
		}
	}
	return nil
}

// Pipeline returns the pipeline with this ARN, or ErrNotFound.
func (s *Store) Pipeline(ctx context.Context, arn string) (Pipeline, error) {
	return getPipeline(ctx, s.reads(), `SELECT `+pipelineColumns+` FROM pipelines WHERE arn = $1`, arn)
}

// PipelineForUpdate reads a pipeline inside a write transaction, locking its row on PostgreSQL.
func (tx *Tx) PipelineForUpdate(ctx context.Context, arn string) (Pipeline, error) {
	q := `SELECT ` + pipelineColumns + ` FROM pipelines WHERE arn = $1`
	if tx.s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	return getPipeline(ctx, tx, q, arn)
}

func getPipeline(ctx context.Context, q Querier, query string, args ...any) (Pipeline, error) {
	p, err := scanPipeline(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("store: read pipeline: %w", err)
	}
	return p, nil
}

// PipelineQuery selects and orders pipelines for a list page. Zero fields do not filter.
type PipelineQuery struct {
	// NamePrefix matches the start of names, ignoring case.
	NamePrefix                  string
	CreatedAfter, CreatedBefore time.Time
	// SortByName orders by name (ignoring case) instead of creation time; ties break on id.
	SortByName bool
	Descending bool
	After      *Cursor
	Limit      int
}

// ListPipelines returns one page of pipelines matching q.
func (s *Store) ListPipelines(ctx context.Context, q PipelineQuery) ([]Pipeline, error) {
	var w plWhere
	if q.NamePrefix != "" {
		w.add("LOWER(name) LIKE " + w.arg(plLike(strings.ToLower(q.NamePrefix))+"%") + ` ESCAPE '\'`)
	}
	w.times("created_at", q.CreatedAfter, q.CreatedBefore)
	col := "created_at"
	if q.SortByName {
		col = "LOWER(name)"
	}
	query := `SELECT ` + pipelineColumns + ` FROM pipelines`
	query += w.page(col, !q.SortByName, q.Descending, q.After, q.Limit)
	rows, err := s.reads().QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list pipelines: %w", err)
	}
	out, err := collect(rows, scanPipeline)
	if err != nil {
		return nil, fmt.Errorf("store: list pipelines: %w", err)
	}
	return out, nil
}

// ---- executions

const pipelineExecutionColumns = `id, arn, exec_id, pipeline_id, pipeline_arn, pipeline_name, version_id, display_name, description, status,
	failure_reason, definition, parameters, parallelism, experiment, selective, client_token, stop_requested, version,
	created_at, updated_at, ended_at, created_by, modified_by`

func scanPipelineExecution(r scanner) (PipelineExecution, error) {
	var e PipelineExecution
	var par, stop int64
	var params, exp, by, mby string
	var created, updated, ended int64
	err := r.Scan(&e.ID, &e.ARN, &e.ExecID, &e.PipelineID, &e.PipelineARN, &e.PipelineName, &e.VersionID, &e.DisplayName, &e.Description,
		&e.Status, &e.FailureReason, &e.Definition, &params, &par, &exp, &e.Selective, &e.ClientToken, &stop, &e.Version,
		&created, &updated, &ended, &by, &mby)
	if err != nil {
		return e, err
	}
	e.Parallelism, e.StopRequested = int(par), stop != 0
	e.Parameters, e.Experiment = json.RawMessage(params), json.RawMessage(exp)
	e.CreatedBy, e.ModifiedBy = json.RawMessage(by), json.RawMessage(mby)
	e.CreatedAt, e.UpdatedAt, e.EndedAt = FromNanos(created), FromNanos(updated), FromNanos(ended)
	return e, nil
}

// InsertPipelineExecution stores a new execution and sets e.ID. An execution of the same
// pipeline with the same client token is ErrConflict.
func (tx *Tx) InsertPipelineExecution(ctx context.Context, e *PipelineExecution) error {
	e.Version = 1
	err := tx.QueryRowContext(ctx, `INSERT INTO pipeline_executions (arn, exec_id, pipeline_id, pipeline_arn, pipeline_name, version_id,
		display_name, description, status, failure_reason, definition, parameters, parallelism, experiment, selective, client_token,
		stop_requested, version, created_at, updated_at, ended_at, created_by, modified_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id`,
		e.ARN, e.ExecID, e.PipelineID, e.PipelineARN, e.PipelineName, e.VersionID, e.DisplayName, e.Description, e.Status,
		e.FailureReason, e.Definition, plJSON(e.Parameters, "[]"), e.Parallelism, plJSON(e.Experiment, "{}"), e.Selective,
		e.ClientToken, plFlag(e.StopRequested), e.Version, Nanos(e.CreatedAt), Nanos(e.UpdatedAt), Nanos(e.EndedAt),
		plJSON(e.CreatedBy, "{}"), plJSON(e.ModifiedBy, "{}")).Scan(&e.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: pipeline execution %s: %w", e.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert pipeline execution: %w", err)
	}
	return nil
}

// UpdatePipelineExecution writes every mutable column of e if the row is still at e.Version,
// and then advances e.Version. A row changed meanwhile by another writer is ErrConflict: re-read
// it and decide again.
func (tx *Tx) UpdatePipelineExecution(ctx context.Context, e *PipelineExecution) error {
	res, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET display_name = $1, description = $2, status = $3, failure_reason = $4,
		parallelism = $5, experiment = $6, stop_requested = $7, version = version + 1, updated_at = $8, ended_at = $9, modified_by = $10
		WHERE id = $11 AND version = $12`,
		e.DisplayName, e.Description, e.Status, e.FailureReason, e.Parallelism, plJSON(e.Experiment, "{}"), plFlag(e.StopRequested),
		Nanos(e.UpdatedAt), Nanos(e.EndedAt), plJSON(e.ModifiedBy, "{}"), e.ID, e.Version)
	if err != nil {
		return fmt.Errorf("store: update pipeline execution: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: pipeline execution %s changed meanwhile: %w", e.ARN, ErrConflict)
	}
	e.Version++
	return nil
}

// PipelineExecution returns the execution with this ARN, or ErrNotFound.
func (s *Store) PipelineExecution(ctx context.Context, arn string) (PipelineExecution, error) {
	return getPipelineExecution(ctx, s.reads(), `SELECT `+pipelineExecutionColumns+` FROM pipeline_executions WHERE arn = $1`, arn)
}

// PipelineExecutionForUpdate reads an execution inside a write transaction, locking its row on
// PostgreSQL.
func (tx *Tx) PipelineExecutionForUpdate(ctx context.Context, arn string) (PipelineExecution, error) {
	q := `SELECT ` + pipelineExecutionColumns + ` FROM pipeline_executions WHERE arn = $1`
	if tx.s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	return getPipelineExecution(ctx, tx, q, arn)
}

// PipelineExecutionByToken returns the execution of the pipeline started with this client
// token, or ErrNotFound.
func (tx *Tx) PipelineExecutionByToken(ctx context.Context, pipelineID int64, token string) (PipelineExecution, error) {
	return getPipelineExecution(ctx, tx, `SELECT `+pipelineExecutionColumns+` FROM pipeline_executions WHERE pipeline_id = $1 AND client_token = $2`, pipelineID, token)
}

func getPipelineExecution(ctx context.Context, q Querier, query string, args ...any) (PipelineExecution, error) {
	e, err := scanPipelineExecution(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("store: read pipeline execution: %w", err)
	}
	return e, nil
}

func queryPipelineExecutions(ctx context.Context, q Querier, query string, args ...any) ([]PipelineExecution, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list pipeline executions: %w", err)
	}
	out, err := collect(rows, scanPipelineExecution)
	if err != nil {
		return nil, fmt.Errorf("store: list pipeline executions: %w", err)
	}
	return out, nil
}

// PipelineExecutionsInStatus lists the executions in any of the statuses, oldest first.
func (s *Store) PipelineExecutionsInStatus(ctx context.Context, statuses ...string) ([]PipelineExecution, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	var w plWhere
	ph := make([]string, len(statuses))
	for i, st := range statuses {
		ph[i] = w.arg(st)
	}
	return queryPipelineExecutions(ctx, s.reads(), `SELECT `+pipelineExecutionColumns+` FROM pipeline_executions WHERE status IN (`+strings.Join(ph, ", ")+`) ORDER BY id`, w.args...)
}

// CountPipelineExecutions counts a pipeline's executions in any of the statuses.
func (tx *Tx) CountPipelineExecutions(ctx context.Context, pipelineID int64, statuses ...string) (int, error) {
	w := plWhere{}
	pid := w.arg(pipelineID)
	ph := make([]string, len(statuses))
	for i, st := range statuses {
		ph[i] = w.arg(st)
	}
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pipeline_executions WHERE pipeline_id = `+pid+` AND status IN (`+strings.Join(ph, ", ")+`)`, w.args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count pipeline executions: %w", err)
	}
	return n, nil
}

// PipelineExecutionQuery selects and orders the executions of one pipeline for a list page.
type PipelineExecutionQuery struct {
	PipelineID                  int64
	CreatedAfter, CreatedBefore time.Time
	// SortByARN orders by execution ARN instead of creation time; ties break on id.
	SortByARN  bool
	Descending bool
	After      *Cursor
	Limit      int
}

// ListPipelineExecutions returns one page of executions matching q.
func (s *Store) ListPipelineExecutions(ctx context.Context, q PipelineExecutionQuery) ([]PipelineExecution, error) {
	var w plWhere
	w.add("pipeline_id = " + w.arg(q.PipelineID))
	w.times("created_at", q.CreatedAfter, q.CreatedBefore)
	col := "created_at"
	if q.SortByARN {
		col = "arn"
	}
	query := `SELECT ` + pipelineExecutionColumns + ` FROM pipeline_executions` + w.page(col, !q.SortByARN, q.Descending, q.After, q.Limit)
	return queryPipelineExecutions(ctx, s.reads(), query, w.args...)
}

// ---- steps

const pipelineStepColumns = `id, execution_id, pipeline_id, name, type, display_name, description, status, attempt, failure_reason,
	metadata, properties, property_files, resource_arn, cache_key, cache_source, callback_token, retry_at, version,
	first_started_at, started_at, ended_at, updated_at`

func scanPipelineStep(r scanner) (PipelineStep, error) {
	var st PipelineStep
	var attempt, retryAt, first, started, ended, updated int64
	var md, props, files string
	err := r.Scan(&st.ID, &st.ExecutionID, &st.PipelineID, &st.Name, &st.Type, &st.DisplayName, &st.Description, &st.Status, &attempt,
		&st.FailureReason, &md, &props, &files, &st.ResourceARN, &st.CacheKey, &st.CacheSource, &st.CallbackToken, &retryAt, &st.Version,
		&first, &started, &ended, &updated)
	if err != nil {
		return st, err
	}
	st.Attempt = int(attempt)
	st.Metadata, st.Properties, st.PropertyFiles = json.RawMessage(md), json.RawMessage(props), json.RawMessage(files)
	st.RetryAt, st.FirstStartedAt, st.StartedAt = FromNanos(retryAt), FromNanos(first), FromNanos(started)
	st.EndedAt, st.UpdatedAt = FromNanos(ended), FromNanos(updated)
	return st, nil
}

// InsertPipelineStep stores the first row of a step and sets st.ID. A step of the same name in
// the same execution is ErrConflict.
func (tx *Tx) InsertPipelineStep(ctx context.Context, st *PipelineStep) error {
	st.Version = 1
	err := tx.QueryRowContext(ctx, `INSERT INTO pipeline_steps (execution_id, pipeline_id, name, type, display_name, description, status,
		attempt, failure_reason, metadata, properties, property_files, resource_arn, cache_key, cache_source, callback_token, retry_at,
		version, first_started_at, started_at, ended_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) RETURNING id`,
		st.ExecutionID, st.PipelineID, st.Name, st.Type, st.DisplayName, st.Description, st.Status, st.Attempt, st.FailureReason,
		plJSON(st.Metadata, "{}"), plJSON(st.Properties, "null"), plJSON(st.PropertyFiles, "{}"), st.ResourceARN, st.CacheKey,
		st.CacheSource, st.CallbackToken, Nanos(st.RetryAt), st.Version, Nanos(st.FirstStartedAt), Nanos(st.StartedAt),
		Nanos(st.EndedAt), Nanos(st.UpdatedAt)).Scan(&st.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: pipeline step %q: %w", st.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert pipeline step: %w", err)
	}
	return nil
}

// UpdatePipelineStep writes every mutable column of st if the row is still at st.Version, and
// then advances st.Version. A row changed meanwhile is ErrConflict.
func (tx *Tx) UpdatePipelineStep(ctx context.Context, st *PipelineStep) error {
	res, err := tx.ExecContext(ctx, `UPDATE pipeline_steps SET status = $1, attempt = $2, failure_reason = $3, metadata = $4,
		properties = $5, property_files = $6, resource_arn = $7, cache_key = $8, cache_source = $9, callback_token = $10, retry_at = $11,
		version = version + 1, started_at = $12, ended_at = $13, updated_at = $14 WHERE id = $15 AND version = $16`,
		st.Status, st.Attempt, st.FailureReason, plJSON(st.Metadata, "{}"), plJSON(st.Properties, "null"), plJSON(st.PropertyFiles, "{}"),
		st.ResourceARN, st.CacheKey, st.CacheSource, st.CallbackToken, Nanos(st.RetryAt), Nanos(st.StartedAt), Nanos(st.EndedAt),
		Nanos(st.UpdatedAt), st.ID, st.Version)
	if err != nil {
		return fmt.Errorf("store: update pipeline step: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: pipeline step %q changed meanwhile: %w", st.Name, ErrConflict)
	}
	st.Version++
	return nil
}

func queryPipelineSteps(ctx context.Context, q Querier, query string, args ...any) ([]PipelineStep, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list pipeline steps: %w", err)
	}
	out, err := collect(rows, scanPipelineStep)
	if err != nil {
		return nil, fmt.Errorf("store: list pipeline steps: %w", err)
	}
	return out, nil
}

func getPipelineStep(ctx context.Context, q Querier, query string, args ...any) (PipelineStep, error) {
	st, err := scanPipelineStep(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("store: read pipeline step: %w", err)
	}
	return st, nil
}

// PipelineSteps returns every step row of an execution, in the order they started.
func (s *Store) PipelineSteps(ctx context.Context, executionID int64) ([]PipelineStep, error) {
	return queryPipelineSteps(ctx, s.reads(), `SELECT `+pipelineStepColumns+` FROM pipeline_steps WHERE execution_id = $1 ORDER BY id`, executionID)
}

// PipelineSteps reads every step row of an execution inside a transaction.
func (tx *Tx) PipelineSteps(ctx context.Context, executionID int64) ([]PipelineStep, error) {
	return queryPipelineSteps(ctx, tx, `SELECT `+pipelineStepColumns+` FROM pipeline_steps WHERE execution_id = $1 ORDER BY id`, executionID)
}

// PipelineStep returns one step of an execution by name, or ErrNotFound.
func (s *Store) PipelineStep(ctx context.Context, executionID int64, name string) (PipelineStep, error) {
	return getPipelineStep(ctx, s.reads(), `SELECT `+pipelineStepColumns+` FROM pipeline_steps WHERE execution_id = $1 AND name = $2`, executionID, name)
}

// PipelineStepByToken finds the Callback step waiting with this token inside a write
// transaction, locking its row on PostgreSQL; ErrNotFound when no step has it.
func (tx *Tx) PipelineStepByToken(ctx context.Context, token string) (PipelineStep, error) {
	q := `SELECT ` + pipelineStepColumns + ` FROM pipeline_steps WHERE callback_token = $1`
	if tx.s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	return getPipelineStep(ctx, tx, q, token)
}

// PipelineExecutionByID reads an execution by its row id inside a transaction.
func (tx *Tx) PipelineExecutionByID(ctx context.Context, id int64) (PipelineExecution, error) {
	return getPipelineExecution(ctx, tx, `SELECT `+pipelineExecutionColumns+` FROM pipeline_executions WHERE id = $1`, id)
}

// CachedPipelineStep returns the newest Succeeded run of the named step, in any execution of
// the pipeline, whose cache key matches and which ended at or after notBefore (zero: no
// limit), together with the ARN of its execution. Only steps that ran count: a cache hit does
// not renew the window of the run it reused. No such run is ErrNotFound.
func (s *Store) CachedPipelineStep(ctx context.Context, pipelineID int64, name, cacheKey string, notBefore time.Time) (PipelineStep, string, error) {
	row := s.reads().QueryRowContext(ctx, `SELECT `+plPrefixColumns("s.", pipelineStepColumns)+`, e.arn FROM pipeline_steps s
		JOIN pipeline_executions e ON e.id = s.execution_id
		WHERE s.pipeline_id = $1 AND s.name = $2 AND s.cache_key = $3 AND s.status = 'Succeeded' AND s.cache_source = '' AND s.ended_at >= $4
		ORDER BY s.ended_at DESC, s.id DESC LIMIT 1`, pipelineID, name, cacheKey, Nanos(notBefore))
	var arn string
	st, err := scanPipelineStep(plScanTail{row, &arn})
	if errors.Is(err, sql.ErrNoRows) {
		return st, "", ErrNotFound
	}
	if err != nil {
		return st, "", fmt.Errorf("store: cache lookup: %w", err)
	}
	return st, arn, nil
}

// plScanTail appends extra destinations after a row's standard columns.
type plScanTail struct {
	r    interface{ Scan(...any) error }
	tail *string
}

func (s plScanTail) Scan(dest ...any) error { return s.r.Scan(append(dest, s.tail)...) }

func plPrefixColumns(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// PipelineStepQuery pages through the steps of one execution by start order.
type PipelineStepQuery struct {
	ExecutionID int64
	Descending  bool
	// AfterID resumes after the step row with this id (0: from the start).
	AfterID int64
	Limit   int
}

// ListPipelineSteps returns one page of an execution's steps, ordered by when they started.
func (s *Store) ListPipelineSteps(ctx context.Context, q PipelineStepQuery) ([]PipelineStep, error) {
	var w plWhere
	w.add("execution_id = " + w.arg(q.ExecutionID))
	cmp, dir := ">", "ASC"
	if q.Descending {
		cmp, dir = "<", "DESC"
	}
	if q.AfterID > 0 {
		w.add("id " + cmp + " " + w.arg(q.AfterID))
	}
	query := `SELECT ` + pipelineStepColumns + ` FROM pipeline_steps` + w.sql() + ` ORDER BY id ` + dir
	if q.Limit > 0 {
		query += ` LIMIT ` + w.arg(q.Limit)
	}
	return queryPipelineSteps(ctx, s.reads(), query, w.args...)
}

// LatestEventID returns the id of the newest event in the outbox (0 when it is empty), the
// cursor from which a follower sees only what happens next.
func (s *Store) LatestEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := s.reads().QueryRowContext(ctx, `SELECT MAX(id) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: latest event: %w", err)
	}
	return id.Int64, nil
}

// ---- query building

// plWhere collects the conditions and numbered arguments of a list query.
type plWhere struct {
	conds []string
	args  []any
}

func (w *plWhere) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *plWhere) add(cond string) { w.conds = append(w.conds, cond) }

func (w *plWhere) times(col string, after, before time.Time) {
	if !after.IsZero() {
		w.add(col + " > " + w.arg(Nanos(after)))
	}
	if !before.IsZero() {
		w.add(col + " < " + w.arg(Nanos(before)))
	}
}

func (w *plWhere) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// page adds the keyset condition for after, then the WHERE clause, ORDER BY and LIMIT. numeric
// says the sort column holds integers (nanosecond times), whose cursor text is parsed back.
func (w *plWhere) page(col string, numeric, desc bool, after *Cursor, limit int) string {
	cmp, dir := ">", "ASC"
	if desc {
		cmp, dir = "<", "DESC"
	}
	if after != nil {
		var v any = after.Sort
		if numeric {
			n, _ := strconv.ParseInt(after.Sort, 10, 64)
			v = n
		}
		a, b, id := w.arg(v), w.arg(v), w.arg(after.ID)
		w.add(fmt.Sprintf("(%s %s %s OR (%s = %s AND id %s %s))", col, cmp, a, col, b, cmp, id))
	}
	q := w.sql() + fmt.Sprintf(" ORDER BY %s %s, id %s", col, dir, dir)
	if limit > 0 {
		q += " LIMIT " + w.arg(limit)
	}
	return q
}

func plLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ---- leadership

// Lease is the leadership of one controller among the servers that share a database: while a
// lease is held, no other server holds one of the same name. Its Context ends when the lease
// is lost (the database connection that holds it broke) or released.
type Lease struct {
	ctx    context.Context
	cancel context.CancelFunc
	conn   *sql.Conn
	key    int64
	done   chan struct{}
}

// Context is cancelled when the lease ends.
func (l *Lease) Context() context.Context { return l.ctx }

// Release gives the leadership up.
func (l *Lease) Release() {
	l.cancel()
	<-l.done
	if l.conn != nil {
		l.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, l.key)
		l.conn.Close()
	}
}

// Lead blocks until this server leads the controller called name, or ctx ends. On PostgreSQL
// the leadership is a session advisory lock held on a connection of its own, checked every
// check interval; on SQLite, whose database belongs to one server, it is granted at once.
func (s *Store) Lead(ctx context.Context, name string, check time.Duration) (*Lease, error) {
	if s.dialect != Postgres {
		lctx, cancel := context.WithCancel(ctx)
		l := &Lease{ctx: lctx, cancel: cancel, done: make(chan struct{})}
		close(l.done)
		return l, nil
	}
	for {
		conn, err := s.db.Conn(ctx)
		if err == nil {
			// Advisory locks are per database; servers on other schemas of the same database
			// are other installations, with leaders of their own.
			var schema string
			var got bool
			key := int64(0)
			if err = conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err == nil {
				key = leaseKey(schema + ":" + name)
				err = conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got)
			}
			if err == nil && got {
				lctx, cancel := context.WithCancel(ctx)
				l := &Lease{ctx: lctx, cancel: cancel, conn: conn, key: key, done: make(chan struct{})}
				go l.watch(check)
				return l, nil
			}
			conn.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			s.log.Warn("store: taking the lead", "controller", name, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(check):
		}
	}
}

// watch ends the lease when its connection stops answering.
func (l *Lease) watch(check time.Duration) {
	defer close(l.done)
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(l.ctx, check)
			err := l.conn.PingContext(pctx)
			cancel()
			if err != nil && l.ctx.Err() == nil {
				l.cancel()
				return
			}
		}
	}
}

// leaseKey maps a controller name to an advisory lock key, away from the migration lock's.
func leaseKey(name string) int64 {
	h := int64(1469598103934665603)
	for _, c := range []byte("sluice-lead:" + name) {
		h = (h ^ int64(c)) * 1099511628211
	}
	return h
}
