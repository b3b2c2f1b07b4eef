package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProjectInit(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		output string // substring of stdout+stderr
	}{
		{"unknown template", []string{"project", "init", "--template", "nope", filepath.Join(base, "a")}, 1, "available: build-deploy"},
		{"bad name", []string{"project", "init", "--template", "build-deploy", "--name", "bad_name", filepath.Join(base, "b")}, 1, "SageMaker"},
		{"creates", []string{"project", "init", "--template", "build-deploy", filepath.Join(base, "fraud")}, 0, "tests/run.sh"},
		{"refuses non-empty", []string{"project", "init", "--template", "build-deploy", filepath.Join(base, "fraud")}, 1, "--force"},
		{"force", []string{"project", "init", "--template", "build-deploy", "--force", "--name", "fraud2", filepath.Join(base, "fraud")}, 0, "pipelines start fraud2-build --wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := Run(context.Background(), tt.args, &out, &out); code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.output) {
				t.Errorf("output does not mention %q:\n%s", tt.output, out.String())
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(base, "fraud", "deploy", "staging-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"fraud2-staging"`) {
		t.Errorf("--force --name did not re-render the environments:\n%s", b)
	}
}
