package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/jobs"
)

// trainingKind runs Training steps: a CreateTrainingJob request whose properties are the
// DescribeTrainingJob response (ModelArtifacts.S3ModelArtifacts, FinalMetricDataList, …).
type trainingKind struct{}

func (trainingKind) launchesJob() bool { return true }

func (trainingKind) start(ctx context.Context, a *attempt) outcome {
	runner := a.d.e.cfg.Jobs
	if runner == nil {
		return failed("Training steps need the job runner, and this server runs without one.")
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	var spec jobs.TrainingJobSpec
	if err := decodeInto(args, &spec); err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	spec.TrainingJobName = a.name()
	arn := a.d.e.arn("training-job/" + strings.ToLower(spec.TrainingJobName))
	a.d.e.watch(arn, a.d)
	got, err := runner.CreateTrainingJob(ctx, &spec)
	if o, done := jobCreateError(err, arn); done {
		a.d.e.unwatch(arn)
		return o
	}
	if got != "" {
		arn = got
	}
	return running(arn, map[string]any{"TrainingJob": map[string]any{"Arn": arn}})
}

func (trainingKind) check(ctx context.Context, a *attempt) outcome {
	runner := a.d.e.cfg.Jobs
	if runner == nil {
		return failed("Training steps need the job runner, and this server runs without one.")
	}
	job, err := runner.DescribeTrainingJob(ctx, a.name())
	if errors.Is(err, jobs.ErrNotFound) {
		return failed("The step's training job %s no longer exists.", a.row.ResourceARN)
	}
	if err != nil {
		a.d.log.Warn("pipeline: describing a training job", "job", a.name(), "error", err)
		return outcome{status: StepExecuting}
	}
	switch job.TrainingJobStatus {
	case jobs.StatusCompleted:
		return succeeded(trainingProperties(job), nil)
	case jobs.StatusFailed:
		o := failed("%s", jobFailureReason(job.FailureReason, ""))
		o.exception = jobException(job.FailureReason)
		return o
	case jobs.StatusStopped:
		return outcome{status: StepStopped, reason: "The training job was stopped."}
	}
	return outcome{status: StepExecuting}
}

func (trainingKind) stop(ctx context.Context, a *attempt) error {
	if a.d.e.cfg.Jobs == nil {
		return nil
	}
	err := a.d.e.cfg.Jobs.StopTrainingJob(ctx, a.name())
	if errors.Is(err, jobs.ErrInvalid) || errors.Is(err, jobs.ErrNotFound) {
		return nil
	}
	return err
}

// cacheDigests covers the content of a script-mode training job's source
// (sagemaker_submit_directory), so that editing it in place invalidates the cache.
func (trainingKind) cacheDigests(ctx context.Context, a *attempt, args any) ([]string, error) {
	m, _ := args.(map[string]any)
	hp, _ := m["HyperParameters"].(map[string]any)
	dir, _ := hp["sagemaker_submit_directory"].(string)
	var unquoted string
	if json.Unmarshal([]byte(dir), &unquoted) == nil {
		dir = unquoted // the SDK JSON-encodes framework hyperparameters
	}
	if !strings.HasPrefix(dir, "s3://") {
		return nil, nil
	}
	d, err := contentDigest(ctx, a.d.e.cfg.Blob, dir)
	if err != nil {
		return nil, err
	}
	return []string{"source=" + d}, nil
}

// trainingProperties is DescribeTrainingJob's response as a JSON value.
func trainingProperties(j *jobs.TrainingJob) map[string]any {
	m := toJSONMap(j.TrainingJobSpec)
	delete(m, "Tags")
	m["TrainingJobArn"] = j.TrainingJobArn
	m["TrainingJobStatus"] = j.TrainingJobStatus
	m["SecondaryStatus"] = j.SecondaryStatus
	if j.FailureReason != "" {
		m["FailureReason"] = j.FailureReason
	}
	m["ModelArtifacts"] = map[string]any{"S3ModelArtifacts": j.S3ModelArtifacts}
	metrics := make([]any, 0, len(j.FinalMetricDataList))
	for _, md := range j.FinalMetricDataList {
		metrics = append(metrics, map[string]any{
			"MetricName": md.MetricName,
			"Value":      json.Number(formatFloat(md.Value)),
			"Timestamp":  epoch(md.Timestamp),
		})
	}
	m["FinalMetricDataList"] = metrics
	transitions := make([]any, 0, len(j.SecondaryStatusTransitions))
	for _, t := range j.SecondaryStatusTransitions {
		tm := map[string]any{"Status": t.Status, "StartTime": epoch(t.StartTime)}
		if !t.EndTime.IsZero() {
			tm["EndTime"] = epoch(t.EndTime)
		}
		if t.StatusMessage != "" {
			tm["StatusMessage"] = t.StatusMessage
		}
		transitions = append(transitions, tm)
	}
	m["SecondaryStatusTransitions"] = transitions
	for k, t := range map[string]any{
		"CreationTime": epoch(j.CreationTime), "LastModifiedTime": epoch(j.LastModifiedTime),
		"TrainingStartTime": epoch(j.TrainingStartTime), "TrainingEndTime": epoch(j.TrainingEndTime),
	} {
		if t != nil {
			m[k] = t
		}
	}
	m["TrainingTimeInSeconds"] = json.Number(strconv.Itoa(j.TrainingTimeInSeconds))
	m["BillableTimeInSeconds"] = json.Number(strconv.Itoa(j.TrainingTimeInSeconds))
	return m
}
