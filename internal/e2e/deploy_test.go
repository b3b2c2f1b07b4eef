package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// modelCommand makes the test binary a model server container (see modelServer); the server
// under test maps the image modelImage to it.
const (
	modelCommand = "sluice-e2e-model"
	modelImage   = "e2e.local/versioned-model:*"
)

// init answers modelCommand before the tests' own setup, as the runtime answers its init shim.
func init() {
	if len(os.Args) > 1 && os.Args[1] == modelCommand {
		os.Exit(modelServer())
	}
}

// modelServer follows SageMaker's serving contract. Its Environment picks the behaviour:
// VERSION is the answer, MODE "fail" answers 500 to everything, "slow" sleeps 300 ms first and
// "dial" answers whether the server itself can connect to TARGET ("reached" or "unreachable").
func modelServer() int {
	version, mode := os.Getenv("VERSION"), os.Getenv("MODE")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch mode {
		case "fail":
			http.Error(w, "version "+version+" is broken", http.StatusInternalServerError)
			return
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "dial":
			answer := "reached"
			if c, err := net.DialTimeout("tcp", os.Getenv("TARGET"), time.Second); err != nil {
				answer = "unreachable"
			} else {
				c.Close()
			}
			io.WriteString(w, answer)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, version)
	})
	port := os.Getenv("SAGEMAKER_BIND_TO_PORT")
	if port == "" {
		port = "8080"
	}
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// load is a bounded load generator on loopback: workers invoke the endpoint until stop, and
// every outcome is counted.
type load struct {
	mu sync.Mutex
	// answers counts successful answers by the version that gave them.
	answers map[string]int
	// modelErrors counts ModelError answers whose original status was 500: the bad version
	// itself answering with an error.
	modelErrors int
	// failures are every other error: connection errors, router errors, anything lost.
	failures []string
	total    atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, rt *sagemakerruntime.Client, endpoint string, workers int) *load {
	l := &load{answers: map[string]int{}, stop: make(chan struct{})}
	// The load is bounded even if the test never stops it.
	deadline := time.Now().Add(2 * time.Minute)
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				out, err := rt.InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String(endpoint),
					ContentType: aws.String("text/csv"), Body: []byte("1,2,3")})
				cancel()
				l.total.Add(1)
				l.mu.Lock()
				var me smithy.APIError
				switch {
				case err == nil:
					l.answers[string(out.Body)]++
				case errors.As(err, &me) && me.ErrorCode() == "ModelError" && strings.Contains(err.Error(), "(500)"):
					l.modelErrors++
				default:
					l.failures = append(l.failures, err.Error())
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

func (l *load) String() string {
	return fmt.Sprintf("%d requests: answers %v, %d ModelError(500), %d other failures", l.total.Load(), l.answers, l.modelErrors, len(l.failures))
}

// TestDeploymentsUnderLoad drives real model servers through blue/green deployments while a
// load generator invokes the endpoint without pause: a good version rolled out in LINEAR steps
// loses no request; a version that answers 500 and one that is slow trip their alarms and are
// rolled back, and the only failed requests are those the broken version answered itself.
func TestDeploymentsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: the deployment load test takes about 20 s; run without -short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.Jobs.Images = map[string]string{modelImage: exe + " " + modelCommand}
	})
	ctx := context.Background()
	sm := srv.SageMaker()
	cw := cloudwatch.NewFromConfig(srv.AWS(), func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	rt := sagemakerruntime.NewFromConfig(srv.AWS(), func(o *sagemakerruntime.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
		o.RetryMaxAttempts = 1 // every failure counts
	})

	version := func(name, mode string) string {
		model, cfg := "m-"+name, "c-"+name
		if _, err := sm.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String(model), PrimaryContainer: &smtypes.ContainerDefinition{
			Image: aws.String(strings.Replace(modelImage, "*", name, 1)), Environment: map[string]string{"VERSION": name, "MODE": mode}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := sm.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String(cfg),
			ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String(model),
				InitialInstanceCount: aws.Int32(2), InstanceType: smtypes.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	blue, green := version("blue", ""), version("green", "")
	broken, slow := version("broken", "fail"), version("slow", "slow")

	alarm := func(name, metric string, stat func(*cloudwatch.PutMetricAlarmInput), period int32, threshold float64) {
		in := &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String("AWS/SageMaker"), MetricName: aws.String(metric),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("EndpointName"), Value: aws.String("shop")}, {Name: aws.String("VariantName"), Value: aws.String("AllTraffic")}},
			Period:     aws.Int32(period), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(threshold),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching")}
		stat(in)
		if _, err := cw.PutMetricAlarm(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	alarm("shop-5xx", "Invocation5XXErrors", func(in *cloudwatch.PutMetricAlarmInput) { in.Statistic = cwtypes.StatisticSum }, 10, 5)
	alarm("shop-p99", "ModelLatency", func(in *cloudwatch.PutMetricAlarmInput) { in.ExtendedStatistic = aws.String("p99") }, 1, 150_000)

	if _, err := sm.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String("shop"), EndpointConfigName: aws.String(blue)}); err != nil {
		t.Fatal(err)
	}
	waitInService(t, sm, "shop")

	deployments := 0
	update := func(t *testing.T, cfg string, dc *smtypes.DeploymentConfig) hosting.DeploymentRecord {
		t.Helper()
		deployments++
		if _, err := sm.UpdateEndpoint(ctx, &sagemaker.UpdateEndpointInput{EndpointName: aws.String("shop"), EndpointConfigName: aws.String(cfg), DeploymentConfig: dc}); err != nil {
			t.Fatal(err)
		}
		waitInService(t, sm, "shop")
		var page struct{ Deployments []hosting.DeploymentRecord }
		getJSON(t, srv, "/api/v1/endpoints/shop/deployments?limit=1", &page)
		if len(page.Deployments) != 1 || page.Deployments[0].NewEndpointConfigName != cfg {
			t.Fatalf("deployment record: %+v", page.Deployments)
		}
		return page.Deployments[0]
	}

	t.Run("good version in linear steps", func(t *testing.T) {
		l := startLoad(t, rt, "shop", 8)
		time.Sleep(300 * time.Millisecond)
		r := update(t, green, &smtypes.DeploymentConfig{
			BlueGreenUpdatePolicy: &smtypes.BlueGreenUpdatePolicy{TrafficRoutingConfiguration: &smtypes.TrafficRoutingConfig{
				Type: smtypes.TrafficRoutingConfigTypeLinear, WaitIntervalInSeconds: aws.Int32(1),
				LinearStepSize: &smtypes.CapacitySize{Type: smtypes.CapacitySizeTypeCapacityPercent, Value: aws.Int32(25)}},
				TerminationWaitInSeconds: aws.Int32(1)},
			AutoRollbackConfiguration: &smtypes.AutoRollbackConfig{Alarms: []smtypes.Alarm{{AlarmName: aws.String("shop-5xx")}}}})
		time.Sleep(300 * time.Millisecond)
		l.finish()
		t.Logf("linear rollout: %s", l)
		if r.Status != hosting.DeploymentSucceeded || fmt.Sprint(r.TrafficSteps) != "[25 50 75 100]" {
			t.Fatalf("deployment %s (%s), steps %v", r.Status, r.FailureReason, r.TrafficSteps)
		}
		if len(l.failures) != 0 || l.modelErrors != 0 {
			t.Fatalf("requests failed during a good rollout: %s; first: %v", l, first(l.failures))
		}
		if l.answers["blue"] == 0 || l.answers["green"] == 0 {
			t.Fatalf("both versions should have answered: %s", l)
		}
		// Each linear step shows the new fleet taking its share of the traffic.
		for _, e := range r.Events {
			if e.Type != hosting.EventBaked || e.Step == 0 || e.Step > 3 {
				continue
			}
			var old, new uint64
			for _, f := range e.Fleets {
				if f.Fleet == "old" {
					old = f.Invocations
				} else {
					new = f.Invocations
				}
			}
			share := float64(new) / float64(old+new)
			if want := 0.25 * float64(e.Step); share < want-0.15 || share > want+0.15 {
				t.Fatalf("step %d: the new fleet took %.0f%% of %d requests", e.Step, 100*share, old+new)
			}
		}
	})

	badVersions := []struct {
		name, config, alarm string
		// modelErrors says whether the bad version answers with errors.
		modelErrors bool
	}{
		{"version answering 500", broken, "shop-5xx", true},
		{"slow version", slow, "shop-p99", false},
	}
	for _, bv := range badVersions {
		t.Run(bv.name, func(t *testing.T) {
			l := startLoad(t, rt, "shop", 8)
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			r := update(t, bv.config, &smtypes.DeploymentConfig{
				BlueGreenUpdatePolicy: &smtypes.BlueGreenUpdatePolicy{TrafficRoutingConfiguration: &smtypes.TrafficRoutingConfig{
					Type: smtypes.TrafficRoutingConfigTypeCanary, WaitIntervalInSeconds: aws.Int32(600),
					CanarySize: &smtypes.CapacitySize{Type: smtypes.CapacitySizeTypeCapacityPercent, Value: aws.Int32(20)}},
					MaximumExecutionTimeoutInSeconds: aws.Int32(1800)},
				AutoRollbackConfiguration: &smtypes.AutoRollbackConfig{Alarms: []smtypes.Alarm{{AlarmName: aws.String(bv.alarm)}}}})
			rolledBack := time.Since(start)
			// Load after the rollback reaches the old version only.
			before := l.String()
			l.mu.Lock()
			errsBefore := l.modelErrors
			l.mu.Unlock()
			time.Sleep(500 * time.Millisecond)
			l.finish()
			t.Logf("%s: %s; rolled back %.1f s after UpdateEndpoint, %.1f ms after the alarm fired", bv.name, l, rolledBack.Seconds(), r.Rollback.ReactionMillis)
			if r.Status != hosting.DeploymentRolledBack || r.Rollback == nil || r.Rollback.Trigger != bv.alarm {
				t.Fatalf("deployment %s, rollback %+v, reason %s", r.Status, r.Rollback, r.FailureReason)
			}
			if r.Rollback.ReactionMillis > 1000 {
				t.Fatalf("traffic went back %.0f ms after the alarm fired", r.Rollback.ReactionMillis)
			}
			if len(l.failures) != 0 {
				t.Fatalf("requests failed other than the bad version's own answers: %s; first: %v", l, first(l.failures))
			}
			if bv.modelErrors && l.modelErrors == 0 {
				t.Fatalf("the broken version answered no request: %s", l)
			}
			if !bv.modelErrors && l.modelErrors != 0 {
				t.Fatalf("model errors from a version that only sleeps: %s", l)
			}
			if l.modelErrors != errsBefore {
				t.Fatalf("the broken version still answered after the rollback: before %s, after %s", before, l)
			}
			if l.answers[bv.config[2:]] != 0 && bv.modelErrors {
				t.Fatalf("the broken version answered successfully: %s", l)
			}
			d, err := sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String("shop")})
			if err != nil || aws.ToString(d.EndpointConfigName) != green || !strings.Contains(aws.ToString(d.FailureReason), bv.alarm) ||
				d.LastDeploymentConfig == nil || d.LastDeploymentConfig.AutoRollbackConfiguration == nil {
				t.Fatalf("after the rollback: %+v, %v", d, err)
			}
		})
	}

	// A rolling update back to the first version shrinks the old fleet while it serves: no
	// request is lost to the replicas it retires. (No rollback alarm: the bad versions above
	// leave theirs in ALARM for a while.)
	t.Run("good version in a rolling update", func(t *testing.T) {
		l := startLoad(t, rt, "shop", 8)
		time.Sleep(300 * time.Millisecond)
		r := update(t, blue, &smtypes.DeploymentConfig{RollingUpdatePolicy: &smtypes.RollingUpdatePolicy{
			MaximumBatchSize:      &smtypes.CapacitySize{Type: smtypes.CapacitySizeTypeInstanceCount, Value: aws.Int32(1)},
			WaitIntervalInSeconds: aws.Int32(1)}})
		time.Sleep(300 * time.Millisecond)
		l.finish()
		t.Logf("rolling update: %s", l)
		if r.Status != hosting.DeploymentSucceeded || fmt.Sprint(r.TrafficSteps) != "[50 100]" {
			t.Fatalf("deployment %s (%s), steps %v", r.Status, r.FailureReason, r.TrafficSteps)
		}
		if len(l.failures) != 0 || l.modelErrors != 0 {
			t.Fatalf("requests failed during a rolling update: %s; first: %v", l, first(l.failures))
		}
		shrunk := false
		for _, e := range r.Events {
			shrunk = shrunk || e.Type == hosting.EventOldFleetResized
		}
		if !shrunk || l.answers["blue"] == 0 || l.answers["green"] == 0 {
			t.Fatalf("the old fleet should have shrunk (%v) while both versions answered: %s", shrunk, l)
		}
	})
	if deployments != 4 {
		t.Fatalf("%d deployments ran", deployments)
	}
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

// waitInService polls until the endpoint is InService again (after Creating, Updating or
// RollingBack).
func waitInService(t *testing.T, sm *sagemaker.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	time.Sleep(50 * time.Millisecond)
	for {
		d, err := sm.DescribeEndpoint(context.Background(), &sagemaker.DescribeEndpointInput{EndpointName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		switch d.EndpointStatus {
		case smtypes.EndpointStatusInService:
			return
		case smtypes.EndpointStatusFailed:
			t.Fatalf("endpoint %s failed: %s", name, aws.ToString(d.FailureReason))
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint %s still %s", name, d.EndpointStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getJSON reads a native API document, signed with the server's root key.
func getJSON(t *testing.T, srv *servertest.Server, path string, out any) {
	t.Helper()
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+path, nil)
	creds, _ := srv.AWS().Credentials.Retrieve(ctx)
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "sagemaker", srv.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
