package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

func init() {
	registerResourceKind("processing-job", "jobs", "arn")
	registerResourceKind("training-job", "jobs", "arn")
	registerResourceKind("transform-job", "jobs", "arn")
}

// Job phases: how far the runner has got with a job. Status (InProgress, Completed, …) is what
// clients see; the phase is what runners coordinate on.
const (
	// JobQueued waits for a free slot.
	JobQueued = "queued"
	// JobRunning has been claimed by a runner (Owner), which stages, runs and uploads it.
	JobRunning = "running"
	// JobDone has reached a terminal status.
	JobDone = "done"
)

// Job is one row of the jobs table. Spec, Result and Transitions are JSON documents whose shape
// belongs to the jobs package.
type Job struct {
	ID              int64
	Kind            string
	Name            string
	ARN             string
	Status          string
	SecondaryStatus string
	Phase           string
	StopRequested   bool
	FailureReason   string
	ExitMessage     string
	Spec            json.RawMessage
	Result          json.RawMessage
	Transitions     json.RawMessage
	// Owner is the runner that claimed the job, HeartbeatAt when it last said it was alive.
	Owner       string
	HeartbeatAt time.Time
	// PID is the process group of the job's current attempt, 0 when no process runs.
	PID int
	// Attempt counts the runs of the job; more than one means it was restarted.
	Attempt   int
	CreatedAt time.Time
	UpdatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time
}

const jobColumns = `id, kind, name, arn, status, secondary_status, phase, stop_requested, failure_reason, exit_message,
	spec, result, transitions, owner, heartbeat_at, pid, attempt, created_at, updated_at, started_at, ended_at`

func scanJob(r scanner) (Job, error) {
	var j Job
	var stop int
	var spec, result, transitions string
	var heartbeat, created, updated, started, ended, pid, attempt int64
	err := r.Scan(&j.ID, &j.Kind, &j.Name, &j.ARN, &j.Status, &j.SecondaryStatus, &j.Phase, &stop, &j.FailureReason, &j.ExitMessage,
		&spec, &result, &transitions, &j.Owner, &heartbeat, &pid, &attempt, &created, &updated, &started, &ended)
	if err != nil {
		return j, err
	}
	j.StopRequested = stop != 0
	j.Spec, j.Result, j.Transitions = json.RawMessage(spec), json.RawMessage(result), json.RawMessage(transitions)
	j.PID, j.Attempt = int(pid), int(attempt)
	j.HeartbeatAt, j.CreatedAt, j.UpdatedAt = FromNanos(heartbeat), FromNanos(created), FromNanos(updated)
	j.StartedAt, j.EndedAt = FromNanos(started), FromNanos(ended)
	return j, nil
}

func jobJSON(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	return string(b)
}

func jobFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// InsertJob stores a new job and sets j.ID. A job with the same ARN is ErrConflict.
func (tx *Tx) InsertJob(ctx context.Context, j *Job) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO jobs (kind, name, arn, status, secondary_status, phase, stop_requested, failure_reason, exit_message,
		spec, result, transitions, owner, heartbeat_at, pid, attempt, created_at, updated_at, started_at, ended_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id`,
		j.Kind, j.Name, j.ARN, j.Status, j.SecondaryStatus, j.Phase, jobFlag(j.StopRequested), j.FailureReason, j.ExitMessage,
		jobJSON(j.Spec, "{}"), jobJSON(j.Result, "{}"), jobJSON(j.Transitions, "[]"), j.Owner, Nanos(j.HeartbeatAt), j.PID, j.Attempt,
		Nanos(j.CreatedAt), Nanos(j.UpdatedAt), Nanos(j.StartedAt), Nanos(j.EndedAt)).Scan(&j.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: job %s: %w", j.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert job: %w", err)
	}
	return nil
}

// UpdateJob writes every mutable column of j (found by ID).
func (tx *Tx) UpdateJob(ctx context.Context, j *Job) error {
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = $1, secondary_status = $2, phase = $3, stop_requested = $4, failure_reason = $5,
		exit_message = $6, spec = $7, result = $8, transitions = $9, owner = $10, heartbeat_at = $11, pid = $12, attempt = $13,
		updated_at = $14, started_at = $15, ended_at = $16 WHERE id = $17`,
		j.Status, j.SecondaryStatus, j.Phase, jobFlag(j.StopRequested), j.FailureReason, j.ExitMessage,
		jobJSON(j.Spec, "{}"), jobJSON(j.Result, "{}"), jobJSON(j.Transitions, "[]"), j.Owner, Nanos(j.HeartbeatAt), j.PID, j.Attempt,
		Nanos(j.UpdatedAt), Nanos(j.StartedAt), Nanos(j.EndedAt), j.ID)
	if err != nil {
		return fmt.Errorf("store: update job: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: update job %d: %w", j.ID, ErrNotFound)
	}
	return nil
}

// Job returns the job with this ARN, or ErrNotFound.
func (s *Store) Job(ctx context.Context, arn string) (Job, error) {
	return getJob(ctx, s.reads(), `SELECT `+jobColumns+` FROM jobs WHERE arn = $1`, arn)
}

