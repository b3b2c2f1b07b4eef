//go:build linux

package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	return exe
}

func newProcess(t *testing.T, cfg ProcessConfig) *Process {
	t.Helper()
	if cfg.InitPath == "" {
		cfg.InitPath = testExecutable(t)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	return p
}

// nsProcess returns a runtime that uses namespaces, or skips loudly.
func nsProcess(t *testing.T) *Process {
	t.Helper()
	p := newProcess(t, ProcessConfig{})
	iso := p.Isolation(context.Background())
	if !iso.Mounts || !iso.Network {
		t.Skipf("SKIPPED: this host cannot give jobs namespaces, so /opt/ml and network isolation are untested: %s", iso.Reason)
	}
	return p
}

func helper(t *testing.T, name string, args ...string) Command {
	return Command{Path: testExecutable(t), Args: args, Env: []string{helperEnv + "=" + name}}
}

// run starts spec, waits for it and returns its exit and output.
func run(t *testing.T, p *Process, spec Spec) (Exit, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	spec.Stdout, spec.Stderr = &stdout, &stderr
	h, err := p.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	exit, err := h.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return exit, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProcessSeesWorkspaceAtOptML(t *testing.T) {
	p := nsProcess(t)
	_, hostHadOptML := os.Stat("/opt/ml")
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "input/config/hyperparameters.json"), `{"num_round":"50"}`)

	exit, out, errOut := run(t, p, Spec{Command: helper(t, "cat", "/opt/ml/input/config/hyperparameters.json"), Workspace: ws})
	if exit.Code != 0 || out != `{"num_round":"50"}` {
		t.Fatalf("exit %+v, stdout %q, stderr %q; want the workspace file at /opt/ml", exit, out, errOut)
	}
	if _, err := os.Stat("/opt/ml"); (err == nil) != (hostHadOptML == nil) {
		t.Errorf("the host's /opt/ml changed existence (before: %v, after: %v)", hostHadOptML, err)
	}
}

func TestProcessWritesLandInWorkspace(t *testing.T) {
	p := nsProcess(t)
	ws := t.TempDir()
	exit, _, errOut := run(t, p, Spec{Command: helper(t, "write", "/opt/ml/model/model.json", `{"trees":[]}`), Workspace: ws})
	if exit.Code != 0 {
		t.Fatalf("exit %+v, stderr %q", exit, errOut)
	}
	got, err := os.ReadFile(filepath.Join(ws, "model/model.json"))
	if err != nil || string(got) != `{"trees":[]}` {
		t.Fatalf("workspace model/model.json = %q, %v", got, err)
	}
}

func TestProcessKeepsHostOpt(t *testing.T) {
	p := nsProcess(t)
	host, err := os.ReadDir("/opt")
	if err != nil {
		t.Skipf("SKIPPED: no /opt on this host: %v", err)
	}
	var want []string
	for _, e := range host {
		want = append(want, e.Name())
	}
	if !slices.Contains(want, "ml") {
		want = append(want, "ml")
		slices.Sort(want)
	}
	exit, out, errOut := run(t, p, Spec{Command: helper(t, "ls", "/opt"), Workspace: t.TempDir()})
	if exit.Code != 0 {
		t.Fatalf("exit %+v, stderr %q", exit, errOut)
	}
	if got := strings.Fields(out); !slices.Equal(got, want) {
		t.Errorf("/opt in the job = %v, want the host's entries plus ml: %v", got, want)
	}
	// Entries under /opt are the host's, not empty mount points.
	for _, e := range host {
		if !e.IsDir() || e.Name() == "ml" {
			continue
		}
		hostSub, _ := os.ReadDir(filepath.Join("/opt", e.Name()))
		exit, out, _ := run(t, p, Spec{Command: helper(t, "ls", filepath.Join("/opt", e.Name())), Workspace: t.TempDir()})
		if exit.Code != 0 || len(strings.Fields(out)) != len(hostSub) {
			t.Errorf("/opt/%s in the job lists %q, the host has %d entries", e.Name(), out, len(hostSub))
		}
		break
	}
}

func TestProcessExitCode(t *testing.T) {
	p := nsProcess(t)
	for _, code := range []int{0, 1, 3, 42} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			exit, _, _ := run(t, p, Spec{Command: helper(t, "exit", strconv.Itoa(code)), Workspace: t.TempDir()})
			if exit != (Exit{Code: code}) {
				t.Errorf("exit = %+v, want code %d", exit, code)
			}
		})
	}
}

