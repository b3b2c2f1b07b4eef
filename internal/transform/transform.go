// Package transform runs SageMaker batch transform jobs: offline inference over the objects
// under an S3 prefix (or listed by a manifest), one `<input file>.out` per input file, records
// in input order.
//
// A transform job is a job like the others: its row lives in the jobs table (kind transform)
// and the job runner queues it, gives it a slot, recovers it after a restart, stops it and keeps
// its log; the Service is the runner's Executor for the kind. A run starts the job's model in
// the same model servers that endpoints use (package serving): XGBoost models are served
// in-process, so records never cross HTTP, and other images run as containers called over
// SageMaker's serving contract (GET /execution-parameters, /ping, POST /invocations).
//
// Each input file is read as a stream and cut into records (SplitType Line, or the whole object
// for None). Records are packed into mini-batches up to MaxPayloadInMB (MultiRecord) or sent one
// by one (SingleRecord); up to MaxConcurrentTransforms mini-batches of a file are in flight at
// once, and their answers are written in input order as they arrive, so the output streams to
// the artifact store while the model works. An output object is stored only when its whole file
// succeeded. TransformResources.InstanceCount workers share the files. DataProcessing's
// InputFilter picks what the model sees, JoinSource Input joins each answer to its input record,
// and OutputFilter picks what is kept (see Path). A mini-batch that still fails after
// ModelClientConfig.InvocationsMaxRetries retries is narrowed down to the first record that
// fails alone, and the job fails with the file and the line of that record.
//
// Progress (files, records and bytes done) is kept per input file in the store: clients follow
// it while the job runs, and a job run again after a restart skips the files it had finished.
package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// Models finds the models jobs name; *hosting.Service implements it.
type Models interface {
	DescribeModel(ctx context.Context, name string) (hosting.Model, error)
}

// ModelHost starts model servers; *serving.Host implements it.
type ModelHost interface {
	StartModel(ctx context.Context, spec serving.ModelSpec) (serving.ModelServer, error)
}

// DefaultProgressEvery is how often a running job writes its progress to the store.
const DefaultProgressEvery = time.Second

// Config is what a Service needs; every member but Log, Now and ProgressEvery is required.
type Config struct {
	// Jobs queues and runs transform jobs; New registers the Service as its executor.
	Jobs   *jobs.Runner
	Store  *store.Store
	Blob   blob.Store
	Models Models
	Host   ModelHost
	Log    *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ProgressEvery is how often progress is written; default DefaultProgressEvery.
	ProgressEvery time.Duration
}

// Service creates, describes and stops transform jobs, and runs them for the job runner.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg, registers the service as the job runner's executor of transform jobs and
// returns it.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Jobs == nil:
		return nil, errors.New("transform: Config.Jobs is required")
	case cfg.Store == nil:
		return nil, errors.New("transform: Config.Store is required")
	case cfg.Blob == nil:
		return nil, errors.New("transform: Config.Blob is required")
	case cfg.Models == nil:
		return nil, errors.New("transform: Config.Models is required")
	case cfg.Host == nil:
		return nil, errors.New("transform: Config.Host is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	s := &Service{cfg: cfg, log: cfg.Log}
	cfg.Jobs.RegisterExecutor(jobs.KindTransform, s)
	return s, nil
}

// CreateTransformJob validates and queues a transform job and returns its ARN. A job with the
// same name is a *jobs.ExistsError; a request Sluice cannot run is a *jobs.InvalidError.
func (s *Service) CreateTransformJob(ctx context.Context, spec *Spec) (string, error) {
	if err := s.validate(ctx, spec); err != nil {
		return "", err
	}
	stored := *spec
	stored.Tags = nil
	return s.cfg.Jobs.CreateJob(ctx, jobs.KindTransform, spec.TransformJobName, &stored, spec.Tags, "Starting the transform job")
}

// DescribeTransformJob returns a transform job, or jobs.ErrNotFound.
func (s *Service) DescribeTransformJob(ctx context.Context, name string) (*Job, error) {
	info, err := s.cfg.Jobs.Job(ctx, jobs.KindTransform, name)
	if err != nil {
		return nil, err
	}
	return view(info)
}

// StopTransformJob stops a transform job: at once while it waits for a slot, otherwise its
// run ends the files in flight without writing their outputs and the job ends Stopped. Files
// already written stay.
func (s *Service) StopTransformJob(ctx context.Context, name string) error {
	return s.cfg.Jobs.StopJob(ctx, jobs.KindTransform, name)
}

// WaitTransformJob blocks until the transform job has ended and returns it.
func (s *Service) WaitTransformJob(ctx context.Context, name string) (*Job, error) {
	info, err := s.cfg.Jobs.WaitJob(ctx, jobs.KindTransform, name)
	if err != nil {
		return nil, err
	}
	return view(info)
}

func view(info *jobs.JobInfo) (*Job, error) {
	var spec Spec
	if err := json.Unmarshal(info.Spec, &spec); err != nil {
		return nil, fmt.Errorf("transform: %s: stored request: %w", info.ARN, err)
	}
	return &Job{
		Spec:               spec,
		TransformJobArn:    info.ARN,
		TransformJobStatus: info.Status,
		FailureReason:      info.FailureReason,
		CreationTime:       info.CreationTime,
		LastModifiedTime:   info.LastModifiedTime,
		TransformStartTime: info.StartTime,
		TransformEndTime:   info.EndTime,
		Transitions:        info.Transitions,
		Attempt:            info.Attempt,
	}, nil
}

// Progress reports how far a transform job has got, or jobs.ErrNotFound.
func (s *Service) Progress(ctx context.Context, name string) (*Progress, error) {
	info, err := s.cfg.Jobs.Job(ctx, jobs.KindTransform, name)
	if err != nil {
		return nil, err
	}
	files, err := s.cfg.Store.TransformFiles(ctx, info.ARN)
	if err != nil {
		return nil, err
	}
	p := &Progress{Name: info.Name, Status: info.Status, FailureReason: info.FailureReason, StartTime: info.StartTime, EndTime: info.EndTime}
	for _, f := range files {
		p.Files = append(p.Files, FileProgress{Input: f.InputURI, Output: f.OutputURI, Size: f.Size, Status: f.Status,
			Records: f.Records, BytesRead: f.BytesRead, Error: f.Error})
		p.Records += f.Records
		p.BytesRead += f.BytesRead
		p.TotalBytes += f.Size
		if f.Status == store.TransformFileDone {
			p.FilesDone++
		}
	}
	return p, nil
}
