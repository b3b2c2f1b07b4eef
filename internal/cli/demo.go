package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/examples/abalone"
	"github.com/sluice-ml/sluice/examples/deploy"
	"github.com/sluice-ml/sluice/internal/algo/xgboost/train"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server"
)

func init() {
	addCommands(func(g *globals) []*cobra.Command { return []*cobra.Command{newDemoCmd(g)} })
}

// demoBudget is the time the whole tour may take before it is called a failure.
const demoBudget = 3 * time.Minute

func newDemoCmd(g *globals) *cobra.Command {
	var keep bool
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the tour on the embedded defaults: build pipeline, registry approval, endpoint",
		Long: `Start a server in a fresh temporary data directory and walk a model through the whole story:
generate abalone-like data, run the build pipeline (preprocess, train, evaluate, condition,
register), approve the registered version, deploy it to an endpoint and invoke it. Every step
really runs. The exit status is 0 only if every stage did what it should.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "sluice-demo-")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					defer os.RemoveAll(dir)
				}
			}
			d := &demo{g: g, dir: dir}
			err := d.run(cmd.Context())
			if keep {
				fmt.Fprintf(g.stdout, "\nThe demo's data directory is kept at %s (server log: %s).\n", dir, filepath.Join(dir, "server.log"))
			}
			if err != nil {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's data directory for inspection")
	cmd.Flags().StringVar(&dir, "dir", "", "use this data directory instead of a temporary one")
	return cmd
}

type demo struct {
	g       *globals
	dir     string
	srv     *server.Server
	sm      *sagemaker.Client
	rt      *sagemakerruntime.Client
	results []stageResult

	stopServer func()
	conn       *conn

	executionArn string
	packageArn   string
	endpoint     string
	// deployExecutions counts the deploy pipeline's executions seen so far.
	deployExecutions int
	deployArn        string
	deploySeen       map[string]types.StepStatus
	gate             string
	builds           int

	// sample is a few rows of the test split, as production traffic.
	sample []string

	badPackageArn string
}

type stageResult struct {
	name   string
	detail string
	took   time.Duration
	err    error
}

func (d *demo) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, demoBudget)
	defer cancel()
	start := time.Now()
	fmt.Fprintf(d.g.stdout, "Sluice demo — data directory %s\n\n", d.dir)
	stages := []struct {
		name string
		fn   func(ctx context.Context) (string, error)
	}{
		{"start a server (SQLite, local artifacts, local processes)", d.startServer},
		{"register the build pipeline", d.upsertPipeline},
		{"run the build pipeline", d.runPipeline},
		{"set up delivery: staging and prod, alarms, deploy pipeline, approval trigger", d.setUpDelivery},
		{"approve the registered version; the trigger starts the deploy pipeline", d.approve},
		{"deploy to staging, test it, wait at the gate", d.toGate},
		{"approve the gate; first release to production", d.promote},
		{"invoke production", d.invoke},
		{"retrain: run the build pipeline again", d.runPipeline},
		{"approve the new version; staging, tests, gate", d.approveAndGate},
		{"approve the gate; canary update of production, alarm watching", d.promoteCanary},
		{"register and approve a version with a schema bug", d.registerBad},
		{"the deploy pipeline's staging tests stop it", d.stagingStopsBad},
		{"push it to production anyway, canary behind an alarm, under live traffic", d.canaryRollback},
	}
	var failed error
	for i, st := range stages {
		fmt.Fprintf(d.g.stdout, "[%d/%d] %s …\n", i+1, len(stages), st.name)
		t0 := time.Now()
		detail, err := st.fn(ctx)
		if err != nil {
			err = errors.New(apiErrorMessage(err))
		}
		r := stageResult{name: st.name, detail: detail, took: time.Since(t0), err: err}
		d.results = append(d.results, r)
		if err != nil {
			fmt.Fprintf(d.g.stdout, "      FAILED after %s: %v\n", r.took.Round(time.Millisecond), err)
			failed = err
			break
		}
		fmt.Fprintf(d.g.stdout, "      ok in %s — %s\n", r.took.Round(time.Millisecond), detail)
	}
	if d.stopServer != nil {
		d.stopServer()
	}
	d.summary(time.Since(start), failed)
	return failed
}

func (d *demo) summary(total time.Duration, failed error) {
	fmt.Fprintln(d.g.stdout, "\nSummary")
	tw := tabwriter.NewWriter(d.g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tRESULT\tTIME")
	for _, r := range d.results {
		res := "ok"
		if r.err != nil {
			res = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, res, r.took.Round(time.Millisecond))
	}
	tw.Flush()
	if failed != nil {
		fmt.Fprintf(d.g.stdout, "\nThe demo FAILED after %s: %v\nServer log: %s\n", total.Round(time.Millisecond), failed, filepath.Join(d.dir, "server.log"))
		return
	}
	fmt.Fprintf(d.g.stdout, "\nEverything ran for real in %s.\n", total.Round(time.Millisecond))
	fmt.Fprintf(d.g.stdout, "  pipeline execution  %s\n  live model version  %s\n  endpoint            %s (rolled back from %s)\n",
		d.executionArn, d.packageArn, d.endpoint, d.badPackageArn)
}

func (d *demo) startServer(ctx context.Context) (string, error) {
	cfg := config.Default()
	cfg.DataDir = d.dir
	cfg.Listen = "127.0.0.1:0"
	if py := os.Getenv("SLUICE_PYTHON"); py != "" {
		cfg.Jobs.Python = py
	}
	logf, err := os.Create(filepath.Join(d.dir, "server.log"))
	if err != nil {
		return "", err
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := server.New(context.WithoutCancel(ctx), cfg, log)
	if err != nil {
		logf.Close()
		return "", err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	d.stopServer = func() {
		stop()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
		}
		logf.Close()
	}
	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil || len(keys) == 0 {
		return "", fmt.Errorf("root key: %v", err)
	}
	awsCfg := aws.Config{Region: cfg.Region, Credentials: credentials.NewStaticCredentialsProvider(keys[0].AccessKeyID, keys[0].Secret, "")}
	d.conn = &conn{endpoint: srv.URL(), aws: awsCfg}
	d.sm = d.conn.sagemaker()
	d.rt = sagemakerruntime.NewFromConfig(awsCfg, func(o *sagemakerruntime.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	return "listening on " + srv.URL(), nil
}

const (
	demoPipeline   = "abalone-build"
	deployPipeline = "abalone-deploy"
	alarmName      = "abalone-prod-model-errors"
)

func (d *demo) upsertPipeline(ctx context.Context) (string, error) {
	_, err := d.sm.CreatePipeline(ctx, &sagemaker.CreatePipelineInput{
		PipelineName:       aws.String(demoPipeline),
		PipelineDefinition: aws.String(abalone.Definition),
		RoleArn:            aws.String("arn:aws:iam::000000000000:role/sluice-demo"),
		ClientRequestToken: aws.String("sluice-demo-create-pipeline-0001"),
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: generate → preprocess → train → evaluate → condition → register", demoPipeline), nil
}

func (d *demo) runPipeline(ctx context.Context) (string, error) {
	out, err := d.sm.StartPipelineExecution(ctx, &sagemaker.StartPipelineExecutionInput{
		PipelineName: aws.String(demoPipeline),
		PipelineParameters: []types.Parameter{
			{Name: aws.String("Rows"), Value: aws.String("4177")},
		},
		ClientRequestToken: aws.String(fmt.Sprintf("sluice-demo-start-execution-%04d", d.builds+1)),
	})
	if err != nil {
		return "", err
	}
	d.builds++
	d.executionArn = aws.ToString(out.PipelineExecutionArn)
	desc, err := d.follow(ctx, d.executionArn, map[string]types.StepStatus{}, nil)
	if err != nil {
		return "", err
	}
	if desc.PipelineExecutionStatus != types.PipelineExecutionStatusSucceeded {
		return "", fmt.Errorf("execution %s %s: %s", lastSegment(d.executionArn), desc.PipelineExecutionStatus, aws.ToString(desc.FailureReason))
	}
	return "execution " + lastSegment(d.executionArn) + " Succeeded", nil
}

// stepNote adds what a person wants to see about a finished step.
func stepNote(s types.PipelineExecutionStep) string {
	m := s.Metadata
	switch {
	case s.FailureReason != nil:
		return " — " + aws.ToString(s.FailureReason)
	case m == nil:
		return ""
	case m.Condition != nil:
		return " — outcome " + string(m.Condition.Outcome)
	case m.RegisterModel != nil:
		return " — " + aws.ToString(m.RegisterModel.Arn)
	}
	return ""
}

func (d *demo) approve(ctx context.Context) (string, error) {
	list, err := d.sm.ListModelPackages(ctx, &sagemaker.ListModelPackagesInput{
		ModelPackageGroupName: aws.String(abalone.ModelPackageGroup),
		SortBy:                types.ModelPackageSortByCreationTime,
		SortOrder:             types.SortOrderDescending,
		MaxResults:            aws.Int32(1),
	})
	if err != nil {
		return "", err
	}
	if len(list.ModelPackageSummaryList) == 0 {
		return "", errors.New("the pipeline registered no model version")
	}
	p := list.ModelPackageSummaryList[0]
	if p.ModelApprovalStatus != types.ModelApprovalStatusPendingManualApproval {
		return "", fmt.Errorf("version %s is %s, expected PendingManualApproval", aws.ToString(p.ModelPackageArn), p.ModelApprovalStatus)
	}
	d.packageArn = aws.ToString(p.ModelPackageArn)
	if _, err := d.sm.UpdateModelPackage(ctx, &sagemaker.UpdateModelPackageInput{
		ModelPackageArn:     p.ModelPackageArn,
		ModelApprovalStatus: types.ModelApprovalStatusApproved,
		ApprovalDescription: aws.String("approved by the demo after reviewing the evaluation report"),
	}); err != nil {
		return "", err
	}
	latest, err := d.sm.ListModelPackages(ctx, &sagemaker.ListModelPackagesInput{
		ModelPackageGroupName: aws.String(abalone.ModelPackageGroup),
		ModelApprovalStatus:   types.ModelApprovalStatusApproved,
		SortBy:                types.ModelPackageSortByCreationTime,
		SortOrder:             types.SortOrderDescending,
		MaxResults:            aws.Int32(1),
	})
	if err != nil {
		return "", err
	}
	if len(latest.ModelPackageSummaryList) == 0 || aws.ToString(latest.ModelPackageSummaryList[0].ModelPackageArn) != d.packageArn {
		return "", errors.New("the latest-approved query does not return the version just approved")
	}
	return fmt.Sprintf("%s/%d PendingManualApproval → Approved", abalone.ModelPackageGroup, aws.ToInt32(p.ModelPackageVersion)), nil
}

// testRows reads a few rows of the test split the pipeline wrote, without their label.
func (d *demo) testRows(ctx context.Context, n int) ([]string, []string, error) {
	steps, err := d.sm.ListPipelineExecutionSteps(ctx, &sagemaker.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(d.executionArn)})
	if err != nil {
		return nil, nil, err
	}
	var jobArn string
	for _, s := range steps.PipelineExecutionSteps {
		if aws.ToString(s.StepName) == "PreprocessAbaloneData" && s.Metadata != nil && s.Metadata.ProcessingJob != nil {
			jobArn = aws.ToString(s.Metadata.ProcessingJob.Arn)
		}
	}
	if jobArn == "" {
		return nil, nil, errors.New("no preprocessing job in the execution")
	}
	job, err := d.sm.DescribeProcessingJob(ctx, &sagemaker.DescribeProcessingJobInput{ProcessingJobName: aws.String(lastSegment(jobArn))})
	if err != nil {
		return nil, nil, err
	}
	var testURI string
	for _, o := range job.ProcessingOutputConfig.Outputs {
		if aws.ToString(o.OutputName) == "test" {
			testURI = aws.ToString(o.S3Output.S3Uri)
		}
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(testURI, "s3://"), "/")
	var page struct {
		Objects []struct{ Key string } `json:"objects"`
	}
	if err := d.conn.do(ctx, "GET", "/api/v1/objects/"+bucket+"?prefix="+key, nil, &page); err != nil {
		return nil, nil, err
	}
	if len(page.Objects) == 0 {
		return nil, nil, fmt.Errorf("no test data under %s", testURI)
	}
	resp, err := d.conn.send(ctx, "GET", "/api/v1/objects/"+bucket+"/"+page.Objects[0].Key, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	var rows, labels []string
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		label, features, ok := strings.Cut(line, ",")
		if !ok {
			continue
		}
		rows, labels = append(rows, features), append(labels, label)
		if len(rows) == n {
			break
		}
	}
	return rows, labels, nil
}

func (d *demo) invoke(ctx context.Context) (string, error) {
	rows, labels, err := d.testRows(ctx, 5)
	if err != nil {
		return "", err
	}
	d.sample = rows
	out, err := d.rt.InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{
		EndpointName: aws.String(d.endpoint),
		ContentType:  aws.String("text/csv"),
		Accept:       aws.String("text/csv"),
		Body:         []byte(strings.Join(rows, "\n")),
	})
	if err != nil {
		return "", err
	}
	preds := strings.Fields(strings.NewReplacer(",", " ").Replace(string(bytes.TrimSpace(out.Body))))
	if len(preds) != len(rows) {
		return "", fmt.Errorf("sent %d rows, got %d predictions: %q", len(rows), len(preds), out.Body)
	}
	var pairs []string
	for i, p := range preds {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v <= 0 || v > 40 {
			return "", fmt.Errorf("prediction %q is not a plausible ring count", p)
		}
		pairs = append(pairs, fmt.Sprintf("%.1f (true %s)", v, labels[i]))
	}
	return fmt.Sprintf("variant %s predicted rings %s", aws.ToString(out.InvokedProductionVariant), strings.Join(pairs, ", ")), nil
}

// registerBad trains a model that expects one more feature than production sends — the schema
// drift a real pipeline change can introduce — and registers and approves it as version 2.
func (d *demo) registerBad(ctx context.Context) (string, error) {
	nfeat := len(strings.Split(d.sample[0], ",")) + 1
	rng := rand.New(rand.NewPCG(7, 7))
	rows := make([][]float32, 2000)
	labels := make([]float32, len(rows))
	for i := range rows {
		rows[i] = make([]float32, nfeat)
		var y float32
		for j := range rows[i] {
			rows[i][j] = rng.Float32()
			y += rows[i][j]
		}
		labels[i] = 5 + 2*y
	}
	m, err := train.NewMatrix(rows, labels)
	if err != nil {
		return "", err
	}
	params, err := train.ParseParams(map[string]string{"num_round": "20", "max_depth": "4", "objective": "reg:squarederror"})
	if err != nil {
		return "", err
	}
	model, err := train.Train(ctx, params, m, nil, io.Discard)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(d.dir, "bad-model-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, train.ModelFileName))
	if err != nil {
		return "", err
	}
	if err := model.WriteJSON(f); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	var tarball bytes.Buffer
	if err := blob.PackDir(dir, &tarball); err != nil {
		return "", err
	}
	const key = "abalone-v2/model.tar.gz"
	resp, err := d.conn.send(ctx, "PUT", "/api/v1/objects/sluice-demo/"+key, tarball.Bytes())
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	out, err := d.sm.CreateModelPackage(ctx, &sagemaker.CreateModelPackageInput{
		ModelPackageGroupName:   aws.String(abalone.ModelPackageGroup),
		ModelPackageDescription: aws.String("retrained after a feature change (expects one column more)"),
		InferenceSpecification: &types.InferenceSpecification{
			Containers:                 []types.ModelPackageContainerDefinition{{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String("s3://sluice-demo/" + key)}},
			SupportedContentTypes:      []string{"text/csv"},
			SupportedResponseMIMETypes: []string{"text/csv"},
		},
		ModelApprovalStatus: types.ModelApprovalStatusPendingManualApproval,
	})
	if err != nil {
		return "", err
	}
	d.badPackageArn = aws.ToString(out.ModelPackageArn)
	if _, err := d.sm.UpdateModelPackage(ctx, &sagemaker.UpdateModelPackageInput{
		ModelPackageArn:     out.ModelPackageArn,
		ModelApprovalStatus: types.ModelApprovalStatusApproved,
		ApprovalDescription: aws.String("approved: offline metrics looked fine"),
	}); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s approved; it expects %d features, production sends %d", lastTwo(d.badPackageArn), nfeat, nfeat-1), nil
}

func lastTwo(arn string) string {
	parts := strings.Split(arn, "/")
	if len(parts) < 2 {
		return arn
	}
	return strings.Join(parts[len(parts)-2:], "/")
}

// canaryRollback updates the endpoint to the bad version with a CANARY blue/green policy guarded
// by an alarm on model errors, keeps production traffic flowing, and checks that the alarm rolls
// the endpoint back by itself with every request after the rollback answered by the old version.
func (d *demo) canaryRollback(ctx context.Context) (string, error) {
	before, err := d.sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(d.endpoint)})
	if err != nil {
		return "", err
	}
	liveConfig := aws.ToString(before.EndpointConfigName)
	if _, err := d.sm.CreateModel(ctx, &sagemaker.CreateModelInput{
		ModelName:        aws.String("abalone-demo-model-v2"),
		PrimaryContainer: &types.ContainerDefinition{ModelPackageName: aws.String(d.badPackageArn)},
		ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/sluice-demo"),
	}); err != nil {
		return "", err
	}
	if _, err := d.sm.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{
		EndpointConfigName: aws.String("abalone-demo-config-v2"),
		ProductionVariants: []types.ProductionVariant{{
			VariantName:          aws.String("AllTraffic"),
			ModelName:            aws.String("abalone-demo-model-v2"),
			InitialInstanceCount: aws.Int32(2),
			InstanceType:         types.ProductionVariantInstanceTypeMlM5Large,
		}},
	}); err != nil {
		return "", err
	}
	if _, err := d.sm.UpdateEndpoint(ctx, &sagemaker.UpdateEndpointInput{
		EndpointName:       aws.String(d.endpoint),
		EndpointConfigName: aws.String("abalone-demo-config-v2"),
		DeploymentConfig: &types.DeploymentConfig{
			BlueGreenUpdatePolicy: &types.BlueGreenUpdatePolicy{
				TrafficRoutingConfiguration: &types.TrafficRoutingConfig{
					Type:                  types.TrafficRoutingConfigTypeCanary,
					CanarySize:            &types.CapacitySize{Type: types.CapacitySizeTypeCapacityPercent, Value: aws.Int32(50)},
					WaitIntervalInSeconds: aws.Int32(600),
				},
				TerminationWaitInSeconds:         aws.Int32(0),
				MaximumExecutionTimeoutInSeconds: aws.Int32(3600),
			},
			AutoRollbackConfiguration: &types.AutoRollbackConfig{Alarms: []types.Alarm{{AlarmName: aws.String(alarmName)}}},
		},
	}); err != nil {
		return "", err
	}
	fmt.Fprintf(d.g.stdout, "      · UpdateEndpoint: CANARY 50%% for 600 s, rollback on alarm %s\n", alarmName)
	body := []byte(strings.Join(d.sample, "\n"))
	invoke := func() error {
		_, err := d.rt.InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{
			EndpointName: aws.String(d.endpoint), ContentType: aws.String("text/csv"), Body: body,
		})
		return err
	}
	var ok, modelErrors int
	var desc *sagemaker.DescribeEndpointOutput
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := invoke(); err == nil {
			ok++
		} else if apiErrorCode(err) == "ModelError" {
			modelErrors++
		} else {
			return "", fmt.Errorf("request failed other than with the new version's model error: %w", err)
		}
		var err error
		desc, err = d.sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(d.endpoint)})
		if err != nil {
			return "", err
		}
		if desc.EndpointStatus != types.EndpointStatusUpdating && desc.EndpointStatus != types.EndpointStatusRollingBack {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("endpoint still %s after 60 s of traffic", desc.EndpointStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if desc.EndpointStatus != types.EndpointStatusInService || aws.ToString(desc.EndpointConfigName) != liveConfig {
		return "", fmt.Errorf("expected InService on %s after the rollback, got %s on %s", liveConfig, desc.EndpointStatus, aws.ToString(desc.EndpointConfigName))
	}
	fmt.Fprintf(d.g.stdout, "      · during the canary: %d requests answered by the live version, %d model errors from the bad one\n", ok, modelErrors)
	fmt.Fprintf(d.g.stdout, "      · %s\n", aws.ToString(desc.FailureReason))
	for i := 0; i < 20; i++ {
		if err := invoke(); err != nil {
			return "", fmt.Errorf("request %d after the rollback failed: %w", i+1, err)
		}
	}
	var page struct {
		Deployments []struct {
			Status   string
			Rollback *struct {
				Trigger        string
				ReactionMillis float64
			}
		}
	}
	if err := d.conn.do(ctx, "GET", "/api/v1/endpoints/"+d.endpoint+"/deployments?limit=1", nil, &page); err != nil {
		return "", err
	}
	if len(page.Deployments) == 0 || page.Deployments[0].Rollback == nil {
		return "", errors.New("the deployment record has no rollback evidence")
	}
	r := page.Deployments[0]
	return fmt.Sprintf("deployment %s by %s: all traffic back on the live version %.0f ms after the alarm fired; 20 of 20 requests after it answered by it",
		r.Status, r.Rollback.Trigger, r.Rollback.ReactionMillis), nil
}

// setUpDelivery creates what the SageMaker samples' deploy project holds: two environments with
// their own configuration (prod: a CANARY blue/green update guarded by an alarm), the deploy
// pipeline (staging → tests → gate → prod), and a trigger that starts it on every approval.
func (d *demo) setUpDelivery(ctx context.Context) (string, error) {
	d.endpoint = "abalone-prod"
	cw := cloudwatch.NewFromConfig(d.conn.aws, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(d.conn.endpoint) })
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName:  aws.String(alarmName),
		Namespace:  aws.String("AWS/SageMaker"),
		MetricName: aws.String("Invocation4XXErrors"),
		Dimensions: []cwtypes.Dimension{
			{Name: aws.String("EndpointName"), Value: aws.String(d.endpoint)},
			{Name: aws.String("VariantName"), Value: aws.String("AllTraffic")},
		},
		Statistic:          cwtypes.StatisticSum,
		Period:             aws.Int32(10),
		EvaluationPeriods:  aws.Int32(1),
		Threshold:          aws.Float64(3),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		TreatMissingData:   aws.String("notBreaching"),
	}); err != nil {
		return "", err
	}
	var prod map[string]any
	if err := json.Unmarshal([]byte(deploy.ProdConfig), &prod); err != nil {
		return "", err
	}
	// The example bakes the canary for a minute; the tour bakes it for three seconds.
	prod["DeploymentConfig"].(map[string]any)["BlueGreenUpdatePolicy"].(map[string]any)["TrafficRoutingConfiguration"].(map[string]any)["WaitIntervalInSeconds"] = 3
	prod["Alarms"] = []string{alarmName}
	prodJSON, _ := json.Marshal(prod)
	for name, body := range map[string][]byte{"staging": []byte(deploy.StagingConfig), "prod": prodJSON} {
		if err := d.conn.do(ctx, "PUT", "/api/v1/environments/"+name, body, nil); err != nil {
			return "", fmt.Errorf("environment %s: %w", name, err)
		}
	}
	if _, err := d.sm.CreatePipeline(ctx, &sagemaker.CreatePipelineInput{
		PipelineName:       aws.String(deployPipeline),
		PipelineDefinition: aws.String(deploy.Definition),
		RoleArn:            aws.String("arn:aws:iam::000000000000:role/sluice-demo"),
		ClientRequestToken: aws.String("sluice-demo-create-deploy-pipeline"),
	}); err != nil {
		return "", err
	}
	trigger, _ := json.Marshal(map[string]any{
		"TriggerName": "on-approval", "Kind": "event", "PipelineName": deployPipeline,
		"ModelPackageGroupName": abalone.ModelPackageGroup,
	})
	if err := d.conn.do(ctx, "POST", "/api/v1/triggers", trigger, nil); err != nil {
		return "", fmt.Errorf("trigger: %w", err)
	}
	return fmt.Sprintf("staging (abalone-staging) and prod (%s, CANARY, alarm %s); %s starts on approval", d.endpoint, alarmName, deployPipeline), nil
}

// nextDeployExecution waits for the trigger to start the deploy pipeline's next execution.
func (d *demo) nextDeployExecution(ctx context.Context) (string, error) {
	for {
		out, err := d.sm.ListPipelineExecutions(ctx, &sagemaker.ListPipelineExecutionsInput{
			PipelineName: aws.String(deployPipeline), SortOrder: types.SortOrderAscending,
		})
		if err != nil {
			return "", err
		}
		if len(out.PipelineExecutionSummaries) > d.deployExecutions {
			d.deployExecutions++
			return aws.ToString(out.PipelineExecutionSummaries[d.deployExecutions-1].PipelineExecutionArn), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the approval trigger started no deploy pipeline: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// follow prints the execution's steps as they finish until stop says so or it ends.
func (d *demo) follow(ctx context.Context, arn string, seen map[string]types.StepStatus, stop func() (bool, error)) (*sagemaker.DescribePipelineExecutionOutput, error) {
	for {
		steps, err := d.sm.ListPipelineExecutionSteps(ctx, &sagemaker.ListPipelineExecutionStepsInput{
			PipelineExecutionArn: aws.String(arn), SortOrder: types.SortOrderAscending,
		})
		if err != nil {
			return nil, err
		}
		for _, st := range steps.PipelineExecutionSteps {
			name := aws.ToString(st.StepName)
			if seen[name] == st.StepStatus {
				continue
			}
			seen[name] = st.StepStatus
			switch st.StepStatus {
			case types.StepStatusSucceeded, types.StepStatusFailed, types.StepStatusStopped:
				took := ""
				if st.StartTime != nil && st.EndTime != nil {
					took = " in " + st.EndTime.Sub(*st.StartTime).Round(time.Millisecond).String()
				}
				fmt.Fprintf(d.g.stdout, "      · %-36s %s%s%s\n", name, st.StepStatus, took, stepNote(st))
			}
		}
		desc, err := d.sm.DescribePipelineExecution(ctx, &sagemaker.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, err
		}
		if desc.PipelineExecutionStatus != types.PipelineExecutionStatusExecuting {
			return desc, nil
		}
		if stop != nil {
			if done, err := stop(); done || err != nil {
				return desc, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type demoApproval struct {
	ApprovalId, PipelineExecutionArn, Status, Message string
}

func (d *demo) pendingGate(ctx context.Context, execution string) (*demoApproval, error) {
	var list struct{ Approvals []demoApproval }
	if err := d.conn.do(ctx, "GET", "/api/v1/approvals", nil, &list); err != nil {
		return nil, err
	}
	for _, a := range list.Approvals {
		if a.PipelineExecutionArn == execution && a.Status == "Pending" {
			return &a, nil
		}
	}
	return nil, nil
}

func (d *demo) toGate(ctx context.Context) (string, error) {
	arn, err := d.nextDeployExecution(ctx)
	if err != nil {
		return "", err
	}
	d.deployArn = arn
	d.deploySeen = map[string]types.StepStatus{}
	var gate *demoApproval
	desc, err := d.follow(ctx, arn, d.deploySeen, func() (bool, error) {
		g, err := d.pendingGate(ctx, arn)
		gate = g
		return g != nil, err
	})
	if err != nil {
		return "", err
	}
	if gate == nil {
		return "", fmt.Errorf("deploy pipeline %s before its gate: %s", desc.PipelineExecutionStatus, aws.ToString(desc.FailureReason))
	}
	d.gate = gate.ApprovalId
	return fmt.Sprintf("gate %s waiting: %q", gate.ApprovalId, gate.Message), nil
}

func (d *demo) promote(ctx context.Context) (string, error) {
	body, _ := json.Marshal(map[string]string{"Comment": "staging passed its tests; promoting"})
	if err := d.conn.do(ctx, "POST", "/api/v1/approvals/"+d.gate+"/approve", body, nil); err != nil {
		return "", err
	}
	desc, err := d.follow(ctx, d.deployArn, d.deploySeen, nil)
	if err != nil {
		return "", err
	}
	if desc.PipelineExecutionStatus != types.PipelineExecutionStatusSucceeded {
		return "", fmt.Errorf("deploy pipeline %s: %s", desc.PipelineExecutionStatus, aws.ToString(desc.FailureReason))
	}
	var pane struct {
		Environments []struct {
			Environment, EndpointName string
			Live                      *struct {
				ModelPackageVersion int
				ApprovedBy          string
			}
		}
	}
	if err := d.conn.do(ctx, "GET", "/api/v1/releases", nil, &pane); err != nil {
		return "", err
	}
	var live []string
	for _, e := range pane.Environments {
		if e.Live == nil {
			return "", fmt.Errorf("environment %s has no live release", e.Environment)
		}
		live = append(live, fmt.Sprintf("%s: v%d on %s", e.Environment, e.Live.ModelPackageVersion, e.EndpointName))
	}
	return "released — " + strings.Join(live, ", "), nil
}

// stagingStopsBad waits for the deploy pipeline the second approval started: the bad version
// reaches staging, fails its endpoint tests, and never gets near production.
func (d *demo) stagingStopsBad(ctx context.Context) (string, error) {
	arn, err := d.nextDeployExecution(ctx)
	if err != nil {
		return "", err
	}
	desc, err := d.follow(ctx, arn, map[string]types.StepStatus{}, nil)
	if err != nil {
		return "", err
	}
	if desc.PipelineExecutionStatus != types.PipelineExecutionStatusFailed {
		return "", fmt.Errorf("the deploy pipeline %s with the bad version", desc.PipelineExecutionStatus)
	}
	prod, err := d.sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(d.endpoint)})
	if err != nil {
		return "", err
	}
	if prod.EndpointStatus != types.EndpointStatusInService {
		return "", fmt.Errorf("production is %s", prod.EndpointStatus)
	}
	return "execution Failed before the gate; production untouched", nil
}

func (d *demo) approveAndGate(ctx context.Context) (string, error) {
	approved, err := d.approve(ctx)
	if err != nil {
		return "", err
	}
	gate, err := d.toGate(ctx)
	if err != nil {
		return "", err
	}
	return approved + "; " + gate, nil
}

// promoteCanary approves the gate and checks that production took the new version through a
// CANARY blue/green update that baked with its alarm watching.
func (d *demo) promoteCanary(ctx context.Context) (string, error) {
	released, err := d.promote(ctx)
	if err != nil {
		return "", err
	}
	var page struct {
		Deployments []struct {
			Status, Strategy string
			TrafficSteps     []float64
		}
	}
	if err := d.conn.do(ctx, "GET", "/api/v1/endpoints/"+d.endpoint+"/deployments?limit=1", nil, &page); err != nil {
		return "", err
	}
	if len(page.Deployments) == 0 || page.Deployments[0].Strategy != "CANARY" || page.Deployments[0].Status != "Succeeded" {
		return "", fmt.Errorf("production was not updated by a successful CANARY deployment: %+v", page.Deployments)
	}
	return fmt.Sprintf("CANARY traffic steps %v%% Succeeded; %s", page.Deployments[0].TrafficSteps, released), nil
}