func TestProcessEnvironment(t *testing.T) {
	t.Setenv("SLUICE_TEST_SERVER_SECRET", "hunter2")
	p := nsProcess(t)
	cmd := helper(t, "env", "IMAGE_VAR", "JOB_VAR", "OVERRIDDEN", "SLUICE_OPT_ML", "SLUICE_TEST_SERVER_SECRET", "SM_MODEL_DIR")
	cmd.Env = append(cmd.Env, "IMAGE_VAR=image", "OVERRIDDEN=image")
	exit, out, errOut := run(t, p, Spec{
		Command:   cmd,
		Workspace: t.TempDir(),
		Env:       []string{"JOB_VAR=job", "OVERRIDDEN=job", "SM_MODEL_DIR=/opt/ml/model"},
	})
	if exit.Code != 0 {
		t.Fatalf("exit %+v, stderr %q", exit, errOut)
	}
	want := "IMAGE_VAR=image\nJOB_VAR=job\nOVERRIDDEN=job\nSLUICE_OPT_ML=/opt/ml\nSLUICE_TEST_SERVER_SECRET=<unset>\nSM_MODEL_DIR=/opt/ml/model\n"
	if out != want {
		t.Errorf("job environment:\n%s\nwant:\n%s", out, want)
	}
}

func TestProcessWorkingDirectory(t *testing.T) {
	p := nsProcess(t)
	tests := []struct {
		name, dir, want string
	}{
		{"default is /opt/ml", "", "/opt/ml"},
		{"script mode code dir", CodeDir, "/opt/ml/code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			os.Mkdir(filepath.Join(ws, "code"), 0o755)
			cmd := helper(t, "pwd")
			cmd.Dir = tt.dir
			exit, out, errOut := run(t, p, Spec{Command: cmd, Workspace: ws})
			if exit.Code != 0 || strings.TrimSpace(out) != tt.want {
				t.Errorf("exit %+v, pwd %q (stderr %q), want %q", exit, out, errOut, tt.want)
			}
		})
	}
}

