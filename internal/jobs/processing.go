package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/store"
)

// CreateProcessingJob validates and queues a processing job and returns its ARN. A job with the
// same name is an *ExistsError; a request Sluice cannot run is an *InvalidError.
func (r *Runner) CreateProcessingJob(ctx context.Context, spec *ProcessingJobSpec) (string, error) {
	if err := r.validateProcessing(ctx, spec); err != nil {
		return "", err
	}
	stored := *spec
	stored.Tags = nil
	rec, err := r.newRecord(KindProcessing, spec.ProcessingJobName, &stored, "Starting the processing job")
	if err != nil {
		return "", err
	}
	if err := r.insert(ctx, rec, spec.Tags); err != nil {
		return "", err
	}
	return rec.ARN, nil
}

// DescribeProcessingJob returns a processing job, or ErrNotFound.
func (r *Runner) DescribeProcessingJob(ctx context.Context, name string) (*ProcessingJob, error) {
	rec, err := r.load(ctx, KindProcessing, name)
	if err != nil {
		return nil, err
	}
	return processingView(rec)
}

// StopProcessingJob stops a processing job: a queued one at once, a running one with SIGTERM
// to its process group and SIGKILL after the grace period. The status is Stopping until the
// process has ended.
func (r *Runner) StopProcessingJob(ctx context.Context, name string) error {
	return r.stop(ctx, KindProcessing, name)
}

// WaitProcessingJob blocks until the processing job has ended and returns it.
func (r *Runner) WaitProcessingJob(ctx context.Context, name string) (*ProcessingJob, error) {
	rec, err := r.wait(ctx, KindProcessing, name)
	if err != nil {
		return nil, err
	}
	return processingView(rec)
}

func processingView(rec *record) (*ProcessingJob, error) {
	var spec ProcessingJobSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return nil, fmt.Errorf("jobs: %s: stored request: %w", rec.ARN, err)
	}
	return &ProcessingJob{
		ProcessingJobSpec:   spec,
		ProcessingJobArn:    rec.ARN,
		ProcessingJobStatus: rec.Status,
		ExitMessage:         rec.ExitMessage,
		FailureReason:       rec.FailureReason,
		CreationTime:        rec.CreatedAt,
		LastModifiedTime:    rec.UpdatedAt,
		ProcessingStartTime: rec.StartedAt,
		ProcessingEndTime:   rec.EndedAt,
		Transitions:         rec.transitions,
		Attempt:             rec.Attempt,
	}, nil
}

// stop is StopProcessingJob and StopTrainingJob.
func (r *Runner) stop(ctx context.Context, kind Kind, name string) error {
	if _, err := r.load(ctx, kind, name); err != nil {
		return err
	}
	signal := false
	_, err := r.update(ctx, r.ARN(kind, name), func(rec *record) error {
		switch {
		case Terminal(rec.Status):
			return invalid("The request was rejected because the %s job is in status %s.", kind, rec.Status)
		case rec.Status == StatusStopping:
			return errNoChange
		}
		now := r.now().UTC()
		rec.StopRequested = true
		if rec.Phase == store.JobQueued {
			rec.Status, rec.Phase, rec.EndedAt = StatusStopped, store.JobDone, now
			rec.transition(SecondaryStopped, "The job was stopped before it started.", now)
			return nil
		}
		rec.Status = StatusStopping
		rec.transition(SecondaryStopping, "Stopping the job", now)
		signal = true
		return nil
	})
	if err != nil {
		return err
	}
	if signal {
		r.signalStop(r.ARN(kind, name))
	}
	return nil
}

// processingConfig is /opt/ml/config/processingjobconfig.json: the request, with the ARN.
type processingConfig struct {
	ProcessingJobArn string `json:"ProcessingJobArn"`
	ProcessingJobSpec
}

