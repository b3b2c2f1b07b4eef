// Package jobs runs SageMaker processing and training jobs as local processes and keeps their
// lifecycle in the store.
//
// The Runner is a durable reconcile loop. Creating a job writes its row (InProgress, queued) and
// wakes the loop; the loop claims queued jobs up to its number of slots, and for each one stages
// the inputs from the artifact store into a fresh workspace that the job sees as /opt/ml, runs
// the image through the runtime, uploads outputs, and writes every status change in a
// transaction together with the event that announces it. A server that stops or dies loses
// nothing: queued jobs stay queued, and jobs that were running are found on the next start and
// run again from the beginning (their workspace is disposable), or marked Failed with the reason
// when running them again would be unsafe.
//
// Layout on disk: <Dir>/<kind>/<name>/ml is a job's /opt/ml (removed when the job ends, once its
// outputs are uploaded) and <Dir>/<kind>/<name>/log its combined stdout and stderr (kept, and
// copied to s3://<LogBucket>/<kind>-jobs/<name>/algo-1.log when the job ends).
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/store"
)

// Kind is a family of jobs.
type Kind string

// The job kinds the runner knows.
const (
	KindProcessing Kind = "processing"
	KindTraining   Kind = "training"
)

// arnType is the resource type of the kind's ARNs.
func (k Kind) arnType() string { return string(k) + "-job" }

// Job statuses (ProcessingJobStatus, TrainingJobStatus).
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
	StatusStopping   = "Stopping"
	StatusStopped    = "Stopped"
)

// Secondary statuses of training jobs (processing jobs use the same words in their timeline,
// with Processing for Training).
const (
	SecondaryStarting           = "Starting"
	SecondaryDownloading        = "Downloading"
	SecondaryTraining           = "Training"
	SecondaryProcessing         = "Processing"
	SecondaryUploading          = "Uploading"
	SecondaryStopping           = "Stopping"
	SecondaryStopped            = "Stopped"
	SecondaryMaxRuntimeExceeded = "MaxRuntimeExceeded"
	SecondaryCompleted          = "Completed"
	SecondaryFailed             = "Failed"
	SecondaryRestarting         = "Restarting"
)

// EventBridge detail types of job state changes.
const (
	EventProcessingJobStateChange = "SageMaker Processing Job State Change"
	EventTrainingJobStateChange   = "SageMaker Training Job State Change"
)

// Terminal reports whether a job status is final.
func Terminal(status string) bool {
	return status == StatusCompleted || status == StatusFailed || status == StatusStopped
}

// ErrNotFound is returned for a job that does not exist.
var ErrNotFound = errors.New("job not found")

// ErrInvalid is matched (errors.Is) by every *InvalidError.
var ErrInvalid = errors.New("invalid job request")

// InvalidError is a request the runner refuses, with a message a person can act on.
type InvalidError struct{ Msg string }

