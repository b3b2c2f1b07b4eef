package cloudwatch_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/alarm/alarmtest"
	"github.com/sluice-ml/sluice/internal/api/cloudwatch"
	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// start is aligned to a minute, so every period of the tests begins on it.
var start = time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)

type fixture struct {
	svc    *alarm.Service
	clock  *alarmtest.Clock
	client *cw.Client
	url    string
}

// newFixture serves the CloudWatch API over HTTP with an alarm service on a fake clock; the
// client is aws-sdk-go-v2's, which speaks RPC v2 CBOR.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := alarmtest.NewClock(start)
	svc, err := alarm.Open(context.Background(), storetest.SQLite(t), alarm.NewRecorder(clock), alarm.Options{Region: "us-east-1", AccountID: "000000000000", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	q := (&cloudwatch.API{Alarms: svc}).Service(nil, nil)
	srv := httptest.NewServer(q.Or(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	client := cw.NewFromConfig(cfg, func(o *cw.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	})
	return &fixture{svc: svc, clock: clock, client: client, url: srv.URL}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestGoSDKAlarmRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, err := f.client.PutMetricAlarm(ctx, &cw.PutMetricAlarmInput{
		AlarmName:          aws.String("queue-deep"),
		AlarmDescription:   aws.String("queue too deep"),
		Namespace:          aws.String("Batch"),
		MetricName:         aws.String("Depth"),
		Dimensions:         []types.Dimension{{Name: aws.String("Queue"), Value: aws.String("jobs")}},
		Statistic:          types.StatisticMaximum,
		Period:             aws.Int32(10),
		EvaluationPeriods:  aws.Int32(2),
		DatapointsToAlarm:  aws.Int32(1),
		Threshold:          aws.Float64(100),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
		TreatMissingData:   aws.String("notBreaching"),
		AlarmActions:       []string{"arn:aws:sns:us-east-1:000000000000:pager"},
		Unit:               types.StandardUnitCount,
	})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := f.client.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{AlarmNames: []string{"queue-deep"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.MetricAlarms) != 1 || len(desc.CompositeAlarms) != 0 {
		t.Fatalf("describe: %+v", desc)
	}
	a := desc.MetricAlarms[0]
	if aws.ToString(a.AlarmArn) != "arn:aws:cloudwatch:us-east-1:000000000000:alarm:queue-deep" || a.StateValue != types.StateValueInsufficientData ||
		aws.ToInt32(a.Period) != 10 || aws.ToInt32(a.DatapointsToAlarm) != 1 || aws.ToFloat64(a.Threshold) != 100 || a.Statistic != types.StatisticMaximum ||
		!aws.ToBool(a.ActionsEnabled) || len(a.AlarmActions) != 1 || aws.ToString(a.Dimensions[0].Value) != "jobs" || a.Unit != types.StandardUnitCount ||
		!a.StateUpdatedTimestamp.Equal(start) || aws.ToString(a.TreatMissingData) != "notBreaching" {
		t.Fatalf("alarm: %+v", a)
	}

	_, err = f.client.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("Batch"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Depth"), Dimensions: []types.Dimension{{Name: aws.String("Queue"), Value: aws.String("jobs")}},
			Value: aws.Float64(250), Unit: types.StandardUnitCount, Timestamp: aws.Time(start.Add(2 * time.Second))},
		{MetricName: aws.String("Wait"), Values: []float64{1, 2, 3}, Counts: []float64{10, 10, 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	desc, _ = f.client.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{StateValue: types.StateValueAlarm})
	if len(desc.MetricAlarms) != 1 || !strings.HasPrefix(aws.ToString(desc.MetricAlarms[0].StateReason), "Threshold Crossed: 1 out of the last 1 datapoint [250.0") {
		t.Fatalf("after breach: %+v", desc.MetricAlarms)
	}

	f.clock.Advance(time.Minute)
	stats, err := f.client.GetMetricStatistics(ctx, &cw.GetMetricStatisticsInput{
		Namespace: aws.String("Batch"), MetricName: aws.String("Depth"),
		Dimensions: []types.Dimension{{Name: aws.String("Queue"), Value: aws.String("jobs")}},
		StartTime:  aws.Time(start), EndTime: aws.Time(start.Add(time.Minute)), Period: aws.Int32(60),
		Statistics: []types.Statistic{types.StatisticSum, types.StatisticSampleCount},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(stats.Label) != "Depth" || len(stats.Datapoints) != 1 || aws.ToFloat64(stats.Datapoints[0].Sum) != 250 ||
		aws.ToFloat64(stats.Datapoints[0].SampleCount) != 1 || stats.Datapoints[0].Average != nil || stats.Datapoints[0].Unit != types.StandardUnitCount {
		t.Fatalf("statistics: %+v", stats.Datapoints)
	}
	pct, err := f.client.GetMetricStatistics(ctx, &cw.GetMetricStatisticsInput{
		Namespace: aws.String("Batch"), MetricName: aws.String("Wait"), StartTime: aws.Time(start), EndTime: aws.Time(start.Add(time.Minute)),
		Period: aws.Int32(60), ExtendedStatistics: []string{"p50", "p99"},
	})
	if err != nil || len(pct.Datapoints) != 1 || pct.Datapoints[0].ExtendedStatistics["p99"] < 2.9 {
		t.Fatalf("percentiles: %v %+v", err, pct.Datapoints)
	}

	if _, err := f.client.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("queue-deep"), StateValue: types.StateValueOk, StateReason: aws.String("drill over")}); err != nil {
		t.Fatal(err)
	}
	hist, err := f.client.DescribeAlarmHistory(ctx, &cw.DescribeAlarmHistoryInput{AlarmName: aws.String("queue-deep"), HistoryItemType: types.HistoryItemTypeStateUpdate})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.AlarmHistoryItems) != 2 || aws.ToString(hist.AlarmHistoryItems[0].HistorySummary) != "Alarm updated from ALARM to OK" ||
		aws.ToString(hist.AlarmHistoryItems[1].HistorySummary) != "Alarm updated from INSUFFICIENT_DATA to ALARM" {
		t.Fatalf("history: %+v", hist.AlarmHistoryItems)
	}
	lm, err := f.client.ListMetrics(ctx, &cw.ListMetricsInput{Namespace: aws.String("Batch")})
	if err != nil || len(lm.Metrics) != 2 {
		t.Fatalf("list metrics: %v %+v", err, lm)
	}
	if _, err := f.client.DeleteAlarms(ctx, &cw.DeleteAlarmsInput{AlarmNames: []string{"queue-deep"}}); err != nil {
		t.Fatal(err)
	}
	desc, _ = f.client.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{})
	if len(desc.MetricAlarms) != 0 {
		t.Fatalf("after delete: %+v", desc.MetricAlarms)
	}
}

func TestGoSDKErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	good := func() *cw.PutMetricAlarmInput {
		return &cw.PutMetricAlarmInput{AlarmName: aws.String("x"), Namespace: aws.String("App"), MetricName: aws.String("Errors"),
			Statistic: types.StatisticSum, Period: aws.Int32(10), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
			ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold}
	}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"no statistic", func() error {
			in := good()
			in.Statistic = ""
			_, err := f.client.PutMetricAlarm(ctx, in)
			return err
		}, "MissingParameter"},
		{"both statistics", func() error {
			in := good()
			in.ExtendedStatistic = aws.String("p99")
			_, err := f.client.PutMetricAlarm(ctx, in)
			return err
		}, "InvalidParameterCombination"},
		{"anomaly comparison", func() error {
			in := good()
			in.ComparisonOperator = types.ComparisonOperatorGreaterThanUpperThreshold
			_, err := f.client.PutMetricAlarm(ctx, in)
			return err
		}, "ValidationError"},
		{"metric math", func() error {
			in := good()
			in.Metrics = []types.MetricDataQuery{{Id: aws.String("e1"), Expression: aws.String("m1/m2")}}
			_, err := f.client.PutMetricAlarm(ctx, in)
			return err
		}, "ValidationError"},
		{"set state of a missing alarm", func() error {
			_, err := f.client.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("ghost"), StateValue: types.StateValueAlarm, StateReason: aws.String("x")})
			return err
		}, "ResourceNotFound"},
		{"bad reason data", func() error {
			if _, err := f.client.PutMetricAlarm(ctx, good()); err != nil {
				return err
			}
			_, err := f.client.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("x"), StateValue: types.StateValueAlarm, StateReason: aws.String("x"), StateReasonData: aws.String("{")})
			return err
		}, "InvalidFormat"},
		{"reserved namespace", func() error {
			_, err := f.client.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/SageMaker"), MetricData: []types.MetricDatum{{MetricName: aws.String("Invocations"), Value: aws.Float64(1)}}})
			return err
		}, "InvalidParameterValue"},
		{"too many datapoints", func() error {
			_, err := f.client.GetMetricStatistics(ctx, &cw.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Errors"),
				StartTime: aws.Time(start), EndTime: aws.Time(start.Add(time.Hour)), Period: aws.Int32(1), Statistics: []types.Statistic{types.StatisticSum}})
			return err
		}, "InvalidParameterCombination"},
		{"bad token", func() error {
			_, err := f.client.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{NextToken: aws.String("garbage")})
			return err
		}, "InvalidNextToken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if got := apiCode(err); got != c.code {
				t.Fatalf("got %q (%v), want %s", got, err, c.code)
			}
		})
	}
	// The typed errors of the model come through as such.
	_, err := f.client.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("ghost"), StateValue: types.StateValueAlarm, StateReason: aws.String("x")})
	var nf *types.ResourceNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("SetAlarmState on a missing alarm: %T %v, want *types.ResourceNotFound", err, err)
	}
}

