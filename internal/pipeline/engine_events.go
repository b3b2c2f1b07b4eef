package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/store"
)

// EventBridge detail types of pipeline state changes.
const (
	EventExecutionStatusChange = "SageMaker Model Building Pipeline Execution Status Change"
	EventStepStatusChange      = "SageMaker Model Building Pipeline Execution Step Status Change"
)

func eventTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// emitExecution announces an execution's new status in the transaction that writes it.
func (e *Engine) emitExecution(ctx context.Context, tx *store.Tx, x *store.PipelineExecution, prev string) error {
	detail := map[string]any{
		"pipelineArn":                    x.PipelineARN,
		"pipelineExecutionArn":           x.ARN,
		"pipelineExecutionDisplayName":   x.DisplayName,
		"pipelineExecutionDescription":   x.Description,
		"currentPipelineExecutionStatus": x.Status,
		"executionStartTime":             eventTime(x.CreatedAt),
	}
	if prev != "" {
		detail["previousPipelineExecutionStatus"] = prev
	}
	if ExecutionDone(x.Status) {
		detail["executionEndTime"] = eventTime(x.EndedAt)
	}
	if x.FailureReason != "" {
		detail["failureReason"] = x.FailureReason
	}
	return events.Emit(ctx, tx, EventExecutionStatusChange, []string{x.PipelineARN, x.ARN}, detail)
}

// emitStep announces a step's new status in the transaction that writes it; extra adds
// members (a Callback step's message).
func (e *Engine) emitStep(ctx context.Context, tx *store.Tx, x *store.PipelineExecution, r *store.PipelineStep, extra map[string]any) error {
	detail := map[string]any{
		"pipelineArn":          x.PipelineARN,
		"pipelineExecutionArn": x.ARN,
		"stepName":             r.Name,
		"stepType":             r.Type,
		"currentStepStatus":    r.Status,
		"stepStartTime":        eventTime(r.StartedAt),
		"attemptCount":         r.Attempt,
	}
	if stepDone(r.Status) {
		detail["stepEndTime"] = eventTime(r.EndedAt)
	}
	if len(r.Metadata) > 0 && string(r.Metadata) != "{}" {
		detail["metadata"] = json.RawMessage(r.Metadata)
	}
	if r.CacheSource != "" {
		detail["cacheHitResult"] = map[string]any{"sourcePipelineExecutionArn": r.CacheSource}
	}
	if r.FailureReason != "" {
		detail["failureReason"] = r.FailureReason
	}
	for k, v := range extra {
		detail[k] = v
	}
	return events.Emit(ctx, tx, EventStepStatusChange, []string{x.PipelineARN, x.ARN}, detail)
}
