package project

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/promotion"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"churn", true},
		{"churn-model-2", true},
		{"Abalone", true},
		{"a--b", true},
		{"", false},
		{"-churn", false},
		{"churn-", false},
		{"churn_model", false},
		{"churn.model", false},
		{strings.Repeat("a", maxNameLen), true},
		{strings.Repeat("a", maxNameLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateName(tt.name); (err == nil) != tt.ok {
				t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestInitErrors(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want error  // errors.Is target, or nil to match text only
		text string // substring of the message
	}{
		{"unknown template", Options{Template: "nope", Dir: t.TempDir()}, ErrUnknownTemplate, "available: build-deploy"},
		{"no template", Options{Dir: t.TempDir()}, nil, "available: build-deploy"},
		{"bad name", Options{Template: "build-deploy", Dir: t.TempDir(), Name: "my_project"}, nil, "SageMaker"},
		{"bad dir name", Options{Template: "build-deploy", Dir: filepath.Join(t.TempDir(), "my.project")}, nil, "--name"},
		{"non-empty dir", Options{Template: "build-deploy", Dir: full, Name: "p"}, ErrNotEmpty, "--force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Init(tt.opts)
			if err == nil {
				t.Fatal("Init succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
	if _, err := Init(Options{Template: "build-deploy", Dir: full, Name: "p", Force: true}); err != nil {
		t.Errorf("with Force: %v", err)
	}
	if _, err := os.Stat(filepath.Join(full, "keep.txt")); err != nil {
		t.Errorf("Force removed an unrelated file: %v", err)
	}
}

func TestInitBuildDeploy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "churn")
	files, err := Init(Options{Template: "build-deploy", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".circleci/config.yml", ".github/workflows/sluice.yml", "README.md", "build/README.md", "build/pipeline.json",
		"deploy/endpoint-tests.json", "deploy/pipeline.json", "deploy/prod-config.json", "deploy/staging-config.json", "tests/run.sh"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("files:\n got %v\nwant %v", files, want)
	}
	read := func(rel string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("[[")) || bytes.Contains(b, []byte("<no value>")) {
			t.Errorf("%s: unrendered template text", rel)
		}
		return b
	}
	for _, f := range want {
		read(f)
	}

	build, err := pipeline.Parse(read("build/pipeline.json"))
	if err != nil {
		t.Fatalf("build/pipeline.json: %v", err)
	}
	reg, ok := build.Step("RegisterAbaloneModel-RegisterModel")
	if !ok || reg.Type != pipeline.StepRegisterModel {
		t.Fatalf("build pipeline has no RegisterModel step: %+v", reg)
	}
	if !bytes.Contains(read("build/pipeline.json"), []byte(`"ModelPackageGroupName": "churn"`)) {
		t.Error("build pipeline does not register into the group churn")
	}

	deploy, err := pipeline.Parse(read("deploy/pipeline.json"))
	if err != nil {
		t.Fatalf("deploy/pipeline.json: %v", err)
	}
	for name, typ := range map[string]pipeline.StepType{"DeployStaging": pipeline.StepDeploy, "TestStaging": pipeline.StepEndpointTest,
		"ApproveProduction": pipeline.StepApproval, "DeployProduction": pipeline.StepDeploy} {
		if s, ok := deploy.Step(name); !ok || s.Type != typ {
			t.Errorf("deploy step %s: %+v", name, s)
		}
	}

	for env, endpoint := range map[string]string{"staging": "churn-staging", "prod": "churn-prod"} {
		var e promotion.Environment
		dec := json.NewDecoder(bytes.NewReader(read("deploy/" + env + "-config.json")))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%s config: %v", env, err)
		}
		if e.EndpointName != endpoint || e.Parameters["StageName"] != env {
			t.Errorf("%s config: endpoint %q stage %q", env, e.EndpointName, e.Parameters["StageName"])
		}
		if env == "prod" && (len(e.DeploymentConfig) == 0 || len(e.Alarms) != 2 || !strings.HasPrefix(e.Alarms[0], "churn-prod-")) {
			t.Errorf("prod config: deployment %s alarms %v", e.DeploymentConfig, e.Alarms)
		}
	}

	var tests struct {
		ContentType string
		Payloads    []json.RawMessage
	}
	if err := json.Unmarshal(read("deploy/endpoint-tests.json"), &tests); err != nil {
		t.Fatalf("endpoint-tests.json: %v", err)
	}
	if tests.ContentType != "text/csv" || len(tests.Payloads) == 0 {
		t.Errorf("endpoint-tests.json: %+v", tests)
	}

	if st, err := os.Stat(filepath.Join(dir, "tests/run.sh")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("tests/run.sh is not executable: %v", st.Mode())
	}
	for _, ci := range []string{".github/workflows/sluice.yml", ".circleci/config.yml"} {
		b := read(ci)
		for _, s := range []string{"go install github.com/sluice-ml/sluice/cmd/sluice@latest", "tests/run.sh", "SLUICE_ENDPOINT", "pipelines start churn-build --wait"} {
			if !bytes.Contains(b, []byte(s)) {
				t.Errorf("%s does not contain %q", ci, s)
			}
		}
	}
	if !bytes.Contains(read(".github/workflows/sluice.yml"), []byte("${{ secrets.AWS_ACCESS_KEY_ID }}")) {
		t.Error("the GitHub workflow lost its secrets expressions")
	}
}

// TestScaffoldPassesItsOwnTests builds the sluice binary, scaffolds a project and runs the
// project's tests/run.sh with it: the scaffold works as generated.
func TestScaffoldPassesItsOwnTests(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: builds the sluice binary and runs a server end to end; run without -short")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("SKIPPED: no sh to run tests/run.sh")
	}
	root := moduleRoot(t)
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "e2e-project")
	if _, err := Init(Options{Template: "build-deploy", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "tests", "run.sh"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE="+bin, "SLUICE_TEST_TIMEOUT=300", "TMPDIR="+t.TempDir())
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("tests/run.sh: %v after %s\n%s", err, time.Since(start).Round(time.Millisecond), out.String())
	}
	if !strings.Contains(out.String(), "==> ok:") {
		t.Fatalf("tests/run.sh exited 0 without reaching its end:\n%s", out.String())
	}
	t.Logf("tests/run.sh passed in %s", time.Since(start).Round(time.Millisecond))
}

// moduleRoot walks up from the package directory to the directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}
