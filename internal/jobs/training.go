package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/store"
)

// CreateTrainingJob validates and queues a training job and returns its ARN. A job with the
// same name is an *ExistsError; a request Sluice cannot run is an *InvalidError.
func (r *Runner) CreateTrainingJob(ctx context.Context, spec *TrainingJobSpec) (string, error) {
	if err := r.validateTraining(ctx, spec); err != nil {
		return "", err
	}
	stored := *spec
	stored.Tags = nil
	rec, err := r.newRecord(KindTraining, spec.TrainingJobName, &stored, "Starting the training job")
	if err != nil {
		return "", err
	}
	if err := r.insert(ctx, rec, spec.Tags); err != nil {
		return "", err
	}
	return rec.ARN, nil
}

// DescribeTrainingJob returns a training job, or ErrNotFound.
func (r *Runner) DescribeTrainingJob(ctx context.Context, name string) (*TrainingJob, error) {
	rec, err := r.load(ctx, KindTraining, name)
	if err != nil {
		return nil, err
	}
	return trainingView(rec)
}

// StopTrainingJob stops a training job like SageMaker: SIGTERM, then SIGKILL after the grace
// period (120 s by default), during which the job may save its model; the model is uploaded.
func (r *Runner) StopTrainingJob(ctx context.Context, name string) error {
	return r.stop(ctx, KindTraining, name)
}

// WaitTrainingJob blocks until the training job has ended and returns it.
func (r *Runner) WaitTrainingJob(ctx context.Context, name string) (*TrainingJob, error) {
	rec, err := r.wait(ctx, KindTraining, name)
	if err != nil {
		return nil, err
	}
	return trainingView(rec)
}

func trainingView(rec *record) (*TrainingJob, error) {
	var spec TrainingJobSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return nil, fmt.Errorf("jobs: %s: stored request: %w", rec.ARN, err)
	}
	t := &TrainingJob{
		TrainingJobSpec:            spec,
		TrainingJobArn:             rec.ARN,
		TrainingJobStatus:          rec.Status,
		SecondaryStatus:            rec.SecondaryStatus,
		FailureReason:              rec.FailureReason,
		S3ModelArtifacts:           rec.result.ModelArtifacts,
		FinalMetricDataList:        rec.result.Metrics,
		SecondaryStatusTransitions: rec.transitions,
		CreationTime:               rec.CreatedAt,
		LastModifiedTime:           rec.UpdatedAt,
		TrainingStartTime:          rec.StartedAt,
		TrainingEndTime:            rec.EndedAt,
		Attempt:                    rec.Attempt,
	}
	if t.S3ModelArtifacts == "" {
		if u, err := modelURI(&spec); err == nil {
			t.S3ModelArtifacts = u.String()
		}
	}
	if tr, ok := rec.step(SecondaryTraining); ok && !tr.EndTime.IsZero() {
		t.TrainingTimeInSeconds = max(1, int(tr.EndTime.Sub(tr.StartTime).Round(1e9).Seconds()))
	}
	return t, nil
}

// outputPrefix is <S3OutputPath>/<job>/output/.
func outputPrefix(spec *TrainingJobSpec) (blob.URI, error) {
	if spec.OutputDataConfig == nil {
		return blob.URI{}, errors.New("OutputDataConfig is missing")
	}
	u, err := blob.ParseURI(spec.OutputDataConfig.S3OutputPath)
	if err != nil {
		return blob.URI{}, err
	}
	return u.Join(spec.TrainingJobName + "/output/"), nil
}

// modelURI is where the model goes: <S3OutputPath>/<job>/output/model.tar.gz.
func modelURI(spec *TrainingJobSpec) (blob.URI, error) {
	p, err := outputPrefix(spec)
	return p.Join("model.tar.gz"), err
}

// hyperParameterString decodes a framework hyperparameter the way the training toolkit does:
// JSON when it parses as a string, else the raw text.
func hyperParameterString(raw string) string {
	var s string
	if json.Unmarshal([]byte(raw), &s) == nil {
		return s
	}
	return raw
}

