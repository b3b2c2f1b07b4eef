package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/jobs"
)

// processingKind runs Processing steps: a CreateProcessingJob request whose properties are
// the DescribeProcessingJob response, and whose property files are read from its outputs when
// it succeeds.
type processingKind struct{}

func (processingKind) launchesJob() bool { return true }

func (processingKind) start(ctx context.Context, a *attempt) outcome {
	runner := a.d.e.cfg.Jobs
	if runner == nil {
		return failed("Processing steps need the job runner, and this server runs without one.")
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	var spec jobs.ProcessingJobSpec
	if err := decodeInto(args, &spec); err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	spec.ProcessingJobName = a.name()
	arn := a.d.e.arn("processing-job/" + strings.ToLower(spec.ProcessingJobName))
	a.d.e.watch(arn, a.d)
	got, err := runner.CreateProcessingJob(ctx, &spec)
	if o, done := jobCreateError(err, arn); done {
		a.d.e.unwatch(arn)
		return o
	}
	if got != "" {
		arn = got
	}
	return running(arn, map[string]any{"ProcessingJob": map[string]any{"Arn": arn}})
}

// jobCreateError turns the error of a Create*Job call into an outcome. A job that already
// exists is this attempt's job, created before a restart: the step re-attaches to it.
func jobCreateError(err error, arn string) (outcome, bool) {
	var exists *jobs.ExistsError
	switch {
	case err == nil, errors.As(err, &exists):
		return outcome{}, false
	case errors.Is(err, jobs.ErrInvalid):
		return failed("%v", err), true
	}
	return faulted("Creating the job %s failed: %v", arn, err), true
}

// fillProcessingOutputs gives the outputs of a Sluice:EndpointTest step's job that have no
// S3Uri a place under the execution's folder in the default bucket,
// s3://<default bucket>/<pipeline>/<execution id>/<step>/output/<output name>. (A Processing
// step, like SageMaker's CreateProcessingJob, must name every output's S3Uri.)
func fillProcessingOutputs(args map[string]any, a *attempt) {
	cfg, _ := args["ProcessingOutputConfig"].(map[string]any)
	outs, _ := cfg["Outputs"].([]any)
	for _, o := range outs {
		om, _ := o.(map[string]any)
		s3, _ := om["S3Output"].(map[string]any)
		name, _ := om["OutputName"].(string)
		if s3 == nil || name == "" {
			continue
		}
		if uri, _ := s3["S3Uri"].(string); uri == "" {
			s3["S3Uri"] = a.outputPrefix() + "/output/" + name
		}
	}
}

func (processingKind) check(ctx context.Context, a *attempt) outcome {
	runner := a.d.e.cfg.Jobs
	if runner == nil {
		return failed("Processing steps need the job runner, and this server runs without one.")
	}
	job, err := runner.DescribeProcessingJob(ctx, a.name())
	if errors.Is(err, jobs.ErrNotFound) {
		return failed("The step's processing job %s no longer exists.", a.row.ResourceARN)
	}
	if err != nil {
		a.d.log.Warn("pipeline: describing a processing job", "job", a.name(), "error", err)
		return outcome{status: StepExecuting}
	}
	switch job.ProcessingJobStatus {
	case jobs.StatusCompleted:
		o := succeeded(processingProperties(job), nil)
		pf := readPropertyFiles(ctx, a, job)
		o.files = &pf
		return o
	case jobs.StatusFailed:
		o := failed("%s", jobFailureReason(job.FailureReason, job.ExitMessage))
		o.exception = jobException(job.FailureReason)
		return o
	case jobs.StatusStopped:
		return outcome{status: StepStopped, reason: "The processing job was stopped."}
	}
	return outcome{status: StepExecuting}
}

func (processingKind) stop(ctx context.Context, a *attempt) error {
	if a.d.e.cfg.Jobs == nil {
		return nil
	}
	err := a.d.e.cfg.Jobs.StopProcessingJob(ctx, a.name())
	if errors.Is(err, jobs.ErrInvalid) || errors.Is(err, jobs.ErrNotFound) {
		return nil // already over; check reports how it ended
	}
	return err
}

// cacheDigests covers the content of the code input (the input named "code", where the SDK
// puts the script), so that editing the script in place invalidates the cache.
func (processingKind) cacheDigests(ctx context.Context, a *attempt, args any) ([]string, error) {
	m, _ := args.(map[string]any)
	ins, _ := m["ProcessingInputs"].([]any)
	var out []string
	for _, in := range ins {
		im, _ := in.(map[string]any)
		if name, _ := im["InputName"].(string); name != "code" {
			continue
		}
		s3, _ := im["S3Input"].(map[string]any)
		uri, _ := s3["S3Uri"].(string)
		if uri == "" {
			continue
		}
		d, err := contentDigest(ctx, a.d.e.cfg.Blob, uri)
		if err != nil {
			return nil, err
		}
		out = append(out, "code="+d)
	}
	return out, nil
}

// maxDigestBytes bounds how much code is hashed for a cache key; beyond it, sizes and entity
// tags stand for the content.
const maxDigestBytes = 64 << 20

// contentDigest hashes the objects under an s3:// prefix: their keys and contents.
func contentDigest(ctx context.Context, bs blob.Store, uri string) (string, error) {
	if bs == nil {
		return "", errors.New("no artifact store")
	}
	u, err := blob.ParseURI(uri)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	var total int64
	err = bs.List(ctx, u, func(o blob.ObjectInfo) error {
		fmt.Fprintf(h, "%s\x00%d\x00", o.URI.Key, o.Size)
		total += o.Size
		if total > maxDigestBytes {
			fmt.Fprintf(h, "%s\x00%s\x00", o.ETag, o.ModTime.UTC())
			return nil
		}
		rc, err := bs.Get(ctx, o.URI)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(h, rc)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("digest %s: %w", uri, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// processingProperties is DescribeProcessingJob's response as a JSON value.
func processingProperties(j *jobs.ProcessingJob) map[string]any {
	m := toJSONMap(j.ProcessingJobSpec)
	delete(m, "Tags")
	m["ProcessingJobArn"] = j.ProcessingJobArn
	m["ProcessingJobStatus"] = j.ProcessingJobStatus
	if j.ExitMessage != "" {
		m["ExitMessage"] = j.ExitMessage
	}
	if j.FailureReason != "" {
		m["FailureReason"] = j.FailureReason
	}
	for k, t := range map[string]any{
		"CreationTime": epoch(j.CreationTime), "LastModifiedTime": epoch(j.LastModifiedTime),
		"ProcessingStartTime": epoch(j.ProcessingStartTime), "ProcessingEndTime": epoch(j.ProcessingEndTime),
	} {
		if t != nil {
			m[k] = t
		}
	}
	return m
}

// readPropertyFiles reads the step's declared property files from the job's outputs:
// <output S3Uri>/<FilePath>. A file that cannot be read is recorded with the reason, which the
// step that reads it reports.
func readPropertyFiles(ctx context.Context, a *attempt, job *jobs.ProcessingJob) propertyFiles {
	var pf propertyFiles
	for _, f := range a.step.PropertyFiles {
		uri := ""
		if job.ProcessingOutputConfig != nil {
			for _, o := range job.ProcessingOutputConfig.Outputs {
				if o.OutputName == f.OutputName && o.S3Output != nil {
					uri = strings.TrimSuffix(o.S3Output.S3Uri, "/") + "/" + strings.TrimPrefix(f.FilePath, "/")
				}
			}
		}
		var v any
		var err error
		if uri == "" {
			err = fmt.Errorf("the job has no output named %q", f.OutputName)
		} else {
			v, err = readJSONObject(ctx, a.d.e.cfg.Blob, uri)
		}
		if err != nil {
			if pf.Errors == nil {
				pf.Errors = map[string]string{}
			}
			pf.Errors[f.PropertyFileName] = err.Error()
			continue
		}
		if pf.Values == nil {
			pf.Values = map[string]any{}
		}
		pf.Values[f.PropertyFileName] = v
	}
	return pf
}

// jobFailureReason is a failed job's FailureReason, or its ExitMessage when it gave none.
func jobFailureReason(reason, exit string) string {
	switch {
	case reason != "":
		return reason
	case exit != "":
		return exit
	}
	return "The job failed without a reason."
}

// jobException maps a failed job's FailureReason to the RetryPolicy exception type that
// covers it: SageMaker.JOB_INTERNAL_ERROR for failures of the service rather than of the
// job's code, and so on. Failures of the job's own code are not retried.
func jobException(reason string) string {
	switch {
	case strings.HasPrefix(reason, "InternalServerError"):
		return RetryJobInternalError
	case strings.HasPrefix(reason, "CapacityError"), strings.Contains(reason, "InsufficientCapacity"):
		return RetryJobCapacityError
	case strings.HasPrefix(reason, "ResourceLimitExceeded"):
		return RetryJobResourceLimit
	}
	return ""
}
