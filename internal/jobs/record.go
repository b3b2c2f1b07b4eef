package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/store"
)

// result is the part of a job's row that the run produces; kept as JSON in the row.
type result struct {
	ModelArtifacts string       `json:"ModelArtifacts,omitempty"`
	Metrics        []MetricData `json:"Metrics,omitempty"`
	ExitCode       *int         `json:"ExitCode,omitempty"`
}

// record is a job row with its JSON columns decoded.
type record struct {
	store.Job
	transitions []Transition
	result      result
}

func decodeRecord(j store.Job) (*record, error) {
	rec := &record{Job: j}
	if len(j.Transitions) > 0 {
		if err := json.Unmarshal(j.Transitions, &rec.transitions); err != nil {
			return nil, fmt.Errorf("jobs: %s: stored transitions: %w", j.ARN, err)
		}
	}
	if len(j.Result) > 0 {
		if err := json.Unmarshal(j.Result, &rec.result); err != nil {
			return nil, fmt.Errorf("jobs: %s: stored result: %w", j.ARN, err)
		}
	}
	return rec, nil
}

func (rec *record) encode() error {
	t, err := json.Marshal(rec.transitions)
	if err != nil {
		return err
	}
	res, err := json.Marshal(rec.result)
	if err != nil {
		return err
	}
	rec.Transitions, rec.Result = t, res
	return nil
}

// transition ends the current step of the timeline at `at` and starts the next. A terminal
// step starts and ends at once, as SageMaker reports it.
func (rec *record) transition(status, msg string, at time.Time) {
	if n := len(rec.transitions); n > 0 && rec.transitions[n-1].EndTime.IsZero() {
		rec.transitions[n-1].EndTime = at
	}
	t := Transition{Status: status, StartTime: at, StatusMessage: msg}
	if Terminal(status) || status == SecondaryMaxRuntimeExceeded {
		t.EndTime = at
	}
	rec.transitions = append(rec.transitions, t)
	rec.SecondaryStatus = status
}

// step returns the timeline entry with this status, the last one when there are several.
func (rec *record) step(status string) (Transition, bool) {
	for i := len(rec.transitions) - 1; i >= 0; i-- {
		if rec.transitions[i].Status == status {
			return rec.transitions[i], true
		}
	}
	return Transition{}, false
}

// errNoChange makes update leave the row as it is, without error.
var errNoChange = errors.New("no change")

// update changes a job's row in a transaction: fn sees the current row and edits it. When the
// status or secondary status changes, the state-change event is written in the same
// transaction. A missing job is ErrNotFound.
func (r *Runner) update(ctx context.Context, arn string, fn func(rec *record) error) (*record, error) {
	var out *record
	err := r.store.InTx(ctx, func(tx *store.Tx) error {
		j, err := tx.JobForUpdate(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rec, err := decodeRecord(j)
		if err != nil {
			return err
		}
		status, secondary := rec.Status, rec.SecondaryStatus
		if err := fn(rec); err != nil {
			if errors.Is(err, errNoChange) {
				out = rec
				return nil
			}
			return err
		}
		rec.UpdatedAt = r.now().UTC()
		if err := rec.encode(); err != nil {
			return err
		}
		if err := tx.UpdateJob(ctx, &rec.Job); err != nil {
			return err
		}
		if rec.Status != status || rec.SecondaryStatus != secondary {
			if err := r.emit(ctx, tx, rec); err != nil {
				return err
			}
		}
		out = rec
		return nil
	})
	return out, err
}

// emit announces a job's new state, in the transaction that writes it.
func (r *Runner) emit(ctx context.Context, tx *store.Tx, rec *record) error {
	ms := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMilli()
	}
	detail := map[string]any{}
	detailType := EventProcessingJobStateChange
	switch Kind(rec.Kind) {
	case KindTransform:
		detailType = EventTransformJobStateChange
		transformDetail(detail, rec, ms)
	case KindTraining:
		detailType = EventTrainingJobStateChange
		detail["TrainingJobName"] = rec.Name
		detail["TrainingJobArn"] = rec.ARN
		detail["TrainingJobStatus"] = rec.Status
		detail["SecondaryStatus"] = rec.SecondaryStatus
		detail["TrainingStartTime"] = ms(rec.StartedAt)
		detail["TrainingEndTime"] = ms(rec.EndedAt)
		if rec.result.ModelArtifacts != "" {
			detail["ModelArtifacts"] = map[string]string{"S3ModelArtifacts": rec.result.ModelArtifacts}
		}
	default:
		detail["ProcessingJobName"] = rec.Name
		detail["ProcessingJobArn"] = rec.ARN
		detail["ProcessingJobStatus"] = rec.Status
		detail["ProcessingStartTime"] = ms(rec.StartedAt)
		detail["ProcessingEndTime"] = ms(rec.EndedAt)
		if rec.ExitMessage != "" {
			detail["ExitMessage"] = rec.ExitMessage
		}
	}
	detail["CreationTime"] = ms(rec.CreatedAt)
	detail["LastModifiedTime"] = ms(rec.UpdatedAt)
	if rec.FailureReason != "" {
		detail["FailureReason"] = rec.FailureReason
	}
	return events.Emit(ctx, tx, detailType, []string{rec.ARN}, detail)
}

// insert stores a new job with its tags and announces it.
func (r *Runner) insert(ctx context.Context, rec *record, tags []Tag) error {
	if err := rec.encode(); err != nil {
		return err
	}
	err := r.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertJob(ctx, &rec.Job); err != nil {
			return err
		}
		if len(tags) > 0 {
			st := make([]store.Tag, len(tags))
			for i, t := range tags {
				st[i] = store.Tag{Key: t.Key, Value: t.Value}
			}
			if err := tx.PutTags(ctx, rec.ARN, st); err != nil {
				return err
			}
		}
		return r.emit(ctx, tx, rec)
	})
	if errors.Is(err, store.ErrConflict) {
		return &ExistsError{ARN: rec.ARN}
	}
	if err != nil {
		return fmt.Errorf("jobs: create %s: %w", rec.ARN, err)
	}
	r.Wake()
	return nil
}

// newRecord is the row of a job just created: in progress, queued, starting.
func (r *Runner) newRecord(kind Kind, name string, spec any, startMsg string) (*record, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("jobs: encode request: %w", err)
	}
	now := r.now().UTC()
	rec := &record{Job: store.Job{
		Kind: string(kind), Name: name, ARN: r.ARN(kind, name),
		Status: StatusInProgress, Phase: store.JobQueued, Spec: b,
		CreatedAt: now, UpdatedAt: now,
	}}
	rec.transition(SecondaryStarting, startMsg, now)
	return rec, nil
}

// load reads a job by kind and name.
func (r *Runner) load(ctx context.Context, kind Kind, name string) (*record, error) {
	j, err := r.store.Job(ctx, r.ARN(kind, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if j.Kind != string(kind) {
		return nil, ErrNotFound
	}
	return decodeRecord(j)
}
