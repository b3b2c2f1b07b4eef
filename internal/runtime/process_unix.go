//go:build unix && !linux

package runtime

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// nsMode is a namespace setup; there are none outside Linux.
type nsMode struct{}

func defaultCandidates() []nsMode { return nil }

func (p *Process) probe(context.Context) (Isolation, nsMode) {
	return Isolation{Reason: "namespaces are Linux-only"}, nsMode{}
}

func nsAttr(nsMode, bool) *syscall.SysProcAttr { return plainAttr() }

func plainAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// waitExited cannot wait without reaping here; the caller reaps first.
func waitExited(int) bool { return false }

func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// threaded is false: there are no namespaces to hold in a thread here.
func (nsMode) threaded() bool { return false }

func startInThread(initSpec, *exec.Cmd, <-chan struct{}) (*os.File, error) {
	return nil, errors.New("runtime: namespaces are Linux-only")
}

func dialIn(context.Context, *os.File, string, string) (net.Conn, error) {
	return nil, errors.New("runtime: namespaces are Linux-only")
}

func (nsMode) String() string { return "no namespaces" }
