package promotion_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/cli"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// TestMain lets the test binary stand in for the sluice binary, which servers re-execute to run
// built-in images.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "algo" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		os.Exit(runtime.InitMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == endpointTesterCommand {
		os.Exit(endpointTester(os.Args[2:]))
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
		"SLUICE_ENDPOINT", "SLUICE_PROFILE", "SLUICE_HOME"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

// sluice runs the CLI against srv and fails the test on a non-zero exit.
func sluice(t *testing.T, srv *servertest.Server, args ...string) string {
	t.Helper()
	out, errOut, code := run(srv, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func run(srv *servertest.Server, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), append([]string{"--home", srv.DataDir}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// register stores a two-tree model (prediction 0.5 + (x0<0.5 ? -1 : 1) + (x1<2 ? 0.25 : -0.25))
// — or, with broken, bytes that are no model archive at all — and registers it as the next
// version of group.
func register(t *testing.T, srv *servertest.Server, group string, status types.ModelApprovalStatus, broken bool) string {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	if broken {
		buf.WriteString("this is not a model archive")
	} else {
		tree := func(feat int32, cond, left, right float32) xgboost.Tree {
			return xgboost.Tree{LeftChildren: []int32{1, xgboost.NoChild, xgboost.NoChild}, RightChildren: []int32{2, xgboost.NoChild, xgboost.NoChild},
				SplitIndices: []int32{feat, 0, 0}, SplitConditions: []float32{cond, left, right}, DefaultLeft: []bool{true, false, false}}
		}
		m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3, Trees: []xgboost.Tree{tree(0, 0.5, -1, 1), tree(1, 2, 0.25, -0.25)}}
		dir := t.TempDir()
		f, _ := os.Create(filepath.Join(dir, "xgboost-model"))
		if err := m.WriteJSON(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := blob.PackDir(dir, &buf); err != nil {
			t.Fatal(err)
		}
	}
	c := srv.SageMaker()
	c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(group)})
	list, _ := c.ListModelPackages(ctx, &sm.ListModelPackagesInput{ModelPackageGroupName: aws.String(group)})
	u := blob.MustParseURI("s3://models/" + group + "/" + time.Now().Format("150405.000000") + "/model.tar.gz")
	if list != nil {
		u = blob.MustParseURI("s3://models/" + group + "/v" + string(rune('1'+len(list.ModelPackageSummaryList))) + "/model.tar.gz")
	}
	blob.EnsureBucket(ctx, srv.Blob(), u.Bucket)
	if err := srv.Blob().Put(ctx, u, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String(group), ModelApprovalStatus: status,
		InferenceSpecification: &types.InferenceSpecification{Containers: []types.ModelPackageContainerDefinition{{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(u.String())}},
			SupportedContentTypes: []string{"text/csv"}, SupportedResponseMIMETypes: []string{"text/csv"}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ModelPackageArn)
}

func createPipeline(t *testing.T, srv *servertest.Server, name, file string) {
	t.Helper()
	def, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.SageMaker().CreatePipeline(context.Background(), &sm.CreatePipelineInput{PipelineName: aws.String(name),
		PipelineDefinition: aws.String(string(def)), RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy"),
		ClientRequestToken: aws.String(name + "-create-token-0000000000000000")})
	if err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, srv *servertest.Server, pipeline, pkg string) string {
	t.Helper()
	out, err := srv.SageMaker().StartPipelineExecution(context.Background(), &sm.StartPipelineExecutionInput{PipelineName: aws.String(pipeline),
		PipelineParameters: []types.Parameter{{Name: aws.String("ModelPackageArn"), Value: aws.String(pkg)}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.PipelineExecutionArn)
}

func eventually(t *testing.T, what string, timeout time.Duration, fn func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := fn()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExecution waits for an execution to end and returns its status and failure reason.
func waitExecution(t *testing.T, srv *servertest.Server, arn string) (string, string) {
	t.Helper()
	var d *sm.DescribePipelineExecutionOutput
	eventually(t, "execution "+arn+" ends", 90*time.Second, func() (bool, string) {
		var err error
		d, err = srv.SageMaker().DescribePipelineExecution(context.Background(), &sm.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
		if err != nil {
			return false, err.Error()
		}
		s := d.PipelineExecutionStatus
		return s == types.PipelineExecutionStatusSucceeded || s == types.PipelineExecutionStatusFailed || s == types.PipelineExecutionStatusStopped,
			string(s) + " " + stepsOf(t, srv, arn)
	})
	return string(d.PipelineExecutionStatus), aws.ToString(d.FailureReason)
}

func stepsOf(t *testing.T, srv *servertest.Server, arn string) string {
	out, err := srv.SageMaker().ListPipelineExecutionSteps(context.Background(), &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(arn)})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, s := range out.PipelineExecutionSteps {
		b.WriteString(aws.ToString(s.StepName) + "=" + string(s.StepStatus) + "(" + aws.ToString(s.FailureReason) + ") ")
	}
	return b.String()
}

type approval struct {
	ApprovalId, Status, StepName, PipelineExecutionArn, DecidedBy, Comment string
}

// pendingApproval waits for the execution's gate and returns its id.
func pendingApproval(t *testing.T, srv *servertest.Server, exec string) string {
	t.Helper()
	id := ""
	eventually(t, "an approval gate for "+exec, 60*time.Second, func() (bool, string) {
		var list []approval
		out := sluice(t, srv, "-o", "json", "approvals", "list")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return false, out
		}
		for _, a := range list {
			if a.PipelineExecutionArn == exec && a.Status == "Pending" {
				id = a.ApprovalId
				return true, ""
			}
		}
		return false, out + " " + stepsOf(t, srv, exec)
	})
	return id
}

type paneRelease struct {
	ReleaseId                                               int64
	ModelPackageArn, Status, ApprovedBy, ApprovalComment    string
	FailureReason, PipelineExecutionArn, EndpointConfigName string
	ModelPackageVersion                                     int
	Evidence                                                json.RawMessage
}

type pane struct {
	Environment, Kind, EndpointName string
	Live                            *paneRelease
	InProgress                      []paneRelease
	History                         []paneRelease
}

func releases(t *testing.T, srv *servertest.Server, args ...string) map[string]pane {
	t.Helper()
	var list []pane
	out := sluice(t, srv, append([]string{"-o", "json", "releases", "--history=20"}, args...)...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("releases: %v\n%s", err, out)
	}
	m := map[string]pane{}
	for _, p := range list {
		m[p.Environment] = p
	}
	return m
}

func invoke(t *testing.T, srv *servertest.Server, endpoint, body string) string {
	t.Helper()
	return strings.TrimSpace(sluice(t, srv, "endpoints", "invoke", endpoint, "--body", body))
}

// TestDeployPipelineTwoLocalEnvironments runs the deploy pipeline end to end on one server with
// staging and prod: deploy to staging, test it, wait at the gate, approve, deploy to prod with a
// CANARY policy; then a rejected gate that leaves prod alone, and a version whose new fleet
// cannot start, which prod rolls back from, failing the execution with the evidence.
func TestDeployPipelineTwoLocalEnvironments(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()

	out := sluice(t, srv, "envs", "create", "testdata/staging.yaml", "--name", "staging")
	if !strings.Contains(out, "environment staging created (local, endpoint churn-staging)") {
		t.Fatalf("envs create: %s", out)
	}
	sluice(t, srv, "envs", "create", "testdata/prod.json", "--name", "prod")
	sluice(t, srv, "alarms", "create", "churn-prod-5xx", "--metric", "Invocation5XXErrors", "--endpoint", "churn-prod", "--variant", "AllTraffic",
		"--statistic", "Sum", "--period", "10s", "--threshold", "1000", "--comparison", "gt", "--missing", "notBreaching")
	list := sluice(t, srv, "envs", "list")
	for _, want := range []string{"staging", "churn-staging", "1 × ml.m5.large", "prod", "2 × ml.m5.xlarge", "CANARY 1 inst, bake 1s", "churn-prod-5xx"} {
		if !strings.Contains(list, want) {
			t.Fatalf("envs list lacks %q:\n%s", want, list)
		}
	}

	v1 := register(t, srv, "churn", types.ModelApprovalStatusApproved, false)
	createPipeline(t, srv, "churn-deploy", "testdata/deploy-pipeline.json")

	// 1. Staging, tests, the gate, approval, prod.
	exec1 := start(t, srv, "churn-deploy", v1)
	gate := pendingApproval(t, srv, exec1)
	if got := invoke(t, srv, "churn-staging", "1,1,1"); got != "1.75" {
		t.Fatalf("staging answers %q", got)
	}
	p := releases(t, srv)
	if p["staging"].Live == nil || p["staging"].Live.ModelPackageArn != v1 || p["prod"].Live != nil {
		t.Fatalf("before the gate: %+v", p)
	}
	out = sluice(t, srv, "approvals", "approve", gate, "--comment", "staging looks good")
	if !strings.Contains(out, "Approved by") {
		t.Fatalf("approve: %s", out)
	}
	if st, why := waitExecution(t, srv, exec1); st != "Succeeded" {
		t.Fatalf("execution 1: %s: %s", st, why)
	}
	if got := invoke(t, srv, "churn-prod", "0,3,0"); got != "-0.75" {
		t.Fatalf("prod answers %q", got)
	}
	p = releases(t, srv)
	prod := p["prod"].Live
	if prod == nil || prod.ModelPackageArn != v1 || prod.Status != "Live" || prod.ApprovedBy == "" || prod.ApprovalComment != "staging looks good" ||
		prod.PipelineExecutionArn != exec1 {
		t.Fatalf("prod after approval: %+v", prod)
	}
	// Approving again is harmless; rejecting a decided gate is refused.
	sluice(t, srv, "approvals", "approve", gate)
	if _, errOut, code := run(srv, "approvals", "reject", gate); code == 0 || !strings.Contains(errOut, "already answered") {
		t.Fatalf("rejecting an approved gate: exit %d: %s", code, errOut)
	}
	table := sluice(t, srv, "releases")
	for _, want := range []string{"ENVIRONMENT", "staging", "churn/1", "prod", "churn-prod"} {
		if !strings.Contains(table, want) {
			t.Fatalf("releases table lacks %q:\n%s", want, table)
		}
	}

	// 2. A rejected gate fails the execution; prod keeps v1.
	v2 := register(t, srv, "churn", types.ModelApprovalStatusApproved, false)
	exec2 := start(t, srv, "churn-deploy", v2)
	gate2 := pendingApproval(t, srv, exec2)
	sluice(t, srv, "approvals", "reject", gate2, "--comment", "not this week")
	st, why := waitExecution(t, srv, exec2)
	if st != "Failed" || !strings.Contains(why, "not this week") {
		t.Fatalf("rejected execution: %s: %s", st, why)
	}
	p = releases(t, srv)
	if p["prod"].Live.ModelPackageArn != v1 || p["staging"].Live.ModelPackageArn != v2 {
		t.Fatalf("after a rejection: prod %+v staging %+v", p["prod"].Live, p["staging"].Live)
	}
	var all []approval
	json.Unmarshal([]byte(sluice(t, srv, "-o", "json", "approvals", "list", "--all")), &all)
	if len(all) != 2 || all[0].Status != "Rejected" || all[0].Comment != "not this week" || all[1].Status != "Approved" {
		t.Fatalf("approvals --all: %+v", all)
	}

	// 3. A version whose fleet cannot start: staging is skipped by deploying straight to prod
	// with a one-step pipeline; prod rolls back and the execution fails with the evidence.
	bad := register(t, srv, "churn", types.ModelApprovalStatusApproved, true)
	def := `{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"}],
		"Steps":[{"Name":"DeployProd","Type":"Sluice:Deploy","Arguments":{"Environment":"prod","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}}]}`
	if _, err := srv.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("churn-hotfix"), PipelineDefinition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}
	exec3 := start(t, srv, "churn-hotfix", bad)
	st, why = waitExecution(t, srv, exec3)
	if st != "Failed" || !strings.Contains(why, "rolled back") {
		t.Fatalf("bad version: %s: %s", st, why)
	}
	p = releases(t, srv, "--env", "prod")
	if p["prod"].Live.ModelPackageArn != v1 || len(p["prod"].History) < 2 {
		t.Fatalf("prod after the rollback: %+v", p["prod"])
	}
	rb := p["prod"].History[0]
	if rb.Status != "RolledBack" || rb.ModelPackageArn != bad || !strings.Contains(rb.FailureReason, "rolled back") || len(rb.Evidence) == 0 ||
		!strings.Contains(string(rb.Evidence), "churn-prod-5xx") || !strings.Contains(string(rb.Evidence), "EndpointStatus") {
		t.Fatalf("rolled-back release: %+v (evidence %s)", rb, rb.Evidence)
	}
	if got := invoke(t, srv, "churn-prod", "1,1,1"); got != "1.75" {
		t.Fatalf("prod answers %q after the rollback", got)
	}
	// The step's metadata carries the evidence too.
	steps, _ := srv.SageMaker().ListPipelineExecutionSteps(ctx, &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(exec3)})
	if len(steps.PipelineExecutionSteps) != 1 || steps.PipelineExecutionSteps[0].StepStatus != types.StepStatusFailed {
		t.Fatalf("hotfix steps: %s", stepsOf(t, srv, exec3))
	}
	_ = http.StatusOK
}