// processing runs a claimed processing job.
func (x *execution) processing(j store.Job) (outcome, error) {
	var spec ProcessingJobSpec
	if err := json.Unmarshal(j.Spec, &spec); err != nil {
		return failed("InternalServerError: the stored request cannot be read: %v", err), nil
	}
	if err := x.begin(nil); err != nil {
		return outcome{}, err
	}
	now := x.r.now().UTC()
	if err := x.step(SecondaryDownloading, "Downloading input data", now, nil); err != nil {
		return outcome{}, err
	}
	for _, in := range spec.ProcessingInputs {
		if x.stopped() {
			return stoppedOutcome(), nil
		}
		if in.S3Input == nil {
			continue
		}
		dir, err := x.host(in.S3Input.LocalPath)
		if err != nil {
			return failed("ClientError: input %q: %v", in.InputName, err), nil
		}
		if err := x.stage(in.S3Input.S3Uri, in.S3Input.S3DataType, dir); err != nil {
			if x.stopped() {
				return stoppedOutcome(), nil
			}
			if x.runCtx.Err() != nil {
				return outcome{}, x.runCtx.Err()
			}
			return failed("ClientError: input %q: %v", in.InputName, err), nil
		}
	}
	// /opt/ml/output receives the failure reason (output/failure) and the exit message
	// (output/message) the job may write.
	if err := x.mkdirs("output"); err != nil {
		return outcome{}, err
	}
	outputs := processingOutputs(&spec)
	for _, o := range outputs {
		dir, err := x.host(o.S3Output.LocalPath)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return failed("ClientError: output %q: %v", o.OutputName, err), nil
		}
	}
	instanceType := ""
	if spec.ProcessingResources != nil && spec.ProcessingResources.ClusterConfig != nil {
		instanceType = spec.ProcessingResources.ClusterConfig.InstanceType
	}
	if err := x.writeJSON("config/processingjobconfig.json", processingConfig{ProcessingJobArn: x.arn, ProcessingJobSpec: spec}); err != nil {
		return outcome{}, err
	}
	if err := x.writeJSON("config/resourceconfig.json", runtime.SingleHost(instanceType)); err != nil {
		return outcome{}, err
	}
	app := spec.AppSpecification
	cmd, err := x.r.cfg.Catalog.Resolve(runtime.Request{Image: app.ImageUri, Mode: runtime.ModeProcess, Entrypoint: app.ContainerEntrypoint, Arguments: app.ContainerArguments})
	if err != nil {
		return failed("ClientError: %v", err), nil
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(spec.Environment)) {
		env = append(env, k+"="+spec.Environment[k])
	}
	if x.stopped() {
		return stoppedOutcome(), nil
	}
	isolate := spec.NetworkConfig != nil && spec.NetworkConfig.EnableNetworkIsolation != nil && *spec.NetworkConfig.EnableNetworkIsolation
	maxRuntime := int32(0)
	if spec.StoppingCondition != nil {
		maxRuntime = spec.StoppingCondition.MaxRuntimeInSeconds
	}
	exit, exited, err := x.runProcess(cmd, env, isolate, maxRuntime, SecondaryProcessing, "Processing in progress")
	if err != nil {
		if errors.Is(err, errLostClaim) || x.runCtx.Err() != nil {
			return outcome{}, err
		}
		if x.stopped() {
			return stoppedOutcome(), nil
		}
		return failed("ClientError: the processing container could not start: %v", err), nil
	}
	if x.runCtx.Err() != nil {
		return outcome{}, x.runCtx.Err() // killed because the server is stopping
	}
	out := x.exitOutcome(exit, maxRuntime, "processing")
	out.exitMessage = readReason(filepath.Join(x.ml, "output", "message"))
	if out.status != StatusCompleted {
		return out, nil
	}
	if err := x.step(SecondaryUploading, "Uploading output data", exited, nil); err != nil {
		return outcome{}, err
	}
	for _, o := range outputs {
		dir, _ := x.host(o.S3Output.LocalPath)
		u, err := blob.ParseURI(o.S3Output.S3Uri)
		if err == nil {
			err = x.uploadDir(dir, u)
		}
		if err != nil {
			if x.runCtx.Err() != nil {
				return outcome{}, x.runCtx.Err()
			}
			return failed("ClientError: uploading output %q to %s: %v", o.OutputName, o.S3Output.S3Uri, err), nil
		}
	}
	return out, nil
}

// processingOutputs are the outputs that go to S3.
func processingOutputs(spec *ProcessingJobSpec) []ProcessingOutput {
	if spec.ProcessingOutputConfig == nil {
		return nil
	}
	var out []ProcessingOutput
	for _, o := range spec.ProcessingOutputConfig.Outputs {
		if o.S3Output != nil {
			out = append(out, o)
		}
	}
	return out
}

// uploadDir uploads a folder's files under prefix, creating the bucket if the backend lacks it.
func (x *execution) uploadDir(dir string, prefix blob.URI) error {
	ctx := context.WithoutCancel(x.runCtx)
	err := blob.UploadDir(ctx, x.r.blob, dir, prefix, nil)
	if errors.Is(err, blob.ErrNotExist) {
		if blob.EnsureBucket(ctx, x.r.blob, prefix.Bucket) == nil {
			err = blob.UploadDir(ctx, x.r.blob, dir, prefix, nil)
		}
	}
	return err
}

// writeJSON writes v to a file of the workspace (rel is a slash path).
func (x *execution) writeJSON(rel string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return x.writeFile(rel, b)
}

// underDir reports whether p (cleaned) is dir or below it.
func underDir(p, dir string) bool {
	p = path.Clean(p)
	return p == dir || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}