// channelConfigs is inputdataconfig.json.
func channelConfigs(spec *TrainingJobSpec) map[string]runtime.ChannelConfig {
	out := map[string]runtime.ChannelConfig{}
	for _, c := range spec.InputDataConfig {
		mode := c.InputMode
		if mode == "" {
			mode = spec.AlgorithmSpecification.TrainingInputMode
		}
		dist := "FullyReplicated"
		if c.DataSource != nil && c.DataSource.S3DataSource != nil && c.DataSource.S3DataSource.S3DataDistributionType != "" {
			dist = c.DataSource.S3DataSource.S3DataDistributionType
		}
		wrapper := c.RecordWrapperType
		if wrapper == "" {
			wrapper = "None"
		}
		out[c.ChannelName] = runtime.ChannelConfig{ContentType: c.ContentType, TrainingInputMode: mode, S3DistributionType: dist, RecordWrapperType: wrapper}
	}
	return out
}

func instanceType(spec *TrainingJobSpec) string {
	if spec.ResourceConfig == nil {
		return ""
	}
	return spec.ResourceConfig.InstanceType
}

// training runs a claimed training job.
func (x *execution) training(j store.Job) (outcome, error) {
	var spec TrainingJobSpec
	if err := json.Unmarshal(j.Spec, &spec); err != nil || spec.AlgorithmSpecification == nil {
		return failed("InternalServerError: the stored request cannot be read: %v", err), nil
	}
	alg := spec.AlgorithmSpecification
	metrics, err := compileMetrics(alg.MetricDefinitions)
	if err != nil {
		return failed("ClientError: %v", err), nil
	}
	if err := x.begin(metrics); err != nil {
		return outcome{}, err
	}
	if err := x.step(SecondaryDownloading, "Downloading input data", x.r.now().UTC(), nil); err != nil {
		return outcome{}, err
	}
	if err := x.mkdirs("model", "output/data", "input/data", "code"); err != nil {
		return outcome{}, err
	}
	abort := func(format string, args ...any) (outcome, error) {
		switch {
		case x.runCtx.Err() != nil:
			return outcome{}, x.runCtx.Err()
		case x.stopped():
			return stoppedOutcome(), nil
		}
		return failed(format, args...), nil
	}
	for _, c := range spec.InputDataConfig {
		if x.stopped() {
			return stoppedOutcome(), nil
		}
		ds := c.DataSource.S3DataSource
		dir := filepath.Join(x.ml, "input", "data", c.ChannelName)
		if err := x.stage(ds.S3Uri, ds.S3DataType, dir); err != nil {
			return abort("ClientError: channel %q: %v", c.ChannelName, err)
		}
	}
	if cp := spec.CheckpointConfig; cp != nil {
		dir, err := x.host(checkpointPath(cp))
		if err == nil {
			err = x.stage(cp.S3Uri, "S3Prefix", dir)
		}
		if err != nil && !strings.Contains(err.Error(), "No S3 objects found") {
			return abort("ClientError: checkpoints from %s: %v", cp.S3Uri, err)
		}
	}
	if raw, ok := spec.HyperParameters["sagemaker_submit_directory"]; ok {
		if err := x.stageSource(hyperParameterString(raw)); err != nil {
			return abort("ClientError: sagemaker_submit_directory: %v", err)
		}
	}
	hps := spec.HyperParameters
	if hps == nil {
		hps = map[string]string{}
	}
	channels := channelConfigs(&spec)
	rc := runtime.SingleHost(instanceType(&spec))
	for rel, v := range map[string]any{
		"input/config/hyperparameters.json":   hps,
		"input/config/resourceconfig.json":    rc,
		"input/config/inputdataconfig.json":   channels,
		"input/config/trainingjobconfig.json": trainingConfig{TrainingJobArn: x.arn, TrainingJobSpec: spec},
	} {
		if err := x.writeJSON(rel, v); err != nil {
			return outcome{}, err
		}
	}
	cmd, err := x.r.cfg.Catalog.Resolve(runtime.Request{
		Image: alg.TrainingImage, Mode: runtime.ModeTrain,
		Entrypoint: alg.ContainerEntrypoint, Arguments: alg.ContainerArguments, HyperParameters: spec.HyperParameters,
	})
	if err != nil {
		return failed("ClientError: %v", err), nil
	}
	env := runtime.TrainingEnv(runtime.TrainingEnvConfig{
		JobName: spec.TrainingJobName, JobArn: x.arn, HyperParameters: spec.HyperParameters,
		Channels: channels, Resource: rc,
	})
	for _, k := range slices.Sorted(maps.Keys(spec.Environment)) {
		env = append(env, k+"="+spec.Environment[k])
	}
	if x.stopped() {
		return stoppedOutcome(), nil
	}
	isolate := spec.EnableNetworkIsolation != nil && *spec.EnableNetworkIsolation
	maxRuntime := int32(0)
	if spec.StoppingCondition != nil {
		maxRuntime = spec.StoppingCondition.MaxRuntimeInSeconds
	}
	exit, exited, err := x.runProcess(cmd, env, isolate, maxRuntime, SecondaryTraining, "Training image download completed. Training in progress.")
	if err != nil {
		if errors.Is(err, errLostClaim) || x.runCtx.Err() != nil {
			return outcome{}, err
		}
		if x.stopped() {
			return stoppedOutcome(), nil
		}
		return failed("ClientError: the training container could not start: %v", err), nil
	}
	if x.runCtx.Err() != nil {
		return outcome{}, x.runCtx.Err() // killed because the server is stopping
	}
	out := x.exitOutcome(exit, maxRuntime, "training")

	// SageMaker uploads the model of a completed or stopped job (a stopped job had the grace
	// period to save it), and the output data of every job, which helps to debug a failure.
	prefix, err := outputPrefix(&spec)
	if err != nil {
		return failed("ClientError: OutputDataConfig.S3OutputPath: %v", err), nil
	}
	if out.status != StatusFailed {
		if err := x.step(SecondaryUploading, "Uploading generated training model", exited, nil); err != nil {
			return outcome{}, err
		}
		model := prefix.Join("model.tar.gz")
		if err := x.uploadPacked(filepath.Join(x.ml, "model"), model, true); err != nil {
			if out.status == StatusCompleted {
				return failed("ClientError: uploading the model to %s: %v", model, err), nil
			}
		} else {
			out.model = model.String()
		}
	}
	if err := x.uploadPacked(filepath.Join(x.ml, "output", "data"), prefix.Join("output.tar.gz"), false); err != nil && out.status == StatusCompleted {
		return failed("ClientError: uploading the output data to %s: %v", prefix.Join("output.tar.gz"), err), nil
	}
	if cp := spec.CheckpointConfig; cp != nil {
		dir, err := x.host(checkpointPath(cp))
		u, perr := blob.ParseURI(cp.S3Uri)
		if err == nil && perr == nil {
			if err := x.uploadDir(dir, u); err != nil && out.status == StatusCompleted {
				return failed("ClientError: uploading checkpoints to %s: %v", cp.S3Uri, err), nil
			}
		}
	}
	return out, nil
}

