package jobs_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/cli"
	"github.com/sluice-ml/sluice/internal/store"
)

// serverEnv makes the test binary run `sluice` with its arguments, so that a test can start a
// real server process and kill it.
const serverEnv = "SLUICE_JOBS_TEST_SERVER"

func runServer(args []string) int {
	return cli.Run(context.Background(), args, os.Stdout, os.Stderr)
}

// groupAlive reports whether a process group still has live (not zombie) members.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return false
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == fmt.Sprint(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// serverProcess is `sluice server` running as a child process of the test.
type serverProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startServerProcess(t *testing.T, home, addr, configFile string) *serverProcess {
	t.Helper()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "server", "--home", home, "--listen", addr, "--config", configFile)
	cmd.Env = append(os.Environ(), serverEnv+"=1", "SLUICE_LOG_LEVEL=warn")
	log, err := os.OpenFile(filepath.Join(home, "..", filepath.Base(home)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("the server exited during start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL, as a crash or an OOM kill would.
func (p *serverProcess) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// rootKey reads the access key the server wrote into its data folder.
func rootKey(t *testing.T, home string) (string, string) {
	t.Helper()
	f, err := os.Open(filepath.Join(home, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var id, secret string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	return id, secret
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKilledServerLosesNoJob kills a real server process with SIGKILL while one job runs and
// another waits in the queue, starts it again, and checks that both jobs complete.
func TestKilledServerLosesNoJob(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	marker := filepath.Join(dir, "first-attempt")
	cfgFile := filepath.Join(dir, "sluice.yaml")
	os.WriteFile(cfgFile, []byte("jobs:\n  slots: 1\n  images:\n    test/sh: /bin/sh -c\n"), 0o644)
	addr := freeAddr(t)
	srv := startServerProcess(t, home, addr, cfgFile)

	id, secret := rootKey(t, home)
	client := sm.New(sm.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	// The first attempt starts a child and hangs; the attempt after the restart completes.
	script := fmt.Sprintf(`if [ -e %[1]s ]; then echo second; echo ok > $SM_MODEL_DIR/m.txt; else touch %[1]s; sleep 120 & echo first; wait; fi`, marker)
	_, err := client.CreateTrainingJob(ctx, &sm.CreateTrainingJobInput{
		TrainingJobName:        aws.String("crash-survivor"),
		RoleArn:                aws.String("arn:aws:iam::000000000000:role/r"),
		AlgorithmSpecification: &types.AlgorithmSpecification{TrainingImage: aws.String("test/sh"), TrainingInputMode: types.TrainingInputModeFile, ContainerArguments: []string{script}},
		OutputDataConfig:       &types.OutputDataConfig{S3OutputPath: aws.String("s3://models/out")},
		ResourceConfig:         &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(1)},
		StoppingCondition:      &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(600)},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.CreateProcessingJob(ctx, &sm.CreateProcessingJobInput{
		ProcessingJobName: aws.String("queued-at-crash"),
		RoleArn:           aws.String("arn:aws:iam::000000000000:role/r"),
		AppSpecification:  &types.AppSpecification{ImageUri: aws.String("test/sh"), ContainerArguments: []string{"echo queued job ran"}},
		ProcessingResources: &types.ProcessingResources{ClusterConfig: &types.ProcessingClusterConfig{
			InstanceCount: aws.Int32(1), InstanceType: types.ProcessingInstanceTypeMlM5Large, VolumeSizeInGB: aws.Int32(1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(home, "jobs", "training", "crash-survivor", "log")
	waitFor(t, "the first attempt to start", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "first")
	})

	srv.kill()

	st, err := store.Open(ctx, "", home, nil)
	if err != nil {
		t.Fatal(err)
	}
	row, err := st.Job(ctx, "arn:aws:sagemaker:us-east-1:000000000000:training-job/crash-survivor")
	st.Close()
	if err != nil || row.Phase != store.JobRunning || row.PID == 0 {
		t.Fatalf("after the crash the job row is %+v, %v", row, err)
	}
	// The job's own process dies with the server; the child it started in the background lives
	// on, and the restarted server must end it before running the job again.
	if !groupAlive(row.PID) {
		t.Fatalf("the job's background child should have outlived the server (process group %d)", row.PID)
	}

	startServerProcess(t, home, addr, cfgFile)
	deadline := time.Now().Add(60 * time.Second)
	var tr *sm.DescribeTrainingJobOutput
	for {
		tr, err = client.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("crash-survivor")})
		if err != nil {
			t.Fatal(err)
		}
		if tr.TrainingJobStatus != types.TrainingJobStatusInProgress || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	if tr.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("after the restart: %s %q\n%s", tr.TrainingJobStatus, aws.ToString(tr.FailureReason), log)
	}
	var restarted string
	for _, s := range tr.SecondaryStatusTransitions {
		if s.Status == types.SecondaryStatusRestarting {
			restarted = aws.ToString(s.StatusMessage)
		}
	}
	if !strings.Contains(restarted, "Restarted after the server restarted") {
		t.Errorf("no Restarting transition: %+v", tr.SecondaryStatusTransitions)
	}
	if !strings.Contains(string(log), "first") || !strings.Contains(string(log), "second") {
		t.Errorf("log:\n%s", log)
	}
	if groupAlive(row.PID) {
		t.Errorf("the first attempt's process group %d is still alive", row.PID)
	}
	for time.Now().Before(deadline) {
		p, err := client.DescribeProcessingJob(ctx, &sm.DescribeProcessingJobInput{ProcessingJobName: aws.String("queued-at-crash")})
		if err != nil {
			t.Fatal(err)
		}
		if p.ProcessingJobStatus == types.ProcessingJobStatusCompleted {
			return
		}
		if p.ProcessingJobStatus != types.ProcessingJobStatusInProgress {
			t.Fatalf("queued job: %s %q", p.ProcessingJobStatus, aws.ToString(p.FailureReason))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the job queued at the crash never completed")
}
