//go:build linux

package runtime

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
)

// BenchmarkProcessStart measures starting a job (/bin/true) and waiting for it to exit: the
// price of the namespaces over a plain fork/exec, made by the server on a thread of its own
// (root) or by the init shim (the sluice binary re-executed, for servers that are not root).
func BenchmarkProcessStart(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	thread, shim := []nsMode{{inThread: true}}, []nsMode{{}}
	cases := []struct {
		name     string
		disable  bool
		modes    []nsMode
		isolated bool
	}{
		{"plain", true, nil, false},
		{"mount_namespace/thread", false, thread, false},
		{"mount_namespace/init_shim", false, shim, false},
		{"mount_and_network_namespace/thread", false, thread, true},
		{"mount_and_network_namespace/init_shim", false, shim, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := NewProcess(ProcessConfig{InitPath: exe, DisableNamespaces: c.disable, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			p.candidates = c.modes
			if iso := p.Isolation(context.Background()); !c.disable && !iso.Network {
				b.Skipf("SKIPPED: no namespaces here: %s", iso.Reason)
			}
			ws := b.TempDir()
			spec := Spec{Command: Command{Path: "/bin/true"}, Workspace: ws, NetworkIsolation: c.isolated}
			for b.Loop() {
				h, err := p.Start(context.Background(), spec)
				if err != nil {
					b.Fatal(err)
				}
				if exit, err := h.Wait(); err != nil || exit.Code != 0 {
					b.Fatalf("exit %+v, %v", exit, err)
				}
			}
		})
	}
}
