// Command deploy measures Sluice's safe deployments on one machine, with a real server (in this
// process, listening on 127.0.0.1) and real model servers:
//
//   - rollback: an endpoint under continuous load is updated to a version that answers 500,
//     with a CANARY DeploymentConfig and an alarm on the variant's Invocation5XXErrors; each
//     round measures the first bad answer → alarm in ALARM → all traffic back on the old fleet,
//     and how many requests the bad version answered (the target is ≤ 1 s from the alarm to
//     the old fleet; SageMaker takes minutes);
//   - two fleets: the latency of InvokeEndpoint on an endpoint with one fleet, side by side
//     with one held mid-canary with two fleets live under its variant (the target is no more
//     than 10 % over a single fleet), measured in alternating rounds over HTTP.
//
// Run: go run ./bench/deploy [-rounds 10] [-duration 3s] [-workers 4].
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/server"
)

// modelCommand makes this binary a container model server; MODE=fail answers 500.
const modelCommand = "deploy-bench-model"

func main() {
	if len(os.Args) > 1 && os.Args[1] == modelCommand {
		os.Exit(modelServer())
	}
	rounds := flag.Int("rounds", 10, "rollbacks to measure")
	duration := flag.Duration("duration", 3*time.Second, "length of each latency round")
	latRounds := flag.Int("latency-rounds", 4, "alternating latency rounds per endpoint")
	workers := flag.Int("workers", 4, "concurrent clients")
	flag.Parse()
	if err := run(*rounds, *latRounds, *duration, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "deploy bench:", err)
		os.Exit(1)
	}
}

func modelServer() int {
	fail := os.Getenv("MODE") == "fail"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if fail {
			http.Error(w, "broken version", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "1")
	})
	port := os.Getenv("SAGEMAKER_BIND_TO_PORT")
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type bench struct {
	srv    *server.Server
	sm     *sm.Client
	creds  aws.Credentials
	region string
	client *http.Client
}

func run(rounds, latRounds int, duration time.Duration, workers int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluice-deploy-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Listen, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", dir, "warn"
	cfg.Jobs.Images = map[string]string{"bench.local/model:*": exe + " " + modelCommand}
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil {
		return err
	}
	b := &bench{srv: srv, region: cfg.Region, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		creds: aws.Credentials{AccessKeyID: keys[0].AccessKeyID, SecretAccessKey: keys[0].Secret}}
	b.sm = sm.NewFromConfig(aws.Config{Region: cfg.Region, Credentials: credentials.NewStaticCredentialsProvider(b.creds.AccessKeyID, b.creds.SecretAccessKey, "")},
		func(o *sm.Options) { o.BaseEndpoint = aws.String(srv.URL()) })

	fmt.Printf("Sluice safe deployments, %s, %d workers on loopback\n\n", time.Now().Format(time.DateOnly), workers)
	if err := b.rollbacks(ctx, rounds, workers); err != nil {
		return err
	}
	return b.twoFleets(ctx, latRounds, duration, workers)
}

// --- rollback ----------------------------------------------------------------------------

func (b *bench) model(ctx context.Context, name string, container *types.ContainerDefinition) error {
	if _, err := b.sm.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String(name), PrimaryContainer: container}); err != nil {
		return err
	}
	_, err := b.sm.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String(name),
		ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String(name),
			InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}})
	return err
}

func (b *bench) waitInService(ctx context.Context, name string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := b.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)})
		if err != nil {
			return err
		}
		if d.EndpointStatus == types.EndpointStatusInService {
			return nil
		}
		if d.EndpointStatus == types.EndpointStatusFailed {
			return fmt.Errorf("endpoint %s failed: %s", name, aws.ToString(d.FailureReason))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("endpoint %s: not InService after 2 minutes", name)
}

func (b *bench) latest(ctx context.Context, endpoint string) (hosting.DeploymentRecord, error) {
	rows, err := b.srv.Store().Deployments(ctx, fmt.Sprintf("arn:aws:sagemaker:%s:000000000000:endpoint/%s", b.region, endpoint), 0, 1)
	if err != nil || len(rows) == 0 {
		return hosting.DeploymentRecord{}, fmt.Errorf("no deployment record for %s: %v", endpoint, err)
	}
	var r hosting.DeploymentRecord
	return r, json.Unmarshal(rows[0].Record, &r)
}

