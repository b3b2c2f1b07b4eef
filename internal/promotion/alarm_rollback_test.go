package promotion_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	smrtypes "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// registerFeatures registers a one-tree model over nfeat features as the next approved version
// of group. A model with one feature more than callers send answers every request with a 400
// ModelError — the schema drift a changed training pipeline can introduce.
func registerFeatures(t *testing.T, srv *servertest.Server, group string, nfeat int) string {
	t.Helper()
	ctx := context.Background()
	m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: nfeat, Trees: []xgboost.Tree{{
		LeftChildren: []int32{1, xgboost.NoChild, xgboost.NoChild}, RightChildren: []int32{2, xgboost.NoChild, xgboost.NoChild},
		SplitIndices: []int32{0, 0, 0}, SplitConditions: []float32{0.5, -1, 1}, DefaultLeft: []bool{true, false, false}}}}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "xgboost-model"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if err := blob.PackDir(dir, &buf); err != nil {
		t.Fatal(err)
	}
	u := blob.MustParseURI("s3://models/" + group + "/" + time.Now().Format("150405.000000000") + "/model.tar.gz")
	blob.EnsureBucket(ctx, srv.Blob(), u.Bucket)
	if err := srv.Blob().Put(ctx, u, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	c := srv.SageMaker()
	c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(group)})
	out, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String(group), ModelApprovalStatus: types.ModelApprovalStatusApproved,
		InferenceSpecification: &types.InferenceSpecification{Containers: []types.ModelPackageContainerDefinition{{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(u.String())}},
			SupportedContentTypes: []string{"text/csv"}, SupportedResponseMIMETypes: []string{"text/csv"}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ModelPackageArn)
}

// traffic is the requests a test sent to an endpoint and how they were answered.
type traffic struct {
	mu            sync.Mutex
	ok, modelErrs int
	other         []string
}

// sendTraffic invokes endpoint with body from one loop at about 50 requests a second until stop
// is closed or max has passed, whichever is first.
func sendTraffic(srv *servertest.Server, endpoint, body string, stop <-chan struct{}, max time.Duration) *traffic {
	rt := smr.NewFromConfig(srv.AWS(), func(o *smr.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
		o.RetryMaxAttempts = 1
	})
	tr := &traffic{}
	ctx, cancel := context.WithTimeout(context.Background(), max)
	go func() {
		defer cancel()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String(endpoint), ContentType: aws.String("text/csv"),
				Body: []byte(body)})
			var me *smrtypes.ModelError
			tr.mu.Lock()
			switch {
			case err == nil:
				tr.ok++
			case errors.As(err, &me):
				tr.modelErrs++
			case ctx.Err() == nil && len(tr.other) < 5:
				tr.other = append(tr.other, err.Error())
			}
			tr.mu.Unlock()
		}
	}()
	return tr
}

func (tr *traffic) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"ok": tr.ok, "modelErrors": tr.modelErrs, "other": tr.other})
	return string(b)
}

