package algo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainDispatch(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		usage      bool
		wantStdout string
	}{
		{"no arguments", nil, "name a built-in image", true, ""},
		{"help", []string{"help"}, "", true, ""},
		{"unknown image", []string{"sklearn"}, `unknown built-in image "sklearn"`, true, ""},
		{"xgboost without command", []string{"xgboost"}, "xgboost needs a command", true, ""},
		{"xgboost serve", []string{"xgboost", "serve"}, "native predictor", true, ""},
		{"synth", []string{"synth", "-rows", "2", "-output", "-"}, "", false, "sex,length"},
		{"prep flag error reaches the image", []string{"prep", "-split", "1"}, "-split needs three fractions", false, ""},
		{"evaluate reports a missing model", []string{"evaluate", "-model", filepath.Join(dir, "none")}, "evaluate: model", false, ""},
		{"xgboost train runs the trainer", []string{"xgboost", "train", "--ml-root", dir}, "num_round", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Main(context.Background(), tt.args, &stdout, &stderr)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			if got := strings.Contains(stderr.String(), "built-in images:"); got != tt.usage {
				t.Errorf("usage printed = %v, want %v (stderr %q)", got, tt.usage, stderr.String())
			}
			if tt.usage && tt.wantErr != "" && !errors.Is(err, ErrUsage) {
				t.Errorf("error %v is not ErrUsage", err)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
		})
	}
}

// TestAbalonePipelineWithoutPython runs the abalone build pipeline's three jobs in-process —
// synth data, prep, the built-in trainer and evaluate — with their SageMaker paths mapped to
// a temporary folder, and checks that the evaluation report has the value the pipeline's
// condition reads.
func TestAbalonePipelineWithoutPython(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if err := Main(ctx, args, io.Discard, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	run("synth", "-rows", "3000", "-output", filepath.Join(root, "raw"))
	run("prep", "-input", filepath.Join(root, "raw"), "-output", filepath.Join(root, "prep"))

	ml := filepath.Join(root, "ml")
	for _, ch := range []string{"train", "validation"} {
		src := filepath.Join(root, "prep", ch, ch+".csv")
		dst := filepath.Join(ml, "input", "data", ch, ch+".csv")
		copyFile(t, src, dst)
	}
	writeFile(t, filepath.Join(ml, "input", "config", "hyperparameters.json"),
		`{"objective":"reg:linear","num_round":"50","max_depth":"5","eta":"0.2","gamma":"4","min_child_weight":"6","subsample":"0.7"}`)
	writeFile(t, filepath.Join(ml, "input", "config", "inputdataconfig.json"),
		`{"train":{"ContentType":"text/csv"},"validation":{"ContentType":"text/csv"}}`)
	run("xgboost", "train", "--ml-root", ml)

	run("evaluate", "-model", filepath.Join(ml, "model"), "-test", filepath.Join(root, "prep", "test"), "-output", filepath.Join(root, "evaluation"))
	b, err := os.ReadFile(filepath.Join(root, "evaluation", "evaluation.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"regression_metrics"`)) || !bytes.Contains(b, []byte(`"mse"`)) {
		t.Fatalf("evaluation.json: %s", b)
	}
	t.Logf("evaluation.json: %s", b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
