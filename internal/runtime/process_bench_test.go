//go:build linux

package runtime

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
)

// BenchmarkProcessStart measures starting a job and waiting for it to exit: the
// price of the init shim and the namespaces over a plain fork/exec.
func BenchmarkProcessStart(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name     string
		disable  bool
		isolated bool
	}{
		{"plain", true, false},
		{"mount_namespace", false, false},
		{"mount_and_network_namespace", false, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := NewProcess(ProcessConfig{InitPath: exe, DisableNamespaces: c.disable, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			if iso := p.Isolation(context.Background()); !c.disable && !iso.Network {
				b.Skipf("SKIPPED: no namespaces here: %s", iso.Reason)
			}
			ws := b.TempDir()
			spec := Spec{Command: Command{Path: exe, Args: []string{"0"}, Env: []string{helperEnv + "=exit"}}, Workspace: ws, NetworkIsolation: c.isolated}
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
