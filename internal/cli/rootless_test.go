//go:build linux

package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// lockedBuffer collects a process's output for a test that reads it meanwhile.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRootlessServer runs `sluice server` as an unprivileged user (nobody): it runs itself again
// as root of a user namespace of its own, so jobs start from a server thread without the init
// shim, see their workspace at /opt/ml and get network isolation; SIGTERM stops it cleanly.
func TestRootlessServer(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("SKIPPED: needs root and setpriv to run the server as another, unprivileged user")
	}
	// Everything the unprivileged server touches must be open to it.
	dir, err := os.MkdirTemp("", "sluice-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sluice")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte("jobs:\n  images:\n    test/sh: /bin/sh -c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, home} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	srv := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "server", "--home", home, "--listen", addr, "--config", cfgFile)
	srv.Env = append(os.Environ(), mainEnv+"=1", "HOME="+home)
	var out lockedBuffer
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Process.Kill()
			srv.Wait()
		}
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "sluice server started"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not start")
		}
	}

	ctx := context.Background()
	g := &globals{home: home, output: "table", stdout: io.Discard, stderr: io.Discard}
	conn, err := g.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := conn.sagemaker()
	if _, err := c.CreateProcessingJob(ctx, &sm.CreateProcessingJobInput{
		ProcessingJobName: aws.String("rootless"), RoleArn: aws.String("arn:aws:iam::000000000000:role/x"),
		AppSpecification: &types.AppSpecification{ImageUri: aws.String("test/sh"), ContainerArguments: []string{
			`id -u; test -f /opt/ml/config/processingjobconfig.json && echo opt-ml; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`}},
		ProcessingResources: &types.ProcessingResources{ClusterConfig: &types.ProcessingClusterConfig{InstanceCount: aws.Int32(1),
			InstanceType: types.ProcessingInstanceTypeMlM5Large, VolumeSizeInGB: aws.Int32(1)}},
		NetworkConfig: &types.NetworkConfig{EnableNetworkIsolation: aws.Bool(true)},
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		j, err := c.DescribeProcessingJob(ctx, &sm.DescribeProcessingJobInput{ProcessingJobName: aws.String("rootless")})
		if err != nil {
			t.Fatal(err)
		}
		if j.ProcessingJobStatus == types.ProcessingJobStatusCompleted {
			break
		}
		if j.ProcessingJobStatus == types.ProcessingJobStatusFailed || time.Now().After(deadline) {
			t.Fatalf("job %s: %s", j.ProcessingJobStatus, aws.ToString(j.FailureReason))
		}
	}
	var logs bytes.Buffer
	if code := Run(ctx, []string{"--home", home, "jobs", "logs", "rootless"}, &logs, io.Discard); code != 0 {
		t.Fatalf("jobs logs: exit %d", code)
	}
	// uid 0 inside, which is nobody outside; the workspace at /opt/ml; only loopback.
	if got := strings.Join(strings.Fields(logs.String())[:3], " "); got != "0 opt-ml lo" {
		t.Fatalf("the job printed %q, want \"0 opt-ml lo\"; log:\n%s", got, logs.String())
	}
	if !strings.Contains(out.String(), `made_by="server thread"`) {
		t.Fatal("the server's jobs did not start from a server thread")
	}
	// Files the server made belong to the user outside.
	fi, err := os.Stat(filepath.Join(home, "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
		t.Fatalf("sluice.db belongs to uid %d, want 65534", st.Uid)
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil || !strings.Contains(out.String(), "shutting down") {
			t.Fatalf("stopping: %v (exit %s)", err, strconv.Quote(srv.ProcessState.String()))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop on SIGTERM")
	}
}
