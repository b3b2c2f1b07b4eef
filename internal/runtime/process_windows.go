package runtime

import (
	"context"
	"os"
	"syscall"
)

// nsMode is a namespace setup; there are none on Windows.
type nsMode struct{}

func defaultCandidates() []nsMode { return nil }

func (p *Process) probe(context.Context) (Isolation, nsMode) {
	return Isolation{Reason: "namespaces are Linux-only"}, nsMode{}
}

func nsAttr(nsMode, bool) *syscall.SysProcAttr { return nil }

func plainAttr() *syscall.SysProcAttr { return nil }

func waitExited(int) bool { return false }

// signalGroup can only kill the job itself: Windows has no process groups to
// signal, and no SIGTERM.
func signalGroup(pid int, _ syscall.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
