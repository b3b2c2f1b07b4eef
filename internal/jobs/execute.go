package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/store"
)

// maxReason is SageMaker's limit on FailureReason and ExitMessage.
const maxReason = 1024

// jobEnvVar carries the job's ARN in its environment, which lets a restarted server recognise
// the job's leftover processes.
const jobEnvVar = "SLUICE_JOB_ARN"

// errLostClaim means another runner took the job over; this execution must leave it alone.
var errLostClaim = errors.New("jobs: the job's claim was taken over")

// execution is one run of a claimed job.
type execution struct {
	r       *Runner
	kind    Kind
	arn     string
	name    string
	attempt int
	// runCtx ends when the runner stops; jobCtx also ends when a stop arrives before the
	// process runs.
	runCtx, jobCtx context.Context
	a              *active
	dir            string // the job's folder
	ml             string // the job's /opt/ml
	log            *logSink
	metrics        *metricScanner
	// written are the files the runner wrote into the workspace, dirs the skeleton folders
	// it made, and stale the files a reused workspace held that are not yet written again.
	written map[string]os.FileInfo
	dirs    []string
	stale   map[string]bool
}

// outcome is how an execution ended.
type outcome struct {
	status, secondary, message string
	reason, exitMessage        string
	exitCode                   *int
	model                      string
}

func failed(format string, args ...any) outcome {
	msg := fmt.Sprintf(format, args...)
	return outcome{status: StatusFailed, secondary: SecondaryFailed, message: firstLine(msg), reason: msg}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// execute runs a claimed job to its end. When the runner stops meanwhile, the job is left
// claimed for the next start to run again.
func (r *Runner) execute(runCtx, jobCtx context.Context, j store.Job, a *active) {
	x := &execution{
		r: r, kind: Kind(j.Kind), arn: j.ARN, name: j.Name, attempt: j.Attempt,
		runCtx: runCtx, jobCtx: jobCtx, a: a,
		dir: r.jobDir(Kind(j.Kind), j.Name),
	}
	x.ml = filepath.Join(x.dir, "ml")
	var out outcome
	var err error
	switch x.kind {
	case KindProcessing:
		out, err = x.processing(j)
	case KindTraining:
		out, err = x.training(j)
	default:
		if ex := r.executor(x.kind); ex != nil {
			out, err = x.external(ex, j.Spec)
		} else {
			out = unknownKind(j.Kind)
		}
	}
	if x.log != nil {
		if out.status != "" && err == nil {
			if out.reason != "" {
				x.log.note("the job ended: %s: %s", out.status, firstLine(out.reason))
			} else {
				x.log.note("the job ended: %s", out.status)
			}
		}
		x.log.Close()
	}
	if err != nil && (errors.Is(err, errLostClaim) || runCtx.Err() != nil) {
		r.log.Info("jobs: left an interrupted job for the next start", "job", j.ARN, "reason", err.Error())
		return
	}
	if err != nil {
		out = failed("InternalServerError: %v", err)
	}
	r.finish(runCtx, x, out)
}

// begin prepares a fresh workspace and opens the log.
func (x *execution) begin(metrics *metricScanner) error {
	x.metrics = metrics
	if err := x.prepareWorkspace(); err != nil {
		return err
	}
	logPath := filepath.Join(x.dir, "log")
	if err := unlinkStoredLog(logPath); err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	log, err := openLog(logPath, metrics, x.r.now)
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	x.log = log
	if x.attempt > 1 {
		x.log.note("attempt %d: the job runs again from the start after an interruption", x.attempt)
	}
	return nil
}

// step records the next step of the job's timeline, after edit changed the row. When a stop
// was requested meanwhile, the status stays Stopping and the stop is passed on.
func (x *execution) step(status, msg string, at time.Time, edit func(rec *record)) error {
	stop := false
	_, err := x.r.update(x.runCtx, x.arn, func(rec *record) error {
		if rec.Phase != store.JobRunning || rec.Owner != x.r.cfg.Owner {
			return errLostClaim
		}
		if edit != nil {
			edit(rec)
		}
		if rec.StopRequested {
			stop = true
			return nil
		}
		rec.transition(status, msg, at)
		return nil
	})
	if stop {
		x.r.signalStop(x.arn)
	}
	return err
}

// stopped reports whether a stop was requested.
func (x *execution) stopped() bool {
	x.a.mu.Lock()
	defer x.a.mu.Unlock()
	return x.a.stop
}

func stoppedOutcome() outcome {
	return outcome{status: StatusStopped, secondary: SecondaryStopped, message: "The job was stopped."}
}

// host maps a path the job sees to the workspace.
func (x *execution) host(jobPath string) (string, error) {
	return runtime.HostPath(x.ml, jobPath)
}

// stage downloads one input into dir (a host path).
func (x *execution) stage(uri, dataType, dir string) error {
	u, err := blob.ParseURI(uri)
	if err != nil {
		return err
	}
	switch dataType {
	case "ManifestFile":
		err = blob.DownloadManifest(x.jobCtx, x.r.blob, u, dir, nil)
	default:
		err = blob.DownloadPrefix(x.jobCtx, x.r.blob, u, dir, nil)
	}
	if errors.Is(err, blob.ErrNotExist) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("No S3 objects found under S3 URL %q given in input data source. Please ensure that the bucket exists and that objects exist under that S3 prefix (%v)", uri, err)
	}
	return err
}