// JobForUpdate reads a job inside a write transaction, locking its row on PostgreSQL so that
// concurrent writers (the runner, a Stop call) take turns. SQLite transactions are already
// serialized.
func (tx *Tx) JobForUpdate(ctx context.Context, arn string) (Job, error) {
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE arn = $1`
	if tx.s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	return getJob(ctx, tx, q, arn)
}

func getJob(ctx context.Context, q Querier, query string, args ...any) (Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return j, ErrNotFound
	}
	if err != nil {
		return j, fmt.Errorf("store: read job: %w", err)
	}
	return j, nil
}

func queryJobs(ctx context.Context, q Querier, query string, args ...any) ([]Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list jobs: %w", err)
	}
	out, err := collect(rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("store: list jobs: %w", err)
	}
	return out, nil
}

// JobsNamed returns the jobs of every kind with this name (compared case-insensitively, as
// SageMaker names are), oldest first.
func (s *Store) JobsNamed(ctx context.Context, name string) ([]Job, error) {
	return queryJobs(ctx, s.reads(), `SELECT `+jobColumns+` FROM jobs WHERE LOWER(name) = $1 ORDER BY id`, strings.ToLower(name))
}

// JobsInPhase lists the jobs in a phase, oldest first.
func (s *Store) JobsInPhase(ctx context.Context, phase string) ([]Job, error) {
	return queryJobs(ctx, s.reads(), `SELECT `+jobColumns+` FROM jobs WHERE phase = $1 ORDER BY id`, phase)
}

// ClaimJobs moves up to limit queued jobs, oldest first, to the running phase under owner and
// returns them with Attempt incremented. Concurrent claimers never get the same job.
func (tx *Tx) ClaimJobs(ctx context.Context, owner string, limit int, now time.Time) ([]Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE phase = $1 ORDER BY id LIMIT $2`
	if tx.s.dialect == Postgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	jobs, err := queryJobs(ctx, tx, q, JobQueued, limit)
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		j := &jobs[i]
		j.Phase, j.Owner, j.HeartbeatAt, j.Attempt, j.UpdatedAt = JobRunning, owner, now, j.Attempt+1, now
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET phase = $1, owner = $2, heartbeat_at = $3, attempt = $4, updated_at = $5 WHERE id = $6`,
			j.Phase, j.Owner, Nanos(now), j.Attempt, Nanos(now), j.ID); err != nil {
			return nil, fmt.Errorf("store: claim job: %w", err)
		}
	}
	return jobs, nil
}

// HeartbeatJobs records that owner is alive and still running its jobs.
func (tx *Tx) HeartbeatJobs(ctx context.Context, owner string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET heartbeat_at = $1 WHERE owner = $2 AND phase = $3`, Nanos(now), owner, JobRunning); err != nil {
		return fmt.Errorf("store: job heartbeat: %w", err)
	}
	return nil
}

// Job list sort keys.
const (
	JobSortCreated = "created"
	JobSortName    = "name"
	JobSortStatus  = "status"
)

// JobQuery selects and orders jobs for a list page. Zero fields do not filter.
type JobQuery struct {
	Kind string
	// NameContains matches names case-insensitively.
	NameContains   string
	Status         string
	CreatedAfter   time.Time
	CreatedBefore  time.Time
	ModifiedAfter  time.Time
	ModifiedBefore time.Time
	// SortBy is JobSortCreated (default), JobSortName or JobSortStatus.
	SortBy     string
	Descending bool
	// After continues a previous page: the sort value (JobSortValue of the last row) and its ID.
	After *JobCursor
	Limit int
}

// JobCursor is the keyset position of a list page's last row.
type JobCursor struct {
	Sort string
	ID   int64
}

// JobSortValue returns j's value of the sort key as the text a JobCursor holds.
func JobSortValue(j Job, sortBy string) string {
	switch sortBy {
	case JobSortName:
		return j.Name
	case JobSortStatus:
		return j.Status
	default:
		return fmt.Sprint(Nanos(j.CreatedAt))
	}
}

// ListJobs returns one page of jobs matching q.
func (s *Store) ListJobs(ctx context.Context, q JobQuery) ([]Job, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Kind != "" {
		where = append(where, "kind = "+arg(q.Kind))
	}
	if q.NameContains != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.NameContains))
		where = append(where, "LOWER(name) LIKE "+arg("%"+esc+"%")+` ESCAPE '\'`)
	}
	if q.Status != "" {
		where = append(where, "status = "+arg(q.Status))
	}
	if !q.CreatedAfter.IsZero() {
		where = append(where, "created_at > "+arg(Nanos(q.CreatedAfter)))
	}
	if !q.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(Nanos(q.CreatedBefore)))
	}
	if !q.ModifiedAfter.IsZero() {
		where = append(where, "updated_at > "+arg(Nanos(q.ModifiedAfter)))
	}
	if !q.ModifiedBefore.IsZero() {
		where = append(where, "updated_at < "+arg(Nanos(q.ModifiedBefore)))
	}
	col := "created_at"
	switch q.SortBy {
	case JobSortName:
		col = "name"
	case JobSortStatus:
		col = "status"
	}
	cmp, dir := ">", "ASC"
	if q.Descending {
		cmp, dir = "<", "DESC"
	}
	if q.After != nil {
		var v any = q.After.Sort
		if col == "created_at" {
			var n int64
			if _, err := fmt.Sscan(q.After.Sort, &n); err != nil {
				return nil, fmt.Errorf("store: list jobs: bad cursor %q", q.After.Sort)
			}
			v = n
		}
		a, b, id := arg(v), arg(v), arg(q.After.ID)
		where = append(where, fmt.Sprintf("(%s %s %s OR (%s = %s AND id %s %s))", col, cmp, a, col, b, cmp, id))
	}
	query := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY %s %s, id %s", col, dir, dir)
	if q.Limit > 0 {
		query += " LIMIT " + arg(q.Limit)
	}
	return queryJobs(ctx, s.reads(), query, args...)
}
