package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// InitCommand is the hidden sluice subcommand that prepares a job's namespaces
// and execs the job. The CLI wires it to [InitMain].
const InitCommand = "runtime-init"

// OptMLEnvVar names, in every job's environment, where /opt/ml is: "/opt/ml"
// itself in a mount namespace, the workspace folder otherwise.
const OptMLEnvVar = "SLUICE_OPT_ML"

// DefaultStopGrace is how long a job has between SIGTERM and SIGKILL when it
// exceeds its maximum runtime, as on SageMaker.
const DefaultStopGrace = 120 * time.Second

// ErrNetworkIsolationUnavailable is returned by Start for a job that asks for
// network isolation where the kernel cannot provide it.
var ErrNetworkIsolationUnavailable = errors.New("network isolation is unavailable on this host")

// ProcessConfig configures a [Process] runtime.
type ProcessConfig struct {
	// InitPath is the executable that implements [InitCommand] (the sluice
	// binary); default os.Executable().
	InitPath string
	// InitArgs are the arguments that select the init shim; default
	// []string{InitCommand}.
	InitArgs []string
	// BaseEnv is the environment every job starts from. Default: PATH, HOME,
	// USER, LOGNAME, LANG, LC_ALL, LC_CTYPE, TZ and TMPDIR of the server's
	// environment; the server's other variables (credentials, DSNs) never reach
	// a job.
	BaseEnv []string
	// DisableNamespaces runs jobs as plain processes even where the kernel
	// provides namespaces.
	DisableNamespaces bool
	// Logger receives the result of the isolation probe; default slog.Default().
	Logger *slog.Logger
}

// Isolation is what the host can give a job, found by a probe the first time it
// is needed.
type Isolation struct {
	// Mounts is true when jobs run in their own mount namespace with the
	// workspace at /opt/ml.
	Mounts bool
	// Network is true when jobs asking for network isolation run in an empty
	// network namespace.
	Network bool
	// UserNamespace is true when a user namespace is needed to get the above
	// (the server is not privileged).
	UserNamespace bool
	// Reason says why something is unavailable; empty when everything is.
	Reason string
}

// Process runs jobs as local processes. It is safe for concurrent use.
type Process struct {
	initPath string
	initArgs []string
	baseEnv  []string
	log      *slog.Logger
	disable  bool

	// candidates are the namespace setups to probe, in order of preference.
	candidates []nsMode

	probeOnce sync.Once
	iso       Isolation
	mode      nsMode

	spawnOnce sync.Once
	spawns    chan spawn

	ownNSOnce sync.Once
	ownNS     string
}

// ownMountNS is the server's own mount namespace, read once.
func (p *Process) ownMountNS() string {
	p.ownNSOnce.Do(func() { p.ownNS = mountNamespace(os.Getpid()) })
	return p.ownNS
}

// spawn is a request to the spawner thread.
type spawn struct {
	cmd  *exec.Cmd
	done chan error
}

// NewProcess returns a process runtime.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	p := &Process{
		initPath:   cfg.InitPath,
		initArgs:   cfg.InitArgs,
		baseEnv:    cfg.BaseEnv,
		log:        cfg.Logger,
		disable:    cfg.DisableNamespaces,
		candidates: defaultCandidates(),
	}
	if p.initPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("runtime: finding the sluice executable for %s: %w", InitCommand, err)
		}
		p.initPath = exe
	}
	if p.initArgs == nil {
		p.initArgs = []string{InitCommand}
	}
	if p.baseEnv == nil {
		p.baseEnv = DefaultBaseEnv(os.Environ())
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// DefaultBaseEnv keeps the variables of environ that a program needs to run and
// nothing that could carry the server's secrets.
func DefaultBaseEnv(environ []string) []string {
	keep := []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}
	var out []string
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok && slices.Contains(keep, k) {
			out = append(out, kv)
		}
	}
	if !slices.ContainsFunc(out, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		out = append(out, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return out
}

// Isolation probes, once, what the host can give jobs and reports it.
func (p *Process) Isolation(ctx context.Context) Isolation {
	p.probeOnce.Do(func() {
		if p.disable {
			p.iso = Isolation{Reason: "namespaces are disabled by configuration"}
			return
		}
		// The result is shared by every later caller, so one caller's
		// cancellation must not decide it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		p.iso, p.mode = p.probe(ctx)
		if p.iso.Mounts && p.iso.Network {
			p.log.Info("runtime: jobs run in namespaces", slog.String("made_by", p.mode.String()), slog.Bool("user_namespace", p.iso.UserNamespace))
		} else {
			p.log.Warn("runtime: job isolation is limited",
				slog.Bool("opt_ml_mount", p.iso.Mounts), slog.Bool("network_isolation", p.iso.Network),
				slog.String("reason", p.iso.Reason))
		}
	})
	return p.iso
}

// Spec describes one job or model server process.
type Spec struct {
	// Command is what to run (usually from [Catalog.Resolve]).
	Command Command
	// Workspace is the host folder that the job sees as /opt/ml. It must exist.
	Workspace string
	// Env holds "KEY=value" entries added after Command.Env (later entries win):
	// the job's Environment and, for training, [TrainingEnv].
	Env []string
	// NetworkIsolation runs the job with no network at all
	// (EnableNetworkIsolation). Start refuses it where it is unavailable.
	NetworkIsolation bool
	// MaxRuntime, when positive, stops the job after that long
	// (StoppingCondition.MaxRuntimeInSeconds); Exit.TimedOut reports it.
	MaxRuntime time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when MaxRuntime is
	// reached; default DefaultStopGrace.
	StopGrace time.Duration
	// Stdout and Stderr receive the job's output; nil discards it.
	Stdout io.Writer
	Stderr io.Writer
}

// Exit is how a job ended.
type Exit struct {
	// Code is the exit status; 128+n when killed by signal n, as docker reports.
	Code int
	// Signal is the signal that killed the job, or 0.
	Signal syscall.Signal
	// Stopped is true when Stop ended the job.
	Stopped bool
	// TimedOut is true when the job reached Spec.MaxRuntime.
	TimedOut bool
}

// Handle is a running job.
type Handle struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	// netns is the job's own network namespace, when the server made one it can
	// dial into (see DialContext); closed, under nsMu, when the job has ended.
	nsMu     sync.RWMutex
	netns    *os.File
	isolated bool // netns was set at start
	// mntns is the job's own mount namespace, whose every process is killed when the job
	// ends; empty when the job shares the server's.
	mntns string

	mu       sync.Mutex
	reaped   bool // the process group must not be signalled any more
	stopped  bool
	timedOut bool
	timers   []*time.Timer

	exit Exit
	err  error
}