// outcome is one request as the load generator saw it.
type outcome struct {
	start, end time.Time
	status     int
}

// load invokes endpoint from workers clients until stop, recording every outcome.
func (b *bench) load(endpoint string, body []byte, workers int, stop <-chan struct{}) func() []outcome {
	req := b.signed(endpoint, body)
	var mu sync.Mutex
	var all []outcome
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []outcome
			for {
				select {
				case <-stop:
					mu.Lock()
					all = append(all, mine...)
					mu.Unlock()
					return
				default:
				}
				r, _ := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
				r.Header = req.Header
				start := time.Now()
				resp, err := b.client.Do(r)
				o := outcome{start: start}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o.status = resp.StatusCode
				}
				o.end = time.Now()
				mine = append(mine, o)
			}
		}()
	}
	return func() []outcome { wg.Wait(); return all }
}

// signed is an InvokeEndpoint request signed once; its headers are reused for every request,
// as a keep-alive client within the signature's validity would.
func (b *bench) signed(endpoint string, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL()+"/endpoints/"+endpoint+"/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	v4.NewSigner().SignHTTP(context.Background(), b.creds, req, hex.EncodeToString(sum[:]), "sagemaker", b.region, time.Now())
	return req
}

func (b *bench) rollbacks(ctx context.Context, rounds, workers int) error {
	good := &types.ContainerDefinition{Image: aws.String("bench.local/model:good")}
	bad := &types.ContainerDefinition{Image: aws.String("bench.local/model:bad"), Environment: map[string]string{"MODE": "fail"}}
	if err := b.model(ctx, "good", good); err != nil {
		return err
	}
	if err := b.model(ctx, "bad", bad); err != nil {
		return err
	}
	if _, err := b.sm.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String("guarded"), EndpointConfigName: aws.String("good")}); err != nil {
		return err
	}
	if err := b.waitInService(ctx, "guarded"); err != nil {
		return err
	}
	alarms := b.srv.Alarms()
	if _, _, err := alarms.Put(ctx, alarm.Definition{AlarmName: "guarded-5xx", Namespace: alarm.NamespaceSageMaker, MetricName: alarm.MetricInvocation5XXErrors,
		Dimensions: []alarm.Dimension{{Name: alarm.DimEndpointName, Value: "guarded"}, {Name: alarm.DimVariantName, Value: "AllTraffic"}},
		Statistic:  "Sum", Period: 1, EvaluationPeriods: 1, Threshold: 0, ComparisonOperator: alarm.GreaterThanThreshold,
		TreatMissingData: alarm.MissingDataNotBreaching, ActionsEnabled: true}); err != nil {
		return err
	}
	dc := &types.DeploymentConfig{
		BlueGreenUpdatePolicy: &types.BlueGreenUpdatePolicy{TrafficRoutingConfiguration: &types.TrafficRoutingConfig{
			Type: types.TrafficRoutingConfigTypeCanary, WaitIntervalInSeconds: aws.Int32(600),
			CanarySize: &types.CapacitySize{Type: types.CapacitySizeTypeCapacityPercent, Value: aws.Int32(50)}}},
		AutoRollbackConfiguration: &types.AutoRollbackConfig{Alarms: []types.Alarm{{AlarmName: aws.String("guarded-5xx")}}}}

	var toAlarm, toRestore, exposure, straggle []time.Duration
	var badAnswers, failures []int
	fmt.Printf("Rollback: CANARY 50%% to a version answering 500, alarm Invocation5XXErrors Sum > 0 (Period 1 s), %d rounds\n", rounds)
	for i := range rounds {
		// Each round starts with the alarm OK again (one period without errors).
		for deadline := time.Now().Add(30 * time.Second); ; {
			if a, _ := alarms.Get("guarded-5xx"); a.State.Value == alarm.StateOK {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("alarm guarded-5xx did not return to OK")
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop := make(chan struct{})
		collect := b.load("guarded", []byte("1,2,3"), workers, stop)
		time.Sleep(200 * time.Millisecond)
		if _, err := b.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("guarded"), EndpointConfigName: aws.String("bad"), DeploymentConfig: dc}); err != nil {
			close(stop)
			collect()
			return err
		}
		time.Sleep(50 * time.Millisecond)
		if err := b.waitInService(ctx, "guarded"); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		close(stop)
		outs := collect()
		r, err := b.latest(ctx, "guarded")
		if err != nil {
			return err
		}
		if r.Status != hosting.DeploymentRolledBack || r.Rollback == nil {
			return fmt.Errorf("round %d: deployment %s (%s)", i+1, r.Status, r.FailureReason)
		}
		var firstBad, lastBadStart time.Time
		nBad, nFail := 0, 0
		for _, o := range outs {
			switch {
			case o.status == http.StatusFailedDependency:
				nBad++
				if firstBad.IsZero() || o.end.Before(firstBad) {
					firstBad = o.end
				}
				if o.start.After(lastBadStart) {
					lastBadStart = o.start
				}
			case o.status != http.StatusOK:
				nFail++
			}
		}
		if nBad == 0 {
			return fmt.Errorf("round %d: the bad version answered nothing", i+1)
		}
		toAlarm = append(toAlarm, r.Rollback.AlarmFiredAt.Sub(firstBad))
		toRestore = append(toRestore, r.Rollback.TrafficRestoredAt.Sub(r.Rollback.AlarmFiredAt))
		exposure = append(exposure, r.Rollback.TrafficRestoredAt.Sub(firstBad))
		straggle = append(straggle, lastBadStart.Sub(r.Rollback.TrafficRestoredAt))
		badAnswers = append(badAnswers, nBad)
		failures = append(failures, nFail)
	}
	fmt.Printf("  %-66s %10s %10s %10s\n", "", "median", "p90", "max")
	row := func(what string, ds []time.Duration) {
		fmt.Printf("  %-66s %10s %10s %10s\n", what, fmtDur(quantile(ds, 0.5)), fmtDur(quantile(ds, 0.9)), fmtDur(quantile(ds, 1)))
	}
	row("first 500 answered → alarm in ALARM", toAlarm)
	row("alarm in ALARM → all traffic on the old fleet", toRestore)
	row("first 500 answered → all traffic on the old fleet", exposure)
	row("last request sent to the bad fleet, after the swap (≤0: before)", straggle)
	slices.Sort(badAnswers)
	fmt.Printf("  requests answered by the bad version per rollback: median %d, max %d; other failed requests: %d in all\n",
		badAnswers[len(badAnswers)/2], badAnswers[len(badAnswers)-1], sum(failures))
	fmt.Printf("  SageMaker: CloudWatch evaluates alarms once a minute on 1-minute metrics, then the rollback shifts traffic back: minutes.\n\n")
	return nil
}

