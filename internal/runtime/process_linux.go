package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nsMode is one way of getting namespaces from the kernel.
type nsMode struct {
	// userns adds a user namespace that maps the server's user to root, which
	// lets an unprivileged server create the other namespaces.
	userns bool
	// inThread makes the namespaces on a locked OS thread of the server and
	// starts the job from that thread, with no init shim in between. It saves
	// re-executing the sluice binary for every job, but needs the privilege to
	// create the namespaces directly: the kernel refuses a user namespace to a
	// multi-threaded process.
	inThread bool
}

func (m nsMode) String() string {
	switch {
	case m.inThread:
		return "server thread"
	case m.userns:
		return "init shim in a user namespace"
	}
	return "init shim"
}

// threaded reports whether jobs start from a thread that holds their namespaces,
// which is also what lets the server dial into a job's network namespace.
func (m nsMode) threaded() bool { return m.inThread }

func defaultCandidates() []nsMode {
	if os.Geteuid() == 0 {
		// Root needs no user namespace and no shim; the shim and a user
		// namespace may still help inside a container that lacks
		// CAP_SYS_ADMIN.
		return []nsMode{{inThread: true}, {}, {userns: true}}
	}
	return []nsMode{{userns: true}}
}

// nsAttr starts the init shim in new namespaces, as the leader of its own
// process group, killed if the server dies.
func nsAttr(m nsMode, isolateNet bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Cloneflags: syscall.CLONE_NEWNS,
	}
	if isolateNet {
		a.Cloneflags |= syscall.CLONE_NEWNET
	}
	if m.userns {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	return a
}

// enterNamespaces gives the calling OS thread, which must be locked and is never
// to run other goroutines again, a private mount namespace with the workspace at
// /opt/ml and, when asked, an empty network namespace with loopback up; then it
// runs fn on that thread.
func enterNamespaces(is initSpec, fn func() error) error {
	flags := syscall.CLONE_NEWNS | syscall.CLONE_FS
	if is.Loopback {
		flags |= syscall.CLONE_NEWNET
	}
	if err := syscall.Unshare(flags); err != nil {
		return fmt.Errorf("creating namespaces: %w", err)
	}
	if err := mountWorkspace(is.Workspace); err != nil {
		return fmt.Errorf("preparing %s: %w", OptML, err)
	}
	if is.Loopback {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("network namespace: bringing loopback up: %w", err)
		}
	}
	return fn()
}

// startInThread starts cmd (its Path still to be looked up in the job's PATH)
// inside new namespaces made on a dedicated OS thread. The thread stays until
// done is closed, after the job has been reaped, because the kernel sends a job
// its death signal when the thread that forked it ends. With a network
// namespace it returns a handle on that namespace, for dialing into it.
func startInThread(is initSpec, cmd *exec.Cmd, done <-chan struct{}) (*os.File, error) {
	type result struct {
		netns *os.File
		err   error
	}
	resc := make(chan result, 1)
	// Never unlocked: when fn returns, its thread ends and the namespaces it holds go with it.
	offMainThread(func() {
		started := false
		var netns *os.File
		err := enterNamespaces(is, func() error {
			if is.Loopback {
				ns, err := os.Open("/proc/thread-self/ns/net")
				if err != nil {
					return fmt.Errorf("network namespace: %w", err)
				}
				netns = ns
			}
			if fi, err := os.Stat(cmd.Dir); err != nil {
				return fmt.Errorf("working directory: %w", err)
			} else if !fi.IsDir() {
				return fmt.Errorf("working directory %s is not a directory", cmd.Dir)
			}
			path, err := lookPathIn(cmd.Path, envValue(cmd.Env, "PATH"))
			if err != nil {
				return err
			}
			cmd.Path = path
			if err := cmd.Start(); err != nil {
				return err
			}
			started = true
			return nil
		})
		if err != nil && netns != nil {
			netns.Close()
			netns = nil
		}
		resc <- result{netns, err}
		if started {
			<-done
		}
	})
	r := <-resc
	return r.netns, r.err
}

// offMainThread runs fn in a new goroutine locked to an OS thread that is not the process's
// main thread: Go never ends the main thread, so namespaces changed there would stay on it.
// fn may unlock its thread to give it back; if it does not, the thread ends with it. A goroutine
// that finds itself on the main thread keeps it locked, so that the one it starts for fn cannot
// be scheduled there, until fn is done.
func offMainThread(fn func()) {
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() != os.Getpid() {
			fn()
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			goruntime.LockOSThread()
			fn()
		}()
		<-done
		goruntime.UnlockOSThread()
	}()
}

// mountNamespace names the mount namespace of process pid ("mnt:[4026532…]").
func mountNamespace(pid int) string {
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	return ns
}