// runProcess starts the job's process, records the start, and waits for the end.
func (x *execution) runProcess(cmd runtime.Command, env []string, isolate bool, maxRuntime int32, runStep, runMsg string) (runtime.Exit, time.Time, error) {
	if err := x.settle(); err != nil {
		return runtime.Exit{}, time.Time{}, err
	}
	spec := runtime.Spec{
		Command:          cmd,
		Workspace:        x.ml,
		Env:              append(env, jobEnvVar+"="+x.arn),
		NetworkIsolation: isolate,
		StopGrace:        x.r.cfg.StopGrace,
		Stdout:           x.log,
		Stderr:           x.log,
	}
	if maxRuntime > 0 {
		spec.MaxRuntime = time.Duration(maxRuntime) * time.Second
	}
	h, err := x.r.cfg.Process.Start(x.jobCtx, spec)
	if err != nil {
		return runtime.Exit{}, time.Time{}, err
	}
	started := x.r.now().UTC()
	x.a.mu.Lock()
	x.a.handle = h
	stop := x.a.stop
	x.a.mu.Unlock()
	if stop {
		h.Stop(x.r.cfg.StopGrace)
	}
	if err := x.step(runStep, runMsg, started, func(rec *record) {
		rec.PID, rec.StartedAt = h.PID(), started
	}); err != nil {
		// The exit that follows is reported as the runner's context dictates.
		h.Stop(0)
		h.Wait()
		return runtime.Exit{}, time.Time{}, err
	}
	exit, err := h.Wait()
	exited := x.r.now().UTC()
	x.a.mu.Lock()
	x.a.handle = nil
	x.a.mu.Unlock()
	return exit, exited, err
}

// exitOutcome classifies a finished process. A zero exit is Completed, which the caller may
// still turn into a failure if the uploads fail.
func (x *execution) exitOutcome(exit runtime.Exit, maxRuntime int32, kindWord string) outcome {
	code := exit.Code
	switch {
	case exit.TimedOut:
		msg := fmt.Sprintf("MaxRuntimeExceeded: the %s job ran for longer than StoppingCondition.MaxRuntimeInSeconds (%d s) and was stopped.", kindWord, maxRuntime)
		return outcome{status: StatusStopped, secondary: SecondaryMaxRuntimeExceeded, message: msg, reason: msg, exitCode: &code}
	case x.stopped():
		o := stoppedOutcome()
		o.exitCode = &code
		return o
	case code == 0:
		return outcome{status: StatusCompleted, secondary: SecondaryCompleted, message: capitalize(kindWord) + " job completed", exitCode: &code}
	}
	reason := readReason(filepath.Join(x.ml, "output", "failure"))
	if reason == "" {
		how := fmt.Sprintf("exited with code %d", code)
		if exit.Signal != 0 {
			how = fmt.Sprintf("was killed by signal %d (%s)", int(exit.Signal), exit.Signal)
		}
		reason = fmt.Sprintf("AlgorithmError: the %s job's process %s and wrote no /opt/ml/output/failure; see its log (sluice jobs logs %s).", kindWord, how, x.name)
	}
	return outcome{status: StatusFailed, secondary: SecondaryFailed, message: capitalize(kindWord) + " job failed", reason: reason, exitCode: &code}
}

// readReason reads a failure or message file the job wrote, clipped to SageMaker's limit.
func readReason(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxReason*4))
	return clip(strings.TrimSpace(string(b)), maxReason)
}

// clip shortens s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// finish copies the job's log to the artifact store, writes its terminal status and removes its
// workspace.
func (r *Runner) finish(ctx context.Context, x *execution, out outcome) {
	ctx = context.WithoutCancel(ctx)
	metrics := x.metrics.final()
	// The log is in the artifact store before the job is reported as ended.
	if err := r.uploadLog(ctx, x.kind, x.name); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("jobs: copying a job's log to the artifact store", "job", x.arn, slog.Any("error", err))
	}
	_, err := r.update(ctx, x.arn, func(rec *record) error {
		if rec.Phase != store.JobRunning || rec.Owner != r.cfg.Owner {
			return errNoChange
		}
		if out.status != StatusStopped && (rec.StopRequested || rec.Status == StatusStopping) && out.status != StatusCompleted {
			out.status, out.secondary = StatusStopped, SecondaryStopped
		}
		now := r.now().UTC()
		rec.Status, rec.Phase, rec.EndedAt, rec.PID = out.status, store.JobDone, now, 0
		rec.FailureReason = clip(out.reason, maxReason)
		rec.ExitMessage = clip(out.exitMessage, maxReason)
		if out.model != "" {
			rec.result.ModelArtifacts = out.model
		}
		rec.result.Metrics = metrics
		rec.result.ExitCode = out.exitCode
		rec.transition(out.secondary, out.message, now)
		return nil
	})
	if err != nil {
		r.log.Error("jobs: recording the end of a job", "job", x.arn, slog.Any("error", err))
		return
	}
	if err := x.releaseWorkspace(); err != nil {
		r.log.Warn("jobs: removing a job's workspace", "job", x.arn, slog.Any("error", err))
	}
}