// initSpec is what the parent passes to the init shim.
type initSpec struct {
	Workspace string   `json:"workspace"`
	Loopback  bool     `json:"loopback,omitempty"`
	Dir       string   `json:"dir"`
	Path      string   `json:"path"`
	Argv      []string `json:"argv"`
	// StatusFD is the descriptor on which the shim reports a failure before
	// exec; a successful exec closes it.
	StatusFD int `json:"status_fd"`
	// Probe makes the shim check the mounts and exit instead of exec'ing.
	Probe string `json:"probe,omitempty"`
}

// Start starts a job. ctx bounds the job's life: cancelling it kills the job's
// process group at once (use Stop for a graceful end).
func (p *Process) Start(ctx context.Context, spec Spec) (*Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("runtime: start: %w", err)
	}
	if spec.Command.Path == "" {
		return nil, errors.New("runtime: start: command path is empty")
	}
	if !filepath.IsAbs(spec.Workspace) {
		return nil, fmt.Errorf("runtime: start: workspace %q is not an absolute path", spec.Workspace)
	}
	if fi, err := os.Stat(spec.Workspace); err != nil {
		return nil, fmt.Errorf("runtime: start: workspace: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("runtime: start: workspace %q is not a directory", spec.Workspace)
	}
	iso := p.Isolation(ctx)
	if spec.NetworkIsolation && !iso.Network {
		return nil, fmt.Errorf("runtime: start: the job asks for network isolation, which needs a network namespace (%s): %w",
			iso.Reason, ErrNetworkIsolationUnavailable)
	}

	var cmd *exec.Cmd
	var status *os.File
	var threadDone chan struct{}
	dir := spec.Command.Dir
	if dir == "" {
		dir = OptML
	}
	argv := append([]string{spec.Command.Path}, spec.Command.Args...)
	if iso.Mounts {
		env := mergeEnv(p.baseEnv, spec.Command.Env, spec.Env, []string{OptMLEnvVar + "=" + OptML})
		if p.mode.threaded() {
			cmd = &exec.Cmd{Path: spec.Command.Path, Args: argv, Env: env, Dir: dir, SysProcAttr: plainAttr()}
			threadDone = make(chan struct{})
		} else {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, fmt.Errorf("runtime: start: %w", err)
			}
			defer r.Close()
			is := initSpec{Workspace: spec.Workspace, Loopback: spec.NetworkIsolation, Dir: dir, Path: spec.Command.Path, Argv: argv, StatusFD: 3}
			cmd, err = p.initCmd(is, env, w)
			if err != nil {
				w.Close()
				return nil, err
			}
			cmd.SysProcAttr = nsAttr(p.mode, spec.NetworkIsolation)
			status = r
		}
	} else {
		// No mount namespace: /opt/ml is the workspace folder, by name.
		ws := spec.Workspace
		env := mergeEnv(p.baseEnv, spec.Command.Env, spec.Env, []string{OptMLEnvVar + "=" + ws})
		for i, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			env[i] = k + "=" + rewriteOptML(v, ws)
		}
		prog := rewriteOptML(spec.Command.Path, ws)
		path, err := lookPathIn(prog, envValue(env, "PATH"))
		if err != nil {
			return nil, fmt.Errorf("runtime: start: %w", err)
		}
		for i, a := range argv {
			argv[i] = rewriteOptML(a, ws)
		}
		cmd = &exec.Cmd{Path: path, Args: argv, Env: env, Dir: rewriteOptML(dir, ws)}
		cmd.SysProcAttr = plainAttr()
	}
	cmd.Stdout = spec.Stdout
	cmd.Stderr = spec.Stderr
	// A job's stray descendants may hold its output pipes after it exits.
	cmd.WaitDelay = 5 * time.Second

	var netns *os.File
	if threadDone != nil {
		is := initSpec{Workspace: spec.Workspace, Loopback: spec.NetworkIsolation}
		var err error
		if netns, err = startInThread(is, cmd, threadDone); err != nil {
			return nil, fmt.Errorf("runtime: start %s: %w", spec.Command.Path, err)
		}
	} else if err := p.startCmd(cmd); err != nil {
		if len(cmd.ExtraFiles) > 0 {
			cmd.ExtraFiles[0].Close()
		}
		return nil, fmt.Errorf("runtime: start %s: %w", spec.Command.Path, err)
	}
	h := &Handle{cmd: cmd, pid: cmd.Process.Pid, done: threadDone, netns: netns, isolated: netns != nil}
	if h.done == nil {
		h.done = make(chan struct{})
	}
	if iso.Mounts {
		if ns := mountNamespace(h.pid); ns != "" && ns != p.ownMountNS() {
			h.mntns = ns
		}
	}

	// The context aborts the job, even while the shim is still setting up.
	stopWatch := context.AfterFunc(ctx, func() { h.signal(syscall.SIGKILL) })

	if status != nil {
		cmd.ExtraFiles[0].Close()
		msg, _ := io.ReadAll(status)
		if len(msg) > 0 {
			stopWatch()
			h.signal(syscall.SIGKILL)
			_ = cmd.Wait()
			return nil, fmt.Errorf("runtime: start %s: %s", spec.Command.Path, strings.TrimSpace(string(msg)))
		}
	}

	if spec.MaxRuntime > 0 {
		grace := spec.StopGrace
		if grace <= 0 {
			grace = DefaultStopGrace
		}
		t := time.AfterFunc(spec.MaxRuntime, func() {
			h.mu.Lock()
			h.timedOut = true
			h.mu.Unlock()
			h.Stop(grace)
		})
		h.mu.Lock()
		h.timers = append(h.timers, t)
		h.mu.Unlock()
	}

	go h.wait(stopWatch)
	return h, nil
}

