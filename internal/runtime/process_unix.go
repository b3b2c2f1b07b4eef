//go:build unix && !linux

package runtime

import (
	"context"
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
