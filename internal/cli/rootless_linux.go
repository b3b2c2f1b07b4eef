package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// rootlessEnv is set in the environment of a server that runs as root of a user namespace of
// its own; "off" keeps a server that is not root from doing so.
const rootlessEnv = "SLUICE_ROOTLESS"

// runRootless runs `sluice server` again as root of a new user namespace when it is not root,
// and waits for it; ok is false when the server should run in this process instead (root
// already, switched off, or no user namespaces here). Inside, the server makes each job's
// namespaces on a thread of its own, as a root server does: no init shim per job, and model
// servers can be network-isolated. Files it creates are the user's; the jobs run as uid 0 of
// that namespace, which is the user outside it.
func runRootless(ctx context.Context, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if os.Geteuid() == 0 || os.Getenv(rootlessEnv) != "" || hasCapabilities() {
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, false
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), rootlessEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		// The server stops gracefully if this process goes away.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		// No user namespaces for this user: run as is; jobs say what isolation they get.
		return 0, false
	}
	// Ctrl-C reaches both processes; SIGTERM sent to this one only (by a service manager) ends
	// ctx, and is passed on.
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer stop()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	}
	fmt.Fprintln(stderr, "error: server:", err)
	return 1, true
}

// hasCapabilities reports whether this process holds capabilities (a binary given some with
// setcap, to bind a low port say): inside a user namespace of its own it would lose them.
func hasCapabilities() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strings.Trim(strings.TrimSpace(v), "0") != ""
		}
	}
	return false
}
