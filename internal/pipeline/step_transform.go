package pipeline

import (
	"context"
	"errors"
	"strings"

	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/transform"
)

// TransformService runs the batch transform jobs of Transform steps; *transform.Service
// implements it.
type TransformService interface {
	CreateTransformJob(ctx context.Context, spec *transform.Spec) (string, error)
	DescribeTransformJob(ctx context.Context, name string) (*transform.Job, error)
	StopTransformJob(ctx context.Context, name string) error
}

// transformKind runs Transform steps: a CreateTransformJob request whose properties are the
// DescribeTransformJob response (TransformOutput.S3OutputPath, TransformJobStatus, …).
type transformKind struct{}

func (transformKind) launchesJob() bool { return true }

func (transformKind) start(ctx context.Context, a *attempt) outcome {
	svc := a.d.e.cfg.Transforms
	if svc == nil {
		return failed("Transform steps need batch transform, and this server runs without it.")
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	var spec transform.Spec
	if err := decodeInto(args, &spec); err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	spec.TransformJobName = a.name()
	arn := a.d.e.arn("transform-job/" + strings.ToLower(spec.TransformJobName))
	a.d.e.watch(arn, a.d)
	got, err := svc.CreateTransformJob(ctx, &spec)
	if o, done := jobCreateError(err, arn); done {
		a.d.e.unwatch(arn)
		return o
	}
	if got != "" {
		arn = got
	}
	return running(arn, map[string]any{"TransformJob": map[string]any{"Arn": arn}})
}

func (transformKind) check(ctx context.Context, a *attempt) outcome {
	svc := a.d.e.cfg.Transforms
	if svc == nil {
		return failed("Transform steps need batch transform, and this server runs without it.")
	}
	job, err := svc.DescribeTransformJob(ctx, a.name())
	if errors.Is(err, jobs.ErrNotFound) {
		return failed("The step's transform job %s no longer exists.", a.row.ResourceARN)
	}
	if err != nil {
		a.d.log.Warn("pipeline: describing a transform job", "job", a.name(), "error", err)
		return outcome{status: StepExecuting}
	}
	switch job.TransformJobStatus {
	case jobs.StatusCompleted:
		return succeeded(transformProperties(job), nil)
	case jobs.StatusFailed:
		o := failed("%s", jobFailureReason(job.FailureReason, ""))
		o.exception = jobException(job.FailureReason)
		return o
	case jobs.StatusStopped:
		return outcome{status: StepStopped, reason: "The transform job was stopped."}
	}
	return outcome{status: StepExecuting}
}

func (transformKind) stop(ctx context.Context, a *attempt) error {
	if a.d.e.cfg.Transforms == nil {
		return nil
	}
	err := a.d.e.cfg.Transforms.StopTransformJob(ctx, a.name())
	if errors.Is(err, jobs.ErrInvalid) || errors.Is(err, jobs.ErrNotFound) {
		return nil // already over; check reports how it ended
	}
	return err
}

// transformProperties is DescribeTransformJob's response as a JSON value.
func transformProperties(j *transform.Job) map[string]any {
	m := toJSONMap(j.Spec)
	delete(m, "Tags")
	m["TransformJobArn"] = j.TransformJobArn
	m["TransformJobStatus"] = j.TransformJobStatus
	if j.FailureReason != "" {
		m["FailureReason"] = j.FailureReason
	}
	for k, t := range map[string]any{
		"CreationTime": epoch(j.CreationTime), "TransformStartTime": epoch(j.TransformStartTime), "TransformEndTime": epoch(j.TransformEndTime),
	} {
		if t != nil {
			m[k] = t
		}
	}
	return m
}
