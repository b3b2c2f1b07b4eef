package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/cli"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// clearAWSEnv keeps the developer's own AWS settings out of the CLI under test.
func clearAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
		"SLUICE_ENDPOINT", "SLUICE_PROFILE", "SLUICE_HOME"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// sluice runs the CLI with the server's data directory, as a person on the server's machine.
func sluice(t *testing.T, srv *servertest.Server, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), append([]string{"--home", srv.DataDir}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func mustSluice(t *testing.T, srv *servertest.Server, args ...string) string {
	t.Helper()
	out, errOut, code := sluice(t, srv, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func register(t *testing.T, srv *servertest.Server, group string, n int) []string {
	t.Helper()
	c := srv.SageMaker()
	var arns []string
	for i := 0; i < n; i++ {
		out, err := c.CreateModelPackage(context.Background(), &sm.CreateModelPackageInput{
			ModelPackageGroupName:   aws.String(group),
			ModelPackageDescription: aws.String(fmt.Sprintf("candidate %d", i+1)),
			InferenceSpecification: &types.InferenceSpecification{
				Containers:                 []types.ModelPackageContainerDefinition{{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(fmt.Sprintf("s3://models/%s/%d/model.tar.gz", group, i+1))}},
				SupportedContentTypes:      []string{"text/csv"},
				SupportedResponseMIMETypes: []string{"text/csv"},
			},
			CustomerMetadataProperties: map[string]string{"rmse": fmt.Sprintf("2.%d", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(out.ModelPackageArn))
	}
	return arns
}

func TestModelsCommands(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)

	out := mustSluice(t, srv, "models", "groups", "create", "abalone", "--description", "Abalone age")
	if strings.TrimSpace(out) != "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/abalone" {
		t.Fatalf("groups create printed %q", out)
	}
	mustSluice(t, srv, "models", "groups", "create", "churn")
	out = mustSluice(t, srv, "models", "groups", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "abalone") || !strings.Contains(out, "Abalone age") || !strings.Contains(out, "churn") {
		t.Fatalf("groups list:\n%s", out)
	}
	var groups []map[string]any
	if err := json.Unmarshal([]byte(mustSluice(t, srv, "models", "groups", "list", "--name-contains", "aba", "-o", "json")), &groups); err != nil || len(groups) != 1 || groups[0]["ModelPackageGroupName"] != "abalone" {
		t.Fatalf("groups list --name-contains -o json: %v %v", groups, err)
	}

	arns := register(t, srv, "abalone", 3)

	out = mustSluice(t, srv, "models", "list", "abalone")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "abalone/1") || !strings.Contains(lines[3], "candidate 3") || !strings.Contains(lines[2], "PendingManualApproval") {
		t.Fatalf("models list:\n%s", out)
	}

	// Approve by GROUP/VERSION with a note; reject by ARN.
	out = mustSluice(t, srv, "models", "approve", "abalone/2", "--note", "rmse 2.1 beats baseline")
	if !strings.Contains(out, "abalone/2") || !strings.Contains(out, "PendingManualApproval -> Approved") || !strings.Contains(out, "rmse 2.1 beats baseline") {
		t.Fatalf("approve printed %q", out)
	}
	mustSluice(t, srv, "models", "approve", arns[2])
	if out := mustSluice(t, srv, "models", "latest", "abalone", "--approved"); strings.TrimSpace(out) != arns[2] {
		t.Fatalf("latest --approved = %q, want %s", out, arns[2])
	}
	out = mustSluice(t, srv, "models", "reject", arns[2], "--note", "drifted")
	if !strings.Contains(out, "Approved -> Rejected") {
		t.Fatalf("reject printed %q", out)
	}
	if out := mustSluice(t, srv, "models", "latest", "abalone", "--approved"); strings.TrimSpace(out) != arns[1] {
		t.Fatalf("latest --approved after rejecting v3 = %q, want %s", out, arns[1])
	}
	if out := mustSluice(t, srv, "models", "latest", "abalone"); strings.TrimSpace(out) != arns[2] {
		t.Fatalf("latest = %q, want %s", out, arns[2])
	}
	var latest map[string]any
	json.Unmarshal([]byte(mustSluice(t, srv, "models", "latest", "abalone", "--approved", "-o", "json")), &latest)
	if latest["ModelPackageArn"] != arns[1] || latest["ModelApprovalStatus"] != "Approved" || latest["ModelPackageVersion"] != float64(2) {
		t.Fatalf("latest -o json = %v", latest)
	}

	out = mustSluice(t, srv, "models", "describe", "abalone/2")
	for _, want := range []string{"abalone/2", arns[1], "Approved", "rmse 2.1 beats baseline", "by root", "s3://models/abalone/2/model.tar.gz", "Metadata rmse:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(mustSluice(t, srv, "models", "describe", arns[0], "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d["ModelPackageArn"] != arns[0] || d["ModelApprovalStatus"] != "PendingManualApproval" || d["ResultMetadata"] != nil || d["ModelPackageDescription"] != "candidate 1" {
		t.Fatalf("describe -o json = %v", d)
	}
	out = mustSluice(t, srv, "models", "groups", "describe", "abalone")
	if !strings.Contains(out, "Latest version:") || !strings.Contains(out, "abalone/3 (Rejected") || !strings.Contains(out, "abalone/2 (Approved") {
		t.Fatalf("groups describe:\n%s", out)
	}
	if out := mustSluice(t, srv, "models", "list", "abalone", "--status", "approved"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "abalone/2") {
		t.Fatalf("list --status approved:\n%s", out)
	}

	// Errors reach the person with the server's message and a failing exit code.
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"models", "list", "ghost"}, "ModelPackageGroup ghost does not exist"},
		{[]string{"models", "describe", "abalone/9"}, "does not exist"},
		{[]string{"models", "describe", "abalone"}, "abalone/VERSION"},
		{[]string{"models", "approve", "ghost/1"}, "does not exist"},
		{[]string{"models", "latest", "churn", "--approved"}, "churn has no Approved version"},
		{[]string{"models", "latest", "ghost"}, "ghost does not exist"},
		{[]string{"models", "list", "abalone", "--status", "maybe"}, "--status"},
		{[]string{"models", "groups", "create", "bad_name"}, "ValidationException"},
		{[]string{"models", "groups", "delete", "abalone"}, "ConflictException"},
	}
	for _, tc := range bad {
		out, errOut, code := sluice(t, srv, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("sluice %s: exit %d, stdout %q, stderr %q; want failure mentioning %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
	mustSluice(t, srv, "models", "groups", "delete", "churn")
	if out := mustSluice(t, srv, "models", "groups", "list"); strings.Contains(out, "churn") {
		t.Fatalf("churn still listed:\n%s", out)
	}
}

// TestModelsWithEndpointAndProfile reaches the server from elsewhere: no data directory, an
// --endpoint and a named profile in the standard AWS credentials file.
func TestModelsWithEndpointAndProfile(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	body := fmt.Sprintf("[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.Secret)
	if err := os.WriteFile(creds, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"--home", filepath.Join(dir, "no-server-here"), "--endpoint", srv.URL(), "--profile", "ci", "--region", "us-east-1",
		"models", "groups", "create", "remote"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "model-package-group/remote") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = cli.Run(context.Background(), []string{"--home", filepath.Join(dir, "no-server-here"), "models", "groups", "list"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "--endpoint") {
		t.Fatalf("without a server to find: exit %d, %q", code, errb.String())
	}
}

func TestEventsCommand(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)
	if _, errOut, code := sluice(t, srv, "events"); code != 0 || !strings.Contains(errOut, "No events") {
		t.Fatalf("events on a new server: exit %d, %q", code, errOut)
	}
	mustSluice(t, srv, "models", "groups", "create", "ev")
	arns := register(t, srv, "ev", 2)

	// Follow from the start in the background while an approval happens.
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		var errb bytes.Buffer
		done <- cli.Run(ctx, []string{"--home", srv.DataDir, "events", "--follow", "-o", "json"}, pw, &errb)
		pw.Close()
	}()
	mustSluice(t, srv, "models", "approve", "ev/2", "--note", "ok")

	sc := bufio.NewScanner(pr)
	var followed []map[string]any
	deadline := time.AfterFunc(20*time.Second, cancel)
	defer deadline.Stop()
	for len(followed) < 3 && sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("follow -o json line %q: %v", sc.Text(), err)
		}
		followed = append(followed, ev)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 {
		t.Fatalf("events --follow exited %d after cancel", code)
	}
	if len(followed) != 3 {
		t.Fatalf("followed %d events", len(followed))
	}
	last := followed[2]
	detail, _ := last["detail"].(map[string]any)
	if last["detail-type"] != "SageMaker Model Package State Change" || detail["ModelPackageArn"] != arns[1] || detail["ModelApprovalStatus"] != "Approved" {
		t.Fatalf("followed approval event %v", last)
	}

	out := mustSluice(t, srv, "events")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "CURSOR") || !strings.Contains(lines[3], "ev/2") || !strings.Contains(lines[3], `PendingManualApproval -> Approved "ok"`) {
		t.Fatalf("events table:\n%s", out)
	}
	out = mustSluice(t, srv, "events", "--after", "2", "-o", "json")
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 || !strings.Contains(out, `"cursor":3`) {
		t.Fatalf("events --after 2: %d lines\n%s", n, out)
	}
	out = mustSluice(t, srv, "events", "--limit", "1", "-o", "json")
	if !strings.Contains(out, `"cursor":1`) || strings.Contains(out, `"cursor":2`) {
		t.Fatalf("events --limit 1:\n%s", out)
	}
}