// --- two fleets ----------------------------------------------------------------------------

// twoFleets compares an endpoint with one fleet against one held mid-canary with two fleets
// live under its variant; both serve the same native XGBoost model, so only the routing
// differs.
func (b *bench) twoFleets(ctx context.Context, rounds int, duration time.Duration, workers int) error {
	uri, err := b.putXGBoost(ctx)
	if err != nil {
		return err
	}
	for _, name := range []string{"xgb-a", "xgb-b", "xgb-c"} {
		if err := b.model(ctx, name, &types.ContainerDefinition{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(uri)}); err != nil {
			return err
		}
	}
	for _, ep := range []string{"one", "two"} {
		if _, err := b.sm.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String(ep), EndpointConfigName: aws.String("xgb-a")}); err != nil {
			return err
		}
		if err := b.waitInService(ctx, ep); err != nil {
			return err
		}
	}
	// Endpoint "two" is held in its canary bake: 50 % on each fleet for an hour.
	if _, err := b.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("two"), EndpointConfigName: aws.String("xgb-b"),
		DeploymentConfig: &types.DeploymentConfig{BlueGreenUpdatePolicy: &types.BlueGreenUpdatePolicy{TrafficRoutingConfiguration: &types.TrafficRoutingConfig{
			Type: types.TrafficRoutingConfigTypeCanary, WaitIntervalInSeconds: aws.Int32(3600),
			CanarySize: &types.CapacitySize{Type: types.CapacitySizeTypeCapacityPercent, Value: aws.Int32(50)}}}}}); err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); ; {
		r, err := b.latest(ctx, "two")
		if err == nil && r.Phase == hosting.PhaseBaking {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("endpoint two did not reach its canary bake")
		}
		time.Sleep(10 * time.Millisecond)
	}
	body := []byte("0.3,1.5,2.5")
	// Warm up both.
	for _, ep := range []string{"one", "two"} {
		stop := make(chan struct{})
		c := b.load(ep, body, workers, stop)
		time.Sleep(500 * time.Millisecond)
		close(stop)
		c()
	}
	lat := map[string][]time.Duration{}
	reqs := map[string]int{}
	for range rounds {
		for _, ep := range []string{"one", "two"} {
			stop := make(chan struct{})
			c := b.load(ep, body, workers, stop)
			time.Sleep(duration)
			close(stop)
			for _, o := range c() {
				if o.status != http.StatusOK {
					return fmt.Errorf("endpoint %s answered %d", ep, o.status)
				}
				lat[ep] = append(lat[ep], o.end.Sub(o.start))
				reqs[ep]++
			}
		}
	}
	r, _ := b.latest(ctx, "two")
	fmt.Printf("Two fleets live: InvokeEndpoint over HTTP, native XGBoost model, %d×%s alternating rounds each\n", rounds, duration)
	fmt.Printf("  %-44s %10s %10s %10s %10s %12s\n", "", "mean", "p50", "p90", "p99", "req/s")
	total := time.Duration(rounds) * duration
	for _, ep := range []string{"one", "two"} {
		label := "one fleet (steady endpoint)"
		if ep == "two" {
			label = fmt.Sprintf("two fleets (mid-canary, %g%% new)", r.NewTrafficPercent)
		}
		ds := lat[ep]
		fmt.Printf("  %-44s %10s %10s %10s %10s %12.0f\n", label, fmtDur(mean(ds)), fmtDur(quantile(ds, 0.5)), fmtDur(quantile(ds, 0.9)),
			fmtDur(quantile(ds, 0.99)), float64(reqs[ep])/total.Seconds())
	}
	pct := func(q float64) float64 {
		a, b := quantile(lat["one"], q), quantile(lat["two"], q)
		return 100 * (float64(b) - float64(a)) / float64(a)
	}
	fmt.Printf("  two fleets vs one: p50 %+.1f%%, p99 %+.1f%%, mean %+.1f%%\n", pct(0.5), pct(0.99),
		100*(float64(mean(lat["two"]))-float64(mean(lat["one"])))/float64(mean(lat["one"])))
	return nil
}