// startCmd starts cmd from one long-lived OS thread. Jobs get SIGKILL when the
// thread that forked them ends (Pdeathsig, so that no job outlives the server),
// and any thread ends if some goroutine locks it and exits; this one never ends.
func (p *Process) startCmd(cmd *exec.Cmd) error {
	p.spawnOnce.Do(func() {
		p.spawns = make(chan spawn)
		go func() {
			goruntime.LockOSThread()
			// Never unlocked and never returns: the thread must outlive every job.
			for s := range p.spawns {
				s.done <- s.cmd.Start()
			}
		}()
	})
	s := spawn{cmd: cmd, done: make(chan error, 1)}
	p.spawns <- s
	return <-s.done
}

// initCmd builds the command that runs the init shim with is.
func (p *Process) initCmd(is initSpec, env []string, status *os.File) (*exec.Cmd, error) {
	arg, err := json.Marshal(is)
	if err != nil {
		return nil, fmt.Errorf("runtime: start: encoding init spec: %w", err)
	}
	args := append(slices.Clone(p.initArgs), string(arg))
	cmd := exec.Command(p.initPath, args...)
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{status}
	return cmd, nil
}

// wait reaps the job, then kills what is left of its process group, as a
// container's end kills everything in it.
func (h *Handle) wait(stopWatch func() bool) {
	defer close(h.done)
	defer stopWatch()
	defer func() {
		h.nsMu.Lock()
		defer h.nsMu.Unlock()
		if h.netns != nil {
			h.netns.Close()
			h.netns = nil
		}
	}()
	cleanup := func() {
		h.mu.Lock()
		h.signalLocked(syscall.SIGKILL)
		h.reaped = true
		for _, t := range h.timers {
			t.Stop()
		}
		h.mu.Unlock()
		if h.mntns != "" {
			killNamespace(h.mntns, h.pid)
		}
	}
	var err error
	if waitExited(h.pid) {
		// The exited leader is not reaped yet, so its group ID cannot have been
		// reused: killing the group reaches only the job's own descendants.
		cleanup()
		err = h.cmd.Wait()
	} else {
		err = h.cmd.Wait()
		cleanup()
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil, errors.As(err, &exitErr):
	case errors.Is(err, exec.ErrWaitDelay):
		// Descendants that left the process group kept the output open; the job
		// itself has ended.
	default:
		h.err = fmt.Errorf("runtime: wait: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exit = exitOf(h.cmd.ProcessState)
	h.exit.Stopped = h.stopped
	h.exit.TimedOut = h.timedOut
}

// DialContext connects to address as seen from inside the job: for a job with a
// network namespace of its own, through that namespace (its 127.0.0.1 is not the
// host's), else like net.Dialer. A model server started with NetworkIsolation is
// reached this way while it can reach nothing itself.
func (h *Handle) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if !h.isolated {
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	// A name would be resolved, and a dual-stack dial raced, on other threads, in the host's
	// namespace.
	if host, _, err := net.SplitHostPort(address); err != nil || net.ParseIP(host) == nil {
		return nil, fmt.Errorf("runtime: dial %s: dialing into a job's network namespace takes an IP address and port", address)
	}
	// Held while dialing, so that the namespace's descriptor is not closed (and its number
	// reused) under the dial.
	h.nsMu.RLock()
	defer h.nsMu.RUnlock()
	if h.netns == nil {
		return nil, fmt.Errorf("runtime: dial %s: the process has ended", address)
	}
	return dialIn(ctx, h.netns, network, address)
}

// ServerIsolation reports whether a server (a process others connect to) can run
// with NetworkIsolation and still be reached through its Handle's DialContext; the
// error wraps ErrNetworkIsolationUnavailable and says why not.
func (p *Process) ServerIsolation(ctx context.Context) error {
	iso := p.Isolation(ctx)
	switch {
	case !iso.Network:
		return fmt.Errorf("runtime: a network namespace cannot be made here (%s): %w", iso.Reason, ErrNetworkIsolationUnavailable)
	case !p.mode.threaded():
		return fmt.Errorf("runtime: a server in a network namespace of its own can be reached only when sluice makes namespaces itself (as root, or in a user namespace of its own unless SLUICE_ROOTLESS=off): %w", ErrNetworkIsolationUnavailable)
	}
	return nil
}

// PID is the job's process ID, which is also its process group ID.
func (h *Handle) PID() int { return h.pid }

// Done is closed when the job has ended and Wait returns at once.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait waits for the job to end. The error is for failures to wait, not for a
// job that failed: that is a non-zero Exit.Code.
func (h *Handle) Wait() (Exit, error) {
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.exit, h.err
}

// Stop ends the job like `docker stop`: SIGTERM to its whole process group, then
// SIGKILL after grace if it is still running. It returns at once; Wait reports
// the end. Stopping a job that has ended does nothing.
func (h *Handle) Stop(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reaped {
		return
	}
	h.stopped = true
	h.signalLocked(syscall.SIGTERM)
	h.timers = append(h.timers, time.AfterFunc(grace, func() { h.signal(syscall.SIGKILL) }))
}

func (h *Handle) signal(sig syscall.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signalLocked(sig)
}

func (h *Handle) signalLocked(sig syscall.Signal) {
	if h.reaped {
		return
	}
	signalGroup(h.pid, sig)
}

func exitOf(ps *os.ProcessState) Exit {
	if ps == nil {
		return Exit{Code: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Exit{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return Exit{Code: ps.ExitCode()}
}

// mergeEnv joins environment lists; a later entry for a key replaces an earlier
// one in place.
func mergeEnv(lists ...[]string) []string {
	var out []string
	index := map[string]int{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := index[k]; ok {
				out[i] = kv
				continue
			}
			index[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func envValue(env []string, key string) string {
	for _, kv := range slices.Backward(env) {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPathIn finds prog the way a shell would with the given PATH.
func lookPathIn(prog, pathEnv string) (string, error) {
	if strings.ContainsRune(prog, filepath.Separator) || strings.ContainsRune(prog, '/') {
		return prog, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, prog)
		if fi, err := os.Stat(cand); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%q not found in the job's PATH: %w", prog, exec.ErrNotFound)
}

// rewriteOptML replaces the path /opt/ml, wherever it appears as a whole path
// (alone, in --flag=/opt/ml/x, or quoted inside JSON), with ws.
func rewriteOptML(s, ws string) string {
	if !strings.Contains(s, OptML) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, OptML)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(OptML)
		before := i == 0 || !isPathByte(s[i-1])
		after := end == len(s) || s[end] == '/' || !isPathByte(s[end])
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(ws)
		} else {
			b.WriteString(OptML)
		}
		s = s[end:]
	}
}

func isPathByte(c byte) bool {
	return c == '/' || c == '.' || c == '_' || c == '-' || c == '~' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