// TestDeployPipelineAlarmRollsBackProdCanary promotes a version with a schema bug to prod,
// which runs a good version, through a deploy pipeline while callers send prod traffic: the
// CANARY fleet answers 400s, the Invocation4XXErrors alarm fires, the endpoint rolls back, the
// Deploy step and the execution fail, and the release is RolledBack with hosting's deployment
// record (strategy, traffic steps, rollback trigger and reaction time) as evidence.
func TestDeployPipelineAlarmRollsBackProdCanary(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()

	sluice(t, srv, "envs", "create", "testdata/prod-canary-4xx.json", "--name", "prod")
	sluice(t, srv, "alarms", "create", "churn-prod-4xx", "--metric", "Invocation4XXErrors", "--endpoint", "churn-prod", "--variant", "AllTraffic",
		"--statistic", "Sum", "--period", "10s", "--threshold", "3", "--comparison", "gt", "--missing", "notBreaching")
	// The pipeline deploys straight to prod: a staging test step would stop the bad version
	// before prod ever saw it, and this test is about prod's canary.
	def := `{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"}],
		"Steps":[{"Name":"DeployProd","Type":"Sluice:Deploy","Arguments":{"Environment":"prod","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}}]}`
	if _, err := srv.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("churn-release"), PipelineDefinition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}

	// Production runs a good version (three features, as callers send).
	good := registerFeatures(t, srv, "churn", 3)
	if st, why := waitExecution(t, srv, start(t, srv, "churn-release", good)); st != "Succeeded" {
		t.Fatalf("deploying the good version: %s: %s", st, why)
	}
	if got := invoke(t, srv, "churn-prod", "1,1,1"); got != "1.5" {
		t.Fatalf("prod answers %q with the good version", got)
	}
	live := releases(t, srv, "--env", "prod")["prod"].Live
	if live == nil || live.ModelPackageArn != good || !strings.Contains(string(live.Evidence), `"Deployment"`) {
		t.Fatalf("prod's live release: %+v", live)
	}

	// The bad version expects four features; callers keep sending three.
	bad := registerFeatures(t, srv, "churn", 4)
	stop := make(chan struct{})
	tr := sendTraffic(srv, "churn-prod", "1,1,1", stop, 60*time.Second)
	exec := start(t, srv, "churn-release", bad)
	st, why := waitExecution(t, srv, exec)
	close(stop)
	if st != "Failed" || !strings.Contains(why, "rolled back") || !strings.Contains(why, "churn-prod-4xx") {
		t.Fatalf("bad version: %s: %s (traffic %s)", st, why, tr)
	}
	if steps := stepsOf(t, srv, exec); !strings.Contains(steps, "DeployProd=Failed") {
		t.Fatalf("steps: %s", steps)
	}
	tr.mu.Lock()
	okN, errN := tr.ok, tr.modelErrs
	tr.mu.Unlock()
	if errN <= 3 || okN == 0 {
		t.Fatalf("traffic during the canary: %s", tr)
	}

	p := releases(t, srv, "--env", "prod")["prod"]
	if p.Live == nil || p.Live.ModelPackageArn != good || len(p.History) < 2 {
		t.Fatalf("prod after the rollback: %+v", p)
	}
	rb := p.History[0]
	if rb.Status != "RolledBack" || rb.ModelPackageArn != bad || rb.PipelineExecutionArn != exec {
		t.Fatalf("rolled-back release: %+v", rb)
	}
	var ev struct {
		Alarms []struct{ AlarmName, StateValue string }
		// Deployment is hosting's record of the update.
		Deployment hosting.DeploymentRecord
	}
	if err := json.Unmarshal(rb.Evidence, &ev); err != nil {
		t.Fatalf("evidence: %v\n%s", err, rb.Evidence)
	}
	d := ev.Deployment
	if d.Status != hosting.DeploymentRolledBack || d.Strategy != "CANARY" || d.EndpointName != "churn-prod" || d.NewEndpointConfigName == d.OldEndpointConfigName ||
		len(d.TrafficSteps) == 0 || d.Rollback == nil || d.Rollback.Trigger != "churn-prod-4xx" || d.Rollback.ReactionMillis <= 0 {
		t.Fatalf("deployment record in the evidence: status %s strategy %s config %s (old %s) steps %v rollback %+v\n%s",
			d.Status, d.Strategy, d.NewEndpointConfigName, d.OldEndpointConfigName, d.TrafficSteps, d.Rollback, rb.Evidence)
	}
	sawAlarm := false
	for _, e := range d.Events {
		for _, a := range e.Alarms {
			sawAlarm = sawAlarm || (a.AlarmName == "churn-prod-4xx" && a.State == "ALARM")
		}
	}
	if !sawAlarm || len(ev.Alarms) != 1 || ev.Alarms[0].AlarmName != "churn-prod-4xx" {
		t.Fatalf("alarm states in the evidence: %s", rb.Evidence)
	}
	// Prod serves the good version again, on the config the record rolled back to.
	desc, err := srv.SageMaker().DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("churn-prod")})
	if err != nil || aws.ToString(desc.EndpointConfigName) != d.OldEndpointConfigName {
		t.Fatalf("prod after the rollback: %v %+v, record's old config %s", err, desc, d.OldEndpointConfigName)
	}
	if got := invoke(t, srv, "churn-prod", "1,1,1"); got != "1.5" {
		t.Fatalf("prod answers %q after the rollback", got)
	}
}

// TestRemoteReleaseEvidenceHasDeploymentRecord updates an endpoint on a second server and
// checks that the release carries that server's deployment record, read through its signed
// deployments API.
func TestRemoteReleaseEvidenceHasDeploymentRecord(t *testing.T) {
	ctx := context.Background()
	build := servertest.Start(t)
	prodSrv := servertest.Start(t)
	cfg := map[string]any{"EndpointName": "churn-prod", "Variant": map[string]any{"InstanceCount": 1},
		"Remote": map[string]any{"Url": prodSrv.URL(), "AccessKeyId": prodSrv.AccessKey, "SecretAccessKey": prodSrv.Secret, "Region": prodSrv.Config.Region}}
	b, _ := json.Marshal(cfg)
	file := filepath.Join(t.TempDir(), "prod-config.json")
	os.WriteFile(file, b, 0o600)
	sluice(t, build, "envs", "create", file, "--name", "prod")
	def := `{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"}],
		"Steps":[{"Name":"DeployProd","Type":"Sluice:Deploy","Arguments":{"Environment":"prod","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}}]}`
	if _, err := build.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("churn-release"), PipelineDefinition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"no deployment record", hosting.DeploymentSucceeded} {
		v := registerFeatures(t, build, "churn", 3)
		if st, why := waitExecution(t, build, start(t, build, "churn-release", v)); st != "Succeeded" {
			t.Fatalf("deploy %d: %s: %s", i+1, st, why)
		}
		live := releases(t, build, "--env", "prod")["prod"].Live
		if live == nil || live.ModelPackageArn != v {
			t.Fatalf("deploy %d: live release %+v", i+1, live)
		}
		var ev struct {
			Deployment struct {
				hosting.DeploymentRecord
				Unavailable bool
				Reason      string
			}
		}
		if err := json.Unmarshal(live.Evidence, &ev); err != nil {
			t.Fatalf("deploy %d: evidence %v: %s", i+1, err, live.Evidence)
		}
		d := ev.Deployment
		switch {
		case i == 0 && (!d.Unavailable || !strings.Contains(d.Reason, want)):
			t.Fatalf("creation's evidence: %s", live.Evidence)
		case i == 1 && (d.Unavailable || d.Status != want || d.EndpointName != "churn-prod" || len(d.Events) == 0):
			t.Fatalf("update's evidence: %s", live.Evidence)
		}
	}
}