// Error returns the message.
func (e *InvalidError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// ExistsError is returned when a job of the same kind and name already exists.
type ExistsError struct{ ARN string }

// Error is SageMaker's message for a job name that is taken.
func (e *ExistsError) Error() string {
	return "Job name must be unique within an AWS account and region, and a job with this name already exists (" + e.ARN + ")"
}

// Defaults of Config.
const (
	DefaultSlots     = 4
	DefaultLogBucket = "sluice-logs"
	DefaultPoll      = 2 * time.Second
	DefaultLease     = time.Minute
	// DefaultMaxAttempts bounds how often a job is run again after server restarts.
	DefaultMaxAttempts = 3
)

// Config is what a Runner needs. Store, Blob, Catalog, Process and Dir are required.
type Config struct {
	Store   *store.Store
	Blob    blob.Store
	Catalog *runtime.Catalog
	Process *runtime.Process
	// Dir holds the jobs' workspaces and logs (<datadir>/jobs).
	Dir string
	// Slots is how many jobs run at once; default DefaultSlots.
	Slots int
	// Region and AccountID go into ARNs.
	Region    string
	AccountID string
	// LogBucket receives each job's log when it ends; default DefaultLogBucket.
	LogBucket string
	// StopGrace is the time between SIGTERM and SIGKILL when a job is stopped or exceeds its
	// maximum runtime; default runtime.DefaultStopGrace (SageMaker's 120 s).
	StopGrace time.Duration
	// Poll is how often the runner looks for work queued by other replicas, renews its claims
	// and checks for stop requests made elsewhere; default DefaultPoll.
	Poll time.Duration
	// Lease is how long a claim stays valid without a heartbeat before another runner takes
	// the job over; default DefaultLease.
	Lease time.Duration
	// MaxAttempts bounds the runs of one job across server restarts; default DefaultMaxAttempts.
	MaxAttempts int
	// Owner identifies this runner in claims; default: an ID kept in Dir/runner-id, so that a
	// restarted server recognises the jobs it was running.
	Owner string
	Log   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Runner creates, runs and reports jobs. Its methods are safe for concurrent use; Run drives
// the queue.
type Runner struct {
	cfg   Config
	store *store.Store
	blob  blob.Store
	log   *slog.Logger
	now   func() time.Time

	wake chan struct{}

	mu      sync.Mutex
	active  map[string]*active // by ARN
	running bool
	// executors run the kinds the runner does not run itself (RegisterExecutor).
	executors map[Kind]Executor
	// spares are cleaned workspaces of finished jobs, for the next jobs to reuse.
	spares *spares
}

// active is a job this runner is executing.
type active struct {
	mu       sync.Mutex
	handle   *runtime.Handle
	stop     bool               // a Stop call arrived
	cancel   context.CancelFunc // aborts staging when stopped before the process starts
	finished chan struct{}
}

// New checks cfg and returns a runner; nothing runs until Run.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("jobs: Config.Store is required")
	case cfg.Blob == nil:
		return nil, errors.New("jobs: Config.Blob is required")
	case cfg.Catalog == nil:
		return nil, errors.New("jobs: Config.Catalog is required")
	case cfg.Process == nil:
		return nil, errors.New("jobs: Config.Process is required")
	case cfg.Dir == "":
		return nil, errors.New("jobs: Config.Dir is required")
	}
	if cfg.Slots <= 0 {
		cfg.Slots = DefaultSlots
	}
	if cfg.LogBucket == "" {
		cfg.LogBucket = DefaultLogBucket
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = runtime.DefaultStopGrace
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	cfg.Dir = abs
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: create %s: %w", cfg.Dir, err)
	}
	if cfg.Owner == "" {
		cfg.Owner, err = runnerID(cfg.Dir)
		if err != nil {
			return nil, err
		}
	}
	sp, err := newSpares(cfg.Dir, cfg.Slots)
	if err != nil {
		return nil, err
	}
	return &Runner{
		spares: sp,
		cfg:    cfg,
		store:  cfg.Store,
		blob:   cfg.Blob,
		log:    cfg.Log,
		now:    cfg.Now,
		wake:   make(chan struct{}, 1),
		active: map[string]*active{},
	}, nil
}

// runnerID returns the ID kept in dir/runner-id, creating it on first use.
func runnerID(dir string) (string, error) {
	path := filepath.Join(dir, "runner-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [8]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	id := host + "-" + hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("jobs: runner id: %w", err)
	}
	return id, nil
}

// Slots is the number of jobs that run at once.
func (r *Runner) Slots() int { return r.cfg.Slots }

// ARN returns the ARN of the job of this kind and name.
func (r *Runner) ARN(kind Kind, name string) string {
	return fmt.Sprintf("arn:aws:sagemaker:%s:%s:%s/%s", r.cfg.Region, r.cfg.AccountID, kind.arnType(), strings.ToLower(name))
}

// Wake makes the loop look at the queue now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// jobDir is the folder of one job: its workspace and log.
func (r *Runner) jobDir(kind Kind, name string) string {
	return filepath.Join(r.cfg.Dir, string(kind), strings.ToLower(name))
}

// LogPath is the file that holds a job's log on this server.
func (r *Runner) LogPath(kind Kind, name string) string {
	return filepath.Join(r.jobDir(kind, name), "log")
}

// logURI is where a job's log is kept in the artifact store.
func (r *Runner) logURI(kind Kind, name string) blob.URI {
	return blob.URI{Bucket: r.cfg.LogBucket, Key: string(kind) + "-jobs/" + strings.ToLower(name) + "/algo-1.log"}
}