// killNamespace kills every process in the mount namespace ns, as the end of a container
// kills everything in it: processes of a job that left its process group (setsid, daemons)
// would otherwise outlive it, with its workspace still mounted at their /opt/ml. since is the
// job's own PID: every process of the job came after it, so unless process IDs have wrapped
// around meanwhile, older processes need no look.
func killNamespace(ns string, since int) {
	for range 50 {
		if !killNamespaceOnce(ns, since) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killNamespaceOnce signals the processes of ns it finds, and reports whether there were any.
func killNamespaceOnce(ns string, since int) bool {
	found := false
	kill := func(pid int) {
		if mountNamespace(pid) == ns {
			found = true
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	last := -1
	if b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid"); err == nil {
		last, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if last >= since && last-since <= 4096 {
		// Few processes started since the job: look at each of their IDs.
		for pid := since; pid <= last; pid++ {
			kill(pid)
		}
		return found
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && (last < since || pid >= since) {
			kill(pid)
		}
	}
	return found
}

// dialIn connects from inside the network namespace netns: the socket is made on
// a thread that has joined it, and keeps belonging to it afterwards.
func dialIn(ctx context.Context, netns *os.File, network, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	resc := make(chan result, 1)
	offMainThread(func() {
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			goruntime.UnlockOSThread()
			resc <- result{nil, fmt.Errorf("runtime: dial: %w", err)}
			return
		}
		defer home.Close()
		if err := unix.Setns(int(netns.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			resc <- result{nil, fmt.Errorf("runtime: dial: joining the network namespace: %w", err)}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, address)
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			goruntime.UnlockOSThread()
		} // else the thread stays locked and ends with this goroutine
		resc <- result{c, err}
	})
	r := <-resc
	return r.c, r.err
}

// plainAttr starts a job without namespaces.
func plainAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// probe finds the first namespace setup that really works, by running the init
// shim in probe mode: it mounts a scratch workspace at /opt/ml, checks it sees
// the scratch file there and, with a network namespace, that loopback works.
func (p *Process) probe(ctx context.Context) (Isolation, nsMode) {
	var reasons []string
	for _, m := range p.candidates {
		err := p.probeOne(ctx, m, true)
		if err == nil {
			return Isolation{Mounts: true, Network: true, UserNamespace: m.userns}, m
		}
		netErr := err
		if err := p.probeOne(ctx, m, false); err == nil {
			return Isolation{Mounts: true, UserNamespace: m.userns,
				Reason: fmt.Sprintf("%s with a network namespace: %v", m, netErr)}, m
		} else {
			reasons = append(reasons, fmt.Sprintf("%s: %v", m, err))
		}
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no namespace setup to try")
	}
	return Isolation{Reason: strings.Join(reasons, "; ")}, nsMode{}
}

func (p *Process) probeOne(ctx context.Context, m nsMode, isolateNet bool) error {
	ws, err := os.MkdirTemp("", "sluice-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws)
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	if err := os.WriteFile(filepath.Join(ws, "probe"), []byte(hex.EncodeToString(token)), 0o644); err != nil {
		return err
	}
	if m.inThread {
		is := initSpec{Workspace: ws, Loopback: isolateNet, Probe: hex.EncodeToString(token)}
		errc := make(chan error, 1)
		// Never unlocked: the thread ends with fn, and its namespaces with it.
		offMainThread(func() {
			errc <- enterNamespaces(is, func() error {
				_, err := probeCheck(is)
				return err
			})
		})
		return <-errc
	}

	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	is := initSpec{Workspace: ws, Loopback: isolateNet, Dir: OptML, StatusFD: 3, Probe: hex.EncodeToString(token)}
	cmd, err := p.initCmd(is, mergeEnv(p.baseEnv), w)
	if err != nil {
		w.Close()
		return err
	}
	cmd.SysProcAttr = nsAttr(m, isolateNet)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = p.startCmd(cmd)
	w.Close()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	msg, _ := io.ReadAll(r)
	err = cmd.Wait()
	switch {
	case len(msg) > 0:
		return errors.New(strings.TrimSpace(string(msg)))
	case err != nil && stderr.Len() > 0:
		return fmt.Errorf("%s %s: %w: %s", p.initPath, InitCommand, err, lastLine(stderr.String()))
	case err != nil:
		return fmt.Errorf("%s %s: %w", p.initPath, InitCommand, err)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// waitExited blocks until the process has exited, without reaping it.
func waitExited(pid int) bool {
	const pPID = 1
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		default:
			// Cannot wait without reaping; the caller reaps first.
			return false
		}
	}
}

// signalGroup signals every process of the job's process group.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
