package jobs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/store"
)

func TestRunningJobRunsAgainAfterARestart(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "first-attempt")
	h := newHarness(t, nil)
	// The first attempt hangs; the second one, which finds the marker, completes.
	script := `if [ -e ` + marker + ` ]; then echo second; echo done > /opt/ml/model/m.txt; else touch ` + marker + `; echo first; sleep 60; fi`
	h.createTraining(training("survivor", script))
	h.createProcessing(processing("queued-behind", "echo queued ran"))
	h.createProcessing(processing("queued-behind-2", "echo queued ran"))
	arn := h.runner.ARN(jobs.KindTraining, "survivor")
	first := h.waitRunning(arn)
	waitFor(t, "the first attempt to start", func() bool { return strings.Contains(h.log(jobs.KindTraining, "survivor"), "first") })

	h.stop() // the server goes away mid-job
	if !waitGone(first.PID) {
		t.Fatalf("the job's process group %d outlived the runner", first.PID)
	}
	row, _ := h.store.Job(context.Background(), arn)
	if row.Phase != store.JobRunning || row.Status != jobs.StatusInProgress {
		t.Fatalf("after the stop the job is %s/%s; it must stay claimed for the next start", row.Phase, row.Status)
	}

	h2 := startHarness(t, h.cfg, h.blob) // same data folder, same store: a restart
	j := h2.waitTraining("survivor")
	if j.TrainingJobStatus != jobs.StatusCompleted || j.Attempt != 2 {
		t.Fatalf("after restart: %s (attempt %d) %q", j.TrainingJobStatus, j.Attempt, j.FailureReason)
	}
	tl := statuses(j.SecondaryStatusTransitions)
	if !strings.HasPrefix(tl, "Starting,Downloading,Training,Restarting,Starting,Downloading,Training,Uploading,Completed") {
		t.Errorf("transitions %s", tl)
	}
	var msg string
	for _, tr := range j.SecondaryStatusTransitions {
		if tr.Status == jobs.SecondaryRestarting {
			msg = tr.StatusMessage
		}
	}
	if !strings.Contains(msg, "Restarted after the server restarted") {
		t.Errorf("restart message %q", msg)
	}
	log := h2.log(jobs.KindTraining, "survivor")
	if !strings.Contains(log, "first") || !strings.Contains(log, "attempt 2") || !strings.Contains(log, "second") {
		t.Errorf("log keeps both attempts: %q", log)
	}
	for _, n := range []string{"queued-behind", "queued-behind-2"} {
		if p := h2.waitProcessing(n); p.ProcessingJobStatus != jobs.StatusCompleted {
			t.Errorf("%s: %s", n, p.ProcessingJobStatus)
		}
	}
}

