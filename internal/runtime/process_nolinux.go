//go:build !linux

package runtime

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
)

// threaded is false: there are no namespaces to hold in a thread here.
func (nsMode) threaded() bool { return false }

func startInThread(initSpec, *exec.Cmd, <-chan struct{}) (*os.File, error) {
	return nil, errors.New("runtime: namespaces are Linux-only")
}

func dialIn(context.Context, *os.File, string, string) (net.Conn, error) {
	return nil, errors.New("runtime: namespaces are Linux-only")
}

func (nsMode) String() string { return "no namespaces" }

func mountNamespace(int) string { return "" }

func killNamespace(string, int) {}
