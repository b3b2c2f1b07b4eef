package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/server/servertest"
)

func TestEndpointUpdateHistoryWatch(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)
	ctx := context.Background()
	registerXGBoost(t, srv, "churn", types.ModelApprovalStatusApproved)
	mustSluice(t, srv, "deploy", "churn", "--endpoint", "shop", "--instance-count", "2")
	c := srv.SageMaker()
	for _, name := range []string{"shop-v2", "shop-v3"} {
		if _, err := c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String(name),
			ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String("churn-v1"),
				InitialInstanceCount: aws.Int32(2), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
			t.Fatal(err)
		}
	}
	mustSluice(t, srv, "alarms", "create", "shop-5xx", "--metric", "Invocation5XXErrors", "--endpoint", "shop", "--variant", "AllTraffic",
		"--statistic", "Sum", "--period", "10s", "--threshold", "5", "--comparison", "GreaterThanThreshold", "--missing", "notBreaching")

	// A linear update, followed to its end.
	out, errOut, code := sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v2", "--linear", "1", "--wait", "1s", "--alarm", "shop-5xx")
	if code != 0 || !strings.Contains(out, "Succeeded") || !strings.Contains(out, "LINEAR 50% → 100%") ||
		!strings.Contains(errOut, "TrafficShifted") || !strings.Contains(errOut, "OldFleetStopped") {
		t.Fatalf("update: exit %d\n%s\n%s", code, out, errOut)
	}
	d, _ := c.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("shop")})
	if aws.ToString(d.EndpointConfigName) != "shop-v2" || d.LastDeploymentConfig == nil ||
		d.LastDeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.Type != types.TrafficRoutingConfigTypeLinear ||
		aws.ToInt32(d.LastDeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value) != 1 {
		t.Fatalf("after the update: %+v", d)
	}

	// An alarm already firing: the update is rolled back before traffic moves, and the command
	// says so with a failing exit code.
	mustSluice(t, srv, "alarms", "set-state", "shop-5xx", "ALARM", "--reason", "drill")
	out, errOut, code = sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v3", "--canary", "50%", "--wait", "1m", "--alarm", "shop-5xx")
	if code == 0 || !strings.Contains(out, "RolledBack") || !strings.Contains(out, "shop-5xx") || !strings.Contains(errOut, "rolledback") {
		t.Fatalf("update while the alarm fires: exit %d\n%s\n%s", code, out, errOut)
	}

	// Bad flags never reach the server.
	if _, errOut, code := sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v2", "--canary", "10%", "--linear", "20%"); code == 0 || !strings.Contains(errOut, "at most one") {
		t.Fatalf("two strategies: %d %s", code, errOut)
	}
	if _, errOut, code := sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v2", "--canary", "ten"); code == 0 || !strings.Contains(errOut, "--canary") {
		t.Fatalf("bad canary: %d %s", code, errOut)
	}
	// Limits are the server's, in SageMaker's words.
	if _, errOut, code := sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v2", "--linear", "60%"); code == 0 || !strings.Contains(errOut, "not 10-50%") {
		t.Fatalf("linear 60%%: %d %s", code, errOut)
	}

	// History: newest first, and one deployment step by step.
	out = mustSluice(t, srv, "endpoints", "history", "shop")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "RolledBack") || !strings.Contains(lines[2], "Succeeded") || !strings.Contains(lines[2], "shop-v2") {
		t.Fatalf("history:\n%s", out)
	}
	out = mustSluice(t, srv, "endpoints", "history", "shop", "--id", strings.Fields(lines[2])[0])
	t.Logf("sluice endpoints history shop --id …:\n%s", out)
	for _, want := range []string{"NewFleetHealthy", "TrafficShifted", "Baked", "shop-5xx=OK", "OldFleetStopped"} {
		if !strings.Contains(out, want) {
			t.Fatalf("history --id lacks %q:\n%s", want, out)
		}
	}
	var h struct{ Deployments []struct{ Status string } }
	if err := json.Unmarshal([]byte(mustSluice(t, srv, "-o", "json", "endpoints", "history", "shop")), &h); err != nil || len(h.Deployments) != 2 {
		t.Fatalf("history json: %+v %v", h, err)
	}
	if _, errOut, code := sluice(t, srv, "endpoints", "history", "nope"); code == 0 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("history of a missing endpoint: %d %s", code, errOut)
	}

	// Watch with nothing in progress prints one line and stops.
	out = mustSluice(t, srv, "endpoints", "watch", "shop", "--until-idle")
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1 || !strings.Contains(out, "InService") || !strings.Contains(out, "last deployment rolledback") {
		t.Fatalf("watch:\n%s", out)
	}

	// A rolling update: the old fleet shrinks as the new one grows.
	if _, errOut, code := sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v3", "--canary", "50%", "--rollback-batch", "1"); code == 0 || !strings.Contains(errOut, "--rollback-batch goes with --rolling") {
		t.Fatalf("--rollback-batch without --rolling: %d %s", code, errOut)
	}
	out, errOut, code = sluice(t, srv, "endpoints", "update", "shop", "--config", "shop-v3", "--rolling", "1", "--rollback-batch", "50%", "--wait", "1s")
	if code != 0 || !strings.Contains(out, "Succeeded") || !strings.Contains(errOut, "OldFleetResized") || !strings.Contains(errOut, "NewFleetResized") {
		t.Fatalf("rolling update: exit %d\n%s\n%s", code, out, errOut)
	}
	d, _ = c.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("shop")})
	if rp := d.LastDeploymentConfig.RollingUpdatePolicy; aws.ToString(d.EndpointConfigName) != "shop-v3" || rp == nil ||
		rp.RollbackMaximumBatchSize == nil || aws.ToInt32(rp.RollbackMaximumBatchSize.Value) != 50 {
		t.Fatalf("after the rolling update: %s, %+v", aws.ToString(d.EndpointConfigName), d.LastDeploymentConfig)
	}
}