func waitGone(pgid int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// markRunning makes a created job look as if a runner had been running it when the server died.
func markRunning(t *testing.T, st *store.Store, arn string, edit func(j *store.Job)) {
	t.Helper()
	ctx := context.Background()
	err := st.InTx(ctx, func(tx *store.Tx) error {
		j, err := tx.JobForUpdate(ctx, arn)
		if err != nil {
			return err
		}
		j.Phase, j.Attempt, j.HeartbeatAt = store.JobRunning, 1, time.Now()
		edit(&j)
		return tx.UpdateJob(ctx, &j)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startGroup starts a sleeping process group with extra environment, standing for processes
// that outlived the server.
func startGroup(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd
}

func TestRecoveryDecisions(t *testing.T) {
	arn := "arn:aws:sagemaker:us-east-1:000000000000:processing-job/recover"
	foreign := startGroup(t)
	leftover := startGroup(t, "SLUICE_JOB_ARN="+arn)

	cases := []struct {
		name       string
		edit       func(j *store.Job)
		wantStatus string
		wantReason string
		wantRuns   bool
	}{
		{"own job, process gone", func(j *store.Job) { j.Owner, j.PID = "me", 0 }, jobs.StatusCompleted, "", true},
		{"own job, leftover children are ended", func(j *store.Job) { j.Owner, j.PID = "me", leftover.Process.Pid }, jobs.StatusCompleted, "", true},
		{"own job, group ID reused by others", func(j *store.Job) { j.Owner, j.PID = "me", foreign.Process.Pid }, jobs.StatusCompleted, "", true},
		{"own job, out of attempts", func(j *store.Job) { j.Owner, j.Attempt = "me", jobs.DefaultMaxAttempts }, jobs.StatusFailed, "attempts", false},
		{"own job, stop requested", func(j *store.Job) { j.Owner, j.StopRequested, j.Status = "me", true, jobs.StatusStopping }, jobs.StatusStopped, "stopped while", false},
		{"abandoned by another runner", func(j *store.Job) { j.Owner, j.HeartbeatAt = "other", time.Now().Add(-time.Hour) }, jobs.StatusCompleted, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil, func(cfg *jobs.Config) { cfg.Owner = "me" })
			h.stop()
			r, err := jobs.New(h.cfg)
			if err != nil {
				t.Fatal(err)
			}
			arn, err := r.CreateProcessingJob(context.Background(), processing("recover", "echo ran"))
			if err != nil {
				t.Fatal(err)
			}
			markRunning(t, h.store, arn, c.edit)
			h2 := startHarness(t, h.cfg, h.blob)
			j := h2.waitProcessing("recover")
			if j.ProcessingJobStatus != c.wantStatus || !strings.Contains(j.FailureReason, c.wantReason) {
				t.Fatalf("got %s %q, want %s with %q", j.ProcessingJobStatus, j.FailureReason, c.wantStatus, c.wantReason)
			}
			if ran := strings.Contains(h2.log(jobs.KindProcessing, "recover"), "ran"); ran != c.wantRuns {
				t.Errorf("job ran again: %v, want %v", ran, c.wantRuns)
			}
			if !groupAlive(foreign.Process.Pid) {
				t.Errorf("recovery killed a process group that was not the job's")
			}
		})
	}
}

func TestLiveClaimOfAnotherRunnerIsLeftAlone(t *testing.T) {
	h := newHarness(t, nil, func(cfg *jobs.Config) { cfg.Owner = "me"; cfg.Lease = time.Hour })
	h.stop()
	r, _ := jobs.New(h.cfg)
	arn, err := r.CreateProcessingJob(context.Background(), processing("busy-elsewhere", "echo ran"))
	if err != nil {
		t.Fatal(err)
	}
	markRunning(t, h.store, arn, func(j *store.Job) { j.Owner = "other" })
	h2 := startHarness(t, h.cfg, h.blob)
	time.Sleep(300 * time.Millisecond)
	j, _ := h2.runner.DescribeProcessingJob(context.Background(), "busy-elsewhere")
	if j.ProcessingJobStatus != jobs.StatusInProgress || j.Attempt != 1 {
		t.Errorf("a job another live runner holds was touched: %s attempt %d", j.ProcessingJobStatus, j.Attempt)
	}
}

func TestLeftoverChildrenOfAJobAreEnded(t *testing.T) {
	arn := "arn:aws:sagemaker:us-east-1:000000000000:processing-job/recover"
	h := newHarness(t, nil, func(cfg *jobs.Config) { cfg.Owner = "me" })
	h.stop()
	r, _ := jobs.New(h.cfg)
	if _, err := r.CreateProcessingJob(context.Background(), processing("recover", "echo ran")); err != nil {
		t.Fatal(err)
	}
	leftover := startGroup(t, "SLUICE_JOB_ARN="+arn)
	markRunning(t, h.store, arn, func(j *store.Job) { j.Owner, j.PID = "me", leftover.Process.Pid })
	h2 := startHarness(t, h.cfg, h.blob)
	if j := h2.waitProcessing("recover"); j.ProcessingJobStatus != jobs.StatusCompleted || j.Attempt != 2 {
		t.Fatalf("%s attempt %d %q", j.ProcessingJobStatus, j.Attempt, j.FailureReason)
	}
	if !waitGone(leftover.Process.Pid) {
		t.Errorf("the job's leftover process group %d is still alive", leftover.Process.Pid)
	}
}
