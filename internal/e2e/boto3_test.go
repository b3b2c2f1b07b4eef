// Package e2e holds the real-client suites: boto3 and the AWS CLI driving a running server.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// TestBoto3 runs every script in testdata/boto3 with Debian's boto3 against a fresh server. Each
// script is a unittest module; it reads the server from the standard AWS_* variables.
func TestBoto3(t *testing.T) {
	py := servertest.Python(t)
	scripts, _ := filepath.Glob("testdata/boto3/test_*.py")
	if len(scripts) == 0 {
		t.Fatal("no boto3 scripts found")
	}
	for _, script := range scripts {
		t.Run(filepath.Base(script), func(t *testing.T) {
			srv := servertest.Start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "-m", "unittest", "-v", filepath.Base(script))
			cmd.Dir = filepath.Dir(script)
			cmd.Env = append(os.Environ(), srv.Env()...)
			out, err := cmd.CombinedOutput()
			t.Logf("%s", out)
			if err != nil {
				t.Fatalf("%s failed: %v", script, err)
			}
		})
	}
}