// putXGBoost stores a 20-tree depth-4 XGBoost model and returns its URI.
func (b *bench) putXGBoost(ctx context.Context) (string, error) {
	m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3}
	for t := range 20 {
		m.Trees = append(m.Trees, fullTree(4, int32(t)))
	}
	dir, err := os.MkdirTemp("", "xgb")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "xgboost-model"))
	if err != nil {
		return "", err
	}
	if err := m.WriteJSON(f); err != nil {
		return "", err
	}
	f.Close()
	var buf bytes.Buffer
	if err := blob.PackDir(dir, &buf); err != nil {
		return "", err
	}
	u := blob.MustParseURI("s3://bench/xgb/model.tar.gz")
	blob.EnsureBucket(ctx, b.srv.Blob(), u.Bucket)
	return u.String(), b.srv.Blob().Put(ctx, u, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}

// fullTree is a complete tree of the given depth splitting on the three features in turn.
func fullTree(depth int, seed int32) xgboost.Tree {
	var t xgboost.Tree
	n := 1<<(depth+1) - 1
	for i := range n {
		leaf := i >= n/2
		t.DefaultLeft = append(t.DefaultLeft, true)
		if leaf {
			t.LeftChildren = append(t.LeftChildren, xgboost.NoChild)
			t.RightChildren = append(t.RightChildren, xgboost.NoChild)
			t.SplitIndices = append(t.SplitIndices, 0)
			t.SplitConditions = append(t.SplitConditions, float32((int32(i)+seed)%7)/10)
			continue
		}
		t.LeftChildren = append(t.LeftChildren, int32(2*i+1))
		t.RightChildren = append(t.RightChildren, int32(2*i+2))
		t.SplitIndices = append(t.SplitIndices, int32(i%3))
		t.SplitConditions = append(t.SplitConditions, float32((int32(i)*7+seed)%30)/10)
	}
	return t
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)-1))
	return s[i]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