// TestQueryProtocolShapes checks the XML a query client (boto3, the AWS CLI) reads.
func TestQueryProtocolShapes(t *testing.T) {
	f := newFixture(t)
	post := func(form url.Values) (int, string) {
		form.Set("Version", "2010-08-01")
		resp, err := http.Post(f.url+"/", "application/x-www-form-urlencoded; charset=utf-8", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(url.Values{"Action": {"PutMetricAlarm"}, "AlarmName": {"p99"}, "Namespace": {"AWS/SageMaker"}, "MetricName": {"ModelLatency"},
		"Dimensions.member.1.Name": {"EndpointName"}, "Dimensions.member.1.Value": {"churn"},
		"Dimensions.member.2.Name": {"VariantName"}, "Dimensions.member.2.Value": {"AllTraffic"},
		"ExtendedStatistic": {"p99"}, "Period": {"10"}, "EvaluationPeriods": {"3"}, "DatapointsToAlarm": {"2"}, "Threshold": {"250000"},
		"ComparisonOperator": {"GreaterThanOrEqualToThreshold"}})
	if code != 200 || !strings.HasPrefix(body, `<PutMetricAlarmResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ResponseMetadata><RequestId>`) {
		t.Fatalf("put %d: %s", code, body)
	}
	code, body = post(url.Values{"Action": {"DescribeAlarms"}, "AlarmNamePrefix": {"p"}})
	for _, want := range []string{
		`<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><DescribeAlarmsResult><CompositeAlarms></CompositeAlarms><MetricAlarms><member><AlarmName>p99</AlarmName>`,
		`<AlarmArn>arn:aws:cloudwatch:us-east-1:000000000000:alarm:p99</AlarmArn>`,
		`<AlarmConfigurationUpdatedTimestamp>2026-04-12T10:00:00.000Z</AlarmConfigurationUpdatedTimestamp><ActionsEnabled>true</ActionsEnabled><OKActions></OKActions>`,
		`<StateValue>INSUFFICIENT_DATA</StateValue><StateReason>Unchecked: Initial alarm creation</StateReason>`,
		`<Dimensions><member><Name>EndpointName</Name><Value>churn</Value></member><member><Name>VariantName</Name><Value>AllTraffic</Value></member></Dimensions>`,
		`<ExtendedStatistic>p99</ExtendedStatistic>`, `<Period>10</Period>`, `<DatapointsToAlarm>2</DatapointsToAlarm><Threshold>250000</Threshold>`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("describe %d lacks %s:\n%s", code, want, body)
		}
	}
	code, body = post(url.Values{"Action": {"SetAlarmState"}, "AlarmName": {"ghost"}, "StateValue": {"ALARM"}, "StateReason": {"x"}})
	if code != 404 || !strings.Contains(body, "<Error><Type>Sender</Type><Code>ResourceNotFound</Code><Message>Alarm ghost does not exist.</Message></Error>") {
		t.Fatalf("set state of a missing alarm %d: %s", code, body)
	}
	code, body = post(url.Values{"Action": {"PutMetricAlarm"}, "AlarmName": {"x"}, "Namespace": {"App"}, "MetricName": {"M"}, "Statistic": {"Sum"},
		"Period": {"10"}, "EvaluationPeriods": {"1"}, "Threshold": {"1"}, "ComparisonOperator": {"GreaterThanThreshold"}, "TreatMissingData": {"zero"}})
	if code != 400 || !strings.Contains(body, "<Code>ValidationError</Code><Message>TreatMissingData &#34;zero&#34; is not valid") {
		t.Fatalf("bad TreatMissingData %d: %s", code, body)
	}
}

type noKeys struct{}

func (noKeys) LookupKey(context.Context, string) (string, awsapi.Principal, error) {
	return "", awsapi.Principal{}, awsapi.ErrUnknownKey
}

// TestAuthErrorsInTheClientsProtocol: a query client gets its authentication error as XML and an
// RPC v2 client as CBOR with the query code, not as SageMaker's JSON.
func TestAuthErrorsInTheClientsProtocol(t *testing.T) {
	clock := alarmtest.NewClock(start)
	svc, err := alarm.Open(context.Background(), storetest.SQLite(t), alarm.NewRecorder(clock), alarm.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	v := &awsapi.Verifier{Keys: noKeys{}, Services: []string{cloudwatch.SigningName}}
	srv := httptest.NewServer((&cloudwatch.API{Alarms: svc}).Service(v.Verify, nil))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeAlarms&Version=2010-08-01"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "<Code>MissingAuthenticationTokenException</Code>") {
		t.Fatalf("unsigned query request: %d %s", resp.StatusCode, b)
	}
	client := cw.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDUNKNOWN", "x", "")}, func(o *cw.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	})
	_, err = client.DescribeAlarms(context.Background(), &cw.DescribeAlarmsInput{})
	if code := apiCode(err); code != "UnrecognizedClientException" {
		t.Fatalf("unknown key over RPC v2: %q (%v)", code, err)
	}
}