// trainingConfig is /opt/ml/input/config/trainingjobconfig.json: the request, with the ARN.
type trainingConfig struct {
	TrainingJobArn string `json:"TrainingJobArn"`
	TrainingJobSpec
}

func checkpointPath(cp *CheckpointConfig) string {
	if cp.LocalPath != "" {
		return cp.LocalPath
	}
	return runtime.CheckpointDir
}

// stageSource puts script-mode source into /opt/ml/code: a tar.gz object is unpacked, a prefix
// is downloaded as it is.
func (x *execution) stageSource(uri string) error {
	u, err := blob.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("%q: only s3:// sources can be used here: %w", uri, err)
	}
	code := filepath.Join(x.ml, "code")
	if !u.IsPrefix() {
		rc, err := x.r.blob.Get(x.jobCtx, u)
		if err == nil {
			defer rc.Close()
			return blob.UnpackTarGz(rc, code)
		}
		if !errors.Is(err, blob.ErrNotExist) {
			return err
		}
	}
	return x.stage(uri, "S3Prefix", code)
}

// uploadPacked packs dir as a tar.gz and uploads it to u; an empty dir is uploaded only when
// always is set.
func (x *execution) uploadPacked(dir string, u blob.URI, always bool) error {
	if !always {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			return nil
		}
	}
	tmp, err := os.CreateTemp(x.dir, ".upload-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := blob.PackDir(dir, tmp); err != nil {
		return err
	}
	size, err := tmp.Seek(0, 1)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, 0); err != nil {
		return err
	}
	return x.r.put(context.WithoutCancel(x.runCtx), u, tmp, size)
}