func TestProcessStartErrors(t *testing.T) {
	p := nsProcess(t)
	ws := t.TempDir()
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"program not on PATH", Spec{Command: Command{Path: "no-such-program-sluice"}, Workspace: ws}, "not found in the job's PATH"},
		{"missing program path", Spec{Command: Command{Path: "/opt/ml/code/missing.sh"}, Workspace: ws}, "no such file"},
		{"missing working directory", Spec{Command: Command{Path: "/bin/true", Dir: "/opt/ml/code"}, Workspace: ws}, "working directory"},
		{"missing workspace", Spec{Command: Command{Path: "/bin/true"}, Workspace: filepath.Join(ws, "nope")}, "workspace"},
		{"relative workspace", Spec{Command: Command{Path: "/bin/true"}, Workspace: "ws"}, "not an absolute path"},
		{"empty command", Spec{Workspace: ws}, "command path is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := p.Start(context.Background(), tt.spec)
			if err == nil {
				exit, _ := h.Wait()
				t.Fatalf("Start succeeded (exit %+v), want an error mentioning %q", exit, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// pidFile waits for a helper to write a PID into path.
func pidFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatalf("pid file %s: %v", path, err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("helper never wrote %s", path)
	return 0
}

// waitGone waits for a process to disappear (or become a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d is still running", pid)
}

func TestProcessStopKillsProcessGroup(t *testing.T) {
	p := nsProcess(t)
	ws := t.TempDir()
	h, err := p.Start(context.Background(), Spec{Command: helper(t, "spawn", "/opt/ml/child.pid"), Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	child := pidFile(t, filepath.Join(ws, "child.pid"))
	h.Stop(10 * time.Second)
	exit, err := h.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !exit.Stopped || exit.Signal != syscall.SIGTERM || exit.Code != 143 || exit.TimedOut {
		t.Errorf("exit = %+v, want stopped by SIGTERM with code 143", exit)
	}
	waitGone(t, child)
	h.Stop(time.Second) // after the end: nothing to do, must not panic or signal
}

func TestProcessStopEscalatesToKill(t *testing.T) {
	p := nsProcess(t)
	ws := t.TempDir()
	h, err := p.Start(context.Background(), Spec{Command: helper(t, "ignore-term", "/opt/ml/ready"), Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	pidFileReady(t, filepath.Join(ws, "ready"))
	start := time.Now()
	h.Stop(300 * time.Millisecond)
	exit, _ := h.Wait()
	if exit.Signal != syscall.SIGKILL || exit.Code != 137 || !exit.Stopped {
		t.Errorf("exit = %+v, want SIGKILL (137) after the grace period", exit)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("killed after %v, before the grace period", d)
	}
}

func pidFileReady(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("helper never wrote %s", path)
}

func TestProcessEndKillsLeftoverChildren(t *testing.T) {
	modes := []struct {
		name  string
		modes []nsMode
	}{{"server thread", []nsMode{{inThread: true}}}, {"init shim", []nsMode{{}}}}
	for _, m := range modes {
		for _, how := range []string{"group", "setsid"} {
			t.Run(m.name+"/"+how, func(t *testing.T) {
				p := newProcess(t, ProcessConfig{})
				p.candidates = m.modes
				if iso := p.Isolation(context.Background()); !iso.Mounts {
					t.Skipf("SKIPPED: no mount namespaces here: %s", iso.Reason)
				}
				ws := t.TempDir()
				// A child that left the job's process group is in its mount namespace all the
				// same, and ends with the job, as in a container.
				exit, _, errOut := run(t, p, Spec{Command: helper(t, "spawn", "/opt/ml/child.pid", "exit", how), Workspace: ws})
				if exit.Code != 0 {
					t.Fatalf("exit %+v, stderr %q", exit, errOut)
				}
				waitGone(t, pidFile(t, filepath.Join(ws, "child.pid")))
			})
		}
	}
}

func TestProcessMaxRuntime(t *testing.T) {
	p := nsProcess(t)
	start := time.Now()
	exit, _, _ := run(t, p, Spec{Command: helper(t, "sleep"), Workspace: t.TempDir(), MaxRuntime: 200 * time.Millisecond, StopGrace: 5 * time.Second})
	if !exit.TimedOut || exit.Signal != syscall.SIGTERM {
		t.Errorf("exit = %+v, want timed out by SIGTERM", exit)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("job ended after %v, want just after 200ms", d)
	}
}

func TestProcessContextCancelKills(t *testing.T) {
	p := nsProcess(t)
	ctx, cancel := context.WithCancel(context.Background())
	h, err := p.Start(ctx, Spec{Command: helper(t, "sleep"), Workspace: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-h.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("job still running 10s after its context was cancelled")
	}
	exit, _ := h.Wait()
	if exit.Signal != syscall.SIGKILL {
		t.Errorf("exit = %+v, want SIGKILL", exit)
	}
}

func TestProcessNetworkIsolation(t *testing.T) {
	p := nsProcess(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := l.Addr().String()
	tests := []struct {
		name     string
		cmd      Command
		isolated bool
		wantCode int
	}{
		{"open job reaches the host listener", helper(t, "dial", addr), false, 0},
		{"isolated job cannot reach the host listener", helper(t, "dial", addr), true, 3},
		{"isolated job has a working loopback", helper(t, "loopback"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exit, out, errOut := run(t, p, Spec{Command: tt.cmd, Workspace: t.TempDir(), NetworkIsolation: tt.isolated})
			if exit.Code != tt.wantCode {
				t.Errorf("exit %+v, want %d; stdout %q stderr %q", exit, tt.wantCode, out, errOut)
			}
		})
	}
}

func TestProcessUserNamespace(t *testing.T) {
	p := newProcess(t, ProcessConfig{})
	p.candidates = []nsMode{{userns: true}}
	iso := p.Isolation(context.Background())
	if !iso.Mounts || !iso.UserNamespace {
		t.Skipf("SKIPPED: the kernel refuses user namespaces here, so unprivileged servers get no /opt/ml: %s", iso.Reason)
	}
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "input/data/train/x.csv"), "1,2\n")
	exit, out, errOut := run(t, p, Spec{Command: helper(t, "cat", "/opt/ml/input/data/train/x.csv"), Workspace: ws})
	if exit.Code != 0 || out != "1,2\n" {
		t.Fatalf("exit %+v, stdout %q, stderr %q", exit, out, errOut)
	}
	exit, _, errOut = run(t, p, Spec{Command: helper(t, "write", "/opt/ml/model/m", "ok"), Workspace: ws, NetworkIsolation: iso.Network})
	if b, err := os.ReadFile(filepath.Join(ws, "model/m")); exit.Code != 0 || err != nil || string(b) != "ok" {
		t.Fatalf("exit %+v (stderr %q), model/m = %q, %v", exit, errOut, b, err)
	}
}

func TestProcessWithoutNamespaces(t *testing.T) {
	p := newProcess(t, ProcessConfig{DisableNamespaces: true})
	iso := p.Isolation(context.Background())
	if iso.Mounts || iso.Network || iso.Reason == "" {
		t.Fatalf("Isolation = %+v, want none with a reason", iso)
	}
	ws := t.TempDir()

	_, err := p.Start(context.Background(), Spec{Command: helper(t, "exit", "0"), Workspace: ws, NetworkIsolation: true})
	if !errors.Is(err, ErrNetworkIsolationUnavailable) {
		t.Fatalf("Start with network isolation: %v, want ErrNetworkIsolationUnavailable", err)
	}

	// Hard-coded /opt/ml paths in arguments land in the workspace.
	exit, _, errOut := run(t, p, Spec{Command: helper(t, "write", "/opt/ml/model/model.json", "m"), Workspace: ws})
	if b, err := os.ReadFile(filepath.Join(ws, "model/model.json")); exit.Code != 0 || err != nil || string(b) != "m" {
		t.Fatalf("exit %+v (stderr %q), model.json = %q, %v", exit, errOut, b, err)
	}
	// So do /opt/ml paths in the environment, and the working directory.
	cmd := helper(t, "env", "SLUICE_OPT_ML", "SM_MODEL_DIR", "SM_TRAINING_ENV")
	exit, out, _ := run(t, p, Spec{Command: cmd, Workspace: ws, Env: []string{
		"SM_MODEL_DIR=/opt/ml/model", `SM_TRAINING_ENV={"model_dir":"/opt/ml/model","x":"/opt/mlx"}`,
	}})
	want := "SLUICE_OPT_ML=" + ws + "\nSM_MODEL_DIR=" + ws + "/model\nSM_TRAINING_ENV={\"model_dir\":\"" + ws + "/model\",\"x\":\"/opt/mlx\"}\n"
	if exit.Code != 0 || out != want {
		t.Errorf("env:\n%s\nwant:\n%s", out, want)
	}
	exit, out, _ = run(t, p, Spec{Command: helper(t, "pwd"), Workspace: ws})
	if exit.Code != 0 || strings.TrimSpace(out) != ws {
		t.Errorf("pwd = %q, want the workspace %s", out, ws)
	}

	// Stop still reaches the whole process group.
	h, err := p.Start(context.Background(), Spec{Command: helper(t, "spawn", "/opt/ml/child.pid"), Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	child := pidFile(t, filepath.Join(ws, "child.pid"))
	h.Stop(5 * time.Second)
	if exit, _ := h.Wait(); !exit.Stopped || exit.Signal != syscall.SIGTERM {
		t.Errorf("exit = %+v, want stopped by SIGTERM", exit)
	}
	waitGone(t, child)
}

func TestProcessProbeFailsWithoutShim(t *testing.T) {
	// A binary that does not implement runtime-init: jobs fall back to plain
	// processes and network isolation is refused.
	p := newProcess(t, ProcessConfig{InitPath: "/bin/false"})
	p.candidates = slices.DeleteFunc(p.candidates, nsMode.threaded)
	iso := p.Isolation(context.Background())
	if iso.Mounts || iso.Network || !strings.Contains(iso.Reason, "/bin/false") {
		t.Fatalf("Isolation = %+v, want none, naming the init binary", iso)
	}
	_, err := p.Start(context.Background(), Spec{Command: Command{Path: "/bin/true"}, Workspace: t.TempDir(), NetworkIsolation: true})
	if !errors.Is(err, ErrNetworkIsolationUnavailable) {
		t.Fatalf("Start: %v, want ErrNetworkIsolationUnavailable", err)
	}
}

func TestCatalogAndProcessRunBuiltin(t *testing.T) {
	p := nsProcess(t)
	c, err := NewCatalog(CatalogConfig{Executable: testExecutable(t)})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := c.Resolve(Request{Image: xgbURI, Mode: ModeTrain})
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "input/config/hyperparameters.json"), `{"max_depth":"5"}`)
	exit, out, errOut := run(t, p, Spec{Command: cmd, Workspace: ws, NetworkIsolation: true})
	if exit.Code != 0 || out != "algo xgboost train\n{\"max_depth\":\"5\"}" {
		t.Errorf("exit %+v, stdout %q, stderr %q", exit, out, errOut)
	}
}

func TestProcessJobDiesWithServer(t *testing.T) {
	nsProcess(t)
	ws := t.TempDir()
	server := exec.Command(testExecutable(t), ws)
	server.Env = append(os.Environ(), helperEnv+"=server")
	var stderr bytes.Buffer
	server.Stderr = &stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	job := pidFile(t, filepath.Join(ws, "job.pid"))
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	waitGone(t, job)
	if t.Failed() {
		t.Logf("server stderr: %s", stderr.String())
		syscall.Kill(job, syscall.SIGKILL)
	}
}

// TestProcessInitShim runs jobs through the init shim, which a server that may not create
// namespaces itself (one that is not root) relies on.
func TestProcessInitShim(t *testing.T) {
	p := newProcess(t, ProcessConfig{})
	p.candidates = []nsMode{{}}
	if iso := p.Isolation(context.Background()); !iso.Mounts || !iso.Network {
		t.Skipf("SKIPPED: this host cannot give jobs namespaces through the shim: %s", iso.Reason)
	}
	if p.mode.threaded() {
		t.Fatalf("mode %v, want the init shim", p.mode)
	}
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "input/config/hyperparameters.json"), `{"eta":"0.2"}`)
	tests := []struct {
		name     string
		spec     Spec
		wantCode int
		wantOut  string
	}{
		{"workspace at /opt/ml", Spec{Command: helper(t, "cat", "/opt/ml/input/config/hyperparameters.json")}, 0, `{"eta":"0.2"}`},
		{"working directory", Spec{Command: helper(t, "pwd")}, 0, "/opt/ml\n"},
		{"isolated job has loopback", Spec{Command: helper(t, "loopback"), NetworkIsolation: true}, 0, "connected\n"},
		{"exit code", Spec{Command: helper(t, "exit", "7")}, 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Workspace = ws
			exit, out, errOut := run(t, p, tt.spec)
			if exit.Code != tt.wantCode || out != tt.wantOut {
				t.Errorf("exit %+v, stdout %q (stderr %q), want code %d, stdout %q", exit, out, errOut, tt.wantCode, tt.wantOut)
			}
		})
	}
	_, err := p.Start(context.Background(), Spec{Command: Command{Path: "no-such-program-sluice"}, Workspace: ws})
	if err == nil || !strings.Contains(err.Error(), "not found in the job's PATH") {
		t.Errorf("Start of a missing program: %v, want it named as not found in the job's PATH", err)
	}
}

// TestProcessReleasesThreads checks that a root server, which holds each job's namespaces
// in an OS thread of its own, lets those threads go when the jobs end.
func TestProcessReleasesThreads(t *testing.T) {
	p := nsProcess(t)
	if !p.mode.threaded() {
		t.Skipf("SKIPPED: jobs start through the init shim here (%v), not from threads of the server", p.mode)
	}
	ws := t.TempDir()
	run(t, p, Spec{Command: Command{Path: "/bin/true"}, Workspace: ws})
	before := threadCount(t)
	const jobs = 40
	for range jobs {
		if exit, _, errOut := run(t, p, Spec{Command: Command{Path: "/bin/true"}, Workspace: ws, NetworkIsolation: true}); exit.Code != 0 {
			t.Fatalf("exit %+v, stderr %q", exit, errOut)
		}
	}
	// A released thread may take a moment to be torn down.
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := threadCount(t)
		if after < before+jobs/2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads went from %d to %d over %d jobs: the jobs' threads were kept", before, after, jobs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func threadCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestProcessDialsIntoAnIsolatedServer: a server started with network isolation cannot be
// reached from the host's network, but the runtime can still dial it through its Handle, the way
// the router reaches a model server of a model with EnableNetworkIsolation.
func TestProcessDialsIntoAnIsolatedServer(t *testing.T) {
	p := nsProcess(t)
	if err := p.ServerIsolation(context.Background()); err != nil {
		t.Skipf("SKIPPED: isolated servers cannot be reached here: %v", err)
	}
	// A port nothing on the host listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	h, err := p.Start(context.Background(), Spec{Command: helper(t, "listen", port), Workspace: t.TempDir(), NetworkIsolation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { h.Stop(0); h.Wait() }()

	var greeting string
	deadline := time.Now().Add(10 * time.Second)
	for greeting == "" {
		c, err := h.DialContext(context.Background(), "tcp", "127.0.0.1:"+port)
		if err == nil {
			b, _ := io.ReadAll(c)
			c.Close()
			greeting = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dialing the isolated server through its handle: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want := "hello from pid"; !strings.HasPrefix(greeting, want) {
		t.Fatalf("greeting %q, want %q…", greeting, want)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		c.Close()
		t.Fatal("the isolated server answered on the host's loopback")
	}
	// This goroutine's own dials are the host's again.
	if c, err := (&net.Dialer{}).Dial("tcp", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Fatal("a later plain dial reached the isolated server: a thread kept its namespace")
	}
}
