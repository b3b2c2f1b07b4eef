package alarm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/alarm/alarmtest"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

func newService(t *testing.T, clock *alarmtest.Clock, rec *alarm.Recorder) *alarm.Service {
	t.Helper()
	return openService(t, storetest.SQLite(t), clock, rec)
}

func openService(t testing.TB, st *store.Store, clock alarm.Clock, rec *alarm.Recorder) *alarm.Service {
	t.Helper()
	svc, err := alarm.Open(context.Background(), st, rec, alarm.Options{Region: "us-east-1", AccountID: "000000000000", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

var variantDims = []alarm.Dimension{{Name: "EndpointName", Value: "churn"}, {Name: "VariantName", Value: "AllTraffic"}}

func guardrail(name, metric, statistic string, period, n, m int32, cmp alarm.Comparison, threshold float64, missing alarm.MissingData) alarm.Definition {
	d := alarm.Definition{AlarmName: name, ActionsEnabled: true, Namespace: "AWS/SageMaker", MetricName: metric, Dimensions: variantDims,
		Period: period, EvaluationPeriods: n, DatapointsToAlarm: m, ComparisonOperator: cmp, Threshold: threshold, TreatMissingData: missing}
	if strings.HasPrefix(statistic, "p") {
		d.ExtendedStatistic = statistic
	} else {
		d.Statistic = statistic
	}
	return d
}

func mustPut(t *testing.T, svc *alarm.Service, d alarm.Definition) alarm.Alarm {
	t.Helper()
	a, _, err := svc.Put(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func evaluate(t *testing.T, svc *alarm.Service) {
	t.Helper()
	if _, err := svc.Evaluate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func state(t *testing.T, svc *alarm.Service, name string) alarm.State {
	t.Helper()
	a, ok := svc.Get(name)
	if !ok {
		t.Fatalf("alarm %s missing", name)
	}
	return a.State
}

func expectState(t *testing.T, svc *alarm.Service, name string, want alarm.StateValue) alarm.State {
	t.Helper()
	st := state(t, svc, name)
	if st.Value != want {
		t.Fatalf("%s: state %s (%s), want %s", name, st.Value, st.Reason, want)
	}
	return st
}

// next receives one change from a Watch channel without blocking the test forever.
func next(t *testing.T, ch <-chan alarm.StateChange) alarm.StateChange {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no state change within 5s")
	}
	return alarm.StateChange{}
}

func TestErrorAlarmLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	st := storetest.SQLite(t)
	svc := openService(t, st, clock, rec)
	a := mustPut(t, svc, guardrail("churn-5xx", "Invocation5XXErrors", "Sum", 10, 1, 1, alarm.GreaterThanThreshold, 1, alarm.MissingDataNotBreaching))
	if a.State.Value != alarm.StateInsufficientData || a.State.Reason != "Unchecked: Initial alarm creation" || a.ARN != "arn:aws:cloudwatch:us-east-1:000000000000:alarm:churn-5xx" {
		t.Fatalf("new alarm: %+v", a)
	}
	watch := svc.Watch(ctx, "churn-5xx")
	if c := next(t, watch); c.Old != "" || c.New != alarm.StateInsufficientData {
		t.Fatalf("first watch message should report the current state: %+v", c)
	}

	// No traffic: notBreaching makes the alarm OK.
	clock.Advance(time.Second)
	evaluate(t, svc)
	expectState(t, svc, "churn-5xx", alarm.StateOK)
	if c := next(t, watch); c.Old != alarm.StateInsufficientData || c.New != alarm.StateOK {
		t.Fatalf("watch: %+v", c)
	}

	// Two 5XX errors in the period still open: Sum only grows, so the alarm fires now rather
	// than when the period ends.
	e := rec.Endpoint("churn", "AllTraffic")
	clock.Advance(3 * time.Second)
	e.Invocation(200, time.Millisecond, time.Microsecond)
	e.Invocation(500, -1, time.Microsecond)
	evaluate(t, svc)
	expectState(t, svc, "churn-5xx", alarm.StateOK) // 1 error is not > 1
	e.Invocation(503, -1, time.Microsecond)
	evaluate(t, svc)
	s := expectState(t, svc, "churn-5xx", alarm.StateAlarm)
	if !strings.HasPrefix(s.Reason, "Threshold Crossed: 1 out of the last 1 datapoint [2.0 (12/04/26 10:00:00)] was greater than the threshold (1.0)") {
		t.Fatalf("reason: %s", s.Reason)
	}
	if c := next(t, watch); c.New != alarm.StateAlarm || c.Old != alarm.StateOK || c.AlarmName != "churn-5xx" || c.Reason != s.Reason {
		t.Fatalf("watch: %+v", c)
	}
	// It stays in ALARM for the rest of the period and the next (look-back over the gap keeps
	// the last real datapoint), then returns to OK once healthy traffic is recorded.
	clock.Advance(10 * time.Second)
	evaluate(t, svc)
	expectState(t, svc, "churn-5xx", alarm.StateAlarm)
	for i := 0; i < 5; i++ {
		e.Invocation(200, time.Millisecond, time.Microsecond)
	}
	clock.Advance(10 * time.Second)
	evaluate(t, svc)
	expectState(t, svc, "churn-5xx", alarm.StateOK)
	if c := next(t, watch); c.New != alarm.StateOK {
		t.Fatalf("watch: %+v", c)
	}

	// History: created, then three transitions; newest first.
	items, _, err := svc.History(ctx, alarm.HistoryQuery{AlarmName: "churn-5xx"})
	if err != nil {
		t.Fatal(err)
	}
	var summaries []string
	for _, it := range items {
		summaries = append(summaries, string(it.HistoryItemType)+": "+it.HistorySummary)
		if !json.Valid([]byte(it.HistoryData)) {
			t.Fatalf("history data is not JSON: %s", it.HistoryData)
		}
	}
	want := []string{
		"StateUpdate: Alarm updated from ALARM to OK",
		"StateUpdate: Alarm updated from OK to ALARM",
		"StateUpdate: Alarm updated from INSUFFICIENT_DATA to OK",
		`ConfigurationUpdate: Alarm "churn-5xx" created`,
	}
	if strings.Join(summaries, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n%s\nwant\n%s", strings.Join(summaries, "\n"), strings.Join(want, "\n"))
	}
	var hd struct {
		NewState struct {
			StateValue      string          `json:"stateValue"`
			StateReasonData json.RawMessage `json:"stateReasonData"`
		} `json:"newState"`
	}
	json.Unmarshal([]byte(items[1].HistoryData), &hd)
	if hd.NewState.StateValue != "ALARM" || len(hd.NewState.StateReasonData) == 0 {
		t.Fatalf("state update data: %s", items[1].HistoryData)
	}

	// Every transition is in the outbox with the alarm's ARN.
	evs, err := st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Source == "aws.cloudwatch" && ev.DetailType == "CloudWatch Alarm State Change" && ev.Resources[0] == a.ARN {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d state change events in the outbox, want 3", n)
	}

	// State survives a restart.
	again := openService(t, st, clock, alarm.NewRecorder(clock))
	expectState(t, again, "churn-5xx", alarm.StateOK)
}

func TestPeriodEndStatistics(t *testing.T) {
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	svc := newService(t, clock, rec)
	mustPut(t, svc, guardrail("latency-avg", "ModelLatency", "Average", 10, 2, 2, alarm.GreaterThanThreshold, 1000, alarm.MissingDataMissing))
	mustPut(t, svc, guardrail("latency-p99", "ModelLatency", "p99", 10, 1, 1, alarm.GreaterThanOrEqualToThreshold, 5000, alarm.MissingDataMissing))
	mustPut(t, svc, guardrail("latency-min", "ModelLatency", "Minimum", 10, 1, 1, alarm.LessThanThreshold, 100, alarm.MissingDataMissing))
	e := rec.Endpoint("churn", "AllTraffic")
	record := func(n int, model time.Duration) {
		for i := 0; i < n; i++ {
			e.Invocation(200, model, time.Microsecond)
		}
	}
	clock.Advance(time.Second)
	evaluate(t, svc)
	for _, n := range []string{"latency-avg", "latency-p99", "latency-min"} {
		expectState(t, svc, n, alarm.StateInsufficientData)
	}
	// Period 1 (0-10 s): 2 ms average, 1% of requests at 6 ms.
	record(99, 2*time.Millisecond)
	record(1, 6*time.Millisecond)
	evaluate(t, svc)
	// Average and percentiles wait for the period to end.
	expectState(t, svc, "latency-avg", alarm.StateInsufficientData)
	expectState(t, svc, "latency-p99", alarm.StateInsufficientData)
	clock.Set(start.Add(10*time.Second + 10*time.Millisecond))
	evaluate(t, svc)
	// One of two periods breaching, the other unknown: undecided, which "missing" resolves to
	// ALARM, as in CloudWatch's table.
	expectState(t, svc, "latency-avg", alarm.StateAlarm)
	expectState(t, svc, "latency-p99", alarm.StateOK) // p99 of 99×2ms + 1×6ms is 2 ms
	expectState(t, svc, "latency-min", alarm.StateOK)
	// Period 2: fast, and a 50 µs outlier.
	record(98, 500*time.Microsecond)
	record(2, 9*time.Millisecond)
	evaluate(t, svc)
	expectState(t, svc, "latency-min", alarm.StateOK) // the minimum only falls once 50 µs arrives
	record(1, 50*time.Microsecond)
	evaluate(t, svc)
	expectState(t, svc, "latency-min", alarm.StateAlarm) // a Minimum below a "less than" threshold is final
	clock.Advance(10 * time.Second)
	evaluate(t, svc)
	expectState(t, svc, "latency-avg", alarm.StateOK)    // 2 of 2 needed; period 2 averages 0.67 ms
	expectState(t, svc, "latency-p99", alarm.StateAlarm) // p99 is 9 ms
}

func TestManualState(t *testing.T) {
	ctx := context.Background()
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	svc := newService(t, clock, rec)
	mustPut(t, svc, guardrail("drill", "Invocation5XXErrors", "Sum", 10, 1, 1, alarm.GreaterThanThreshold, 0, alarm.MissingDataNotBreaching))
	evaluate(t, svc)
	expectState(t, svc, "drill", alarm.StateOK)
	clock.Advance(2 * time.Second)
	if err := svc.SetState(ctx, "drill", alarm.StateAlarm, "rollback drill", `{"drill":true}`); err != nil {
		t.Fatal(err)
	}
	evaluate(t, svc)
	st := expectState(t, svc, "drill", alarm.StateAlarm)
	if st.Reason != "rollback drill" || st.ReasonData != `{"drill":true}` {
		t.Fatalf("manual state: %+v", st)
	}
	// Evaluation resumes at the next period boundary and restores the actual state.
	clock.Set(start.Add(10 * time.Second))
	evaluate(t, svc)
	expectState(t, svc, "drill", alarm.StateOK)

	if got := svc.Firing("drill", "ghost"); len(got) != 0 {
		t.Fatalf("Firing = %v, want none", got)
	}
	if got := svc.Missing("drill", "ghost"); len(got) != 1 || got[0] != "ghost" {
		t.Fatalf("Missing = %v, want [ghost]", got)
	}
	// Force holds until Release.
	if err := svc.Force(ctx, "drill", alarm.StateAlarm, "test"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	evaluate(t, svc)
	expectState(t, svc, "drill", alarm.StateAlarm)
	if got := svc.Firing("ghost", "drill"); len(got) != 1 || got[0] != "drill" {
		t.Fatalf("Firing = %v, want [drill]", got)
	}
	svc.Release("drill")
	evaluate(t, svc)
	expectState(t, svc, "drill", alarm.StateOK)

	cases := []struct {
		name, alarm, value, data string
		kind                     error
	}{
		{"unknown alarm", "ghost", "ALARM", "", alarm.ErrNotFound},
		{"bad state", "drill", "FIRING", "", alarm.ErrInvalid},
		{"bad reason data", "drill", "ALARM", "{not json", alarm.ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := svc.SetState(ctx, c.alarm, alarm.StateValue(c.value), "x", c.data)
			if !errors.Is(err, c.kind) {
				t.Fatalf("got %v, want %v", err, c.kind)
			}
		})
	}
}

func TestPutUpdateListDelete(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	svc := newService(t, clock, rec)
	for i := 0; i < 7; i++ {
		d := guardrail(fmt.Sprintf("alarm-%d", i), "Invocations", "Sum", 60, 1, 1, alarm.LessThanThreshold, 1, alarm.MissingDataBreaching)
		if i%2 == 0 {
			d.AlarmActions = []string{"arn:aws:sns:us-east-1:000000000000:pager"}
		}
		mustPut(t, svc, d)
	}
	mustPut(t, svc, guardrail("other", "Invocations", "Sum", 60, 1, 1, alarm.LessThanThreshold, 1, alarm.MissingDataNotBreaching))
	clock.Advance(time.Second)
	evaluate(t, svc)

	// Updating keeps the state and records the change.
	d := guardrail("alarm-0", "Invocations", "Sum", 60, 1, 1, alarm.LessThanThreshold, 5, alarm.MissingDataBreaching)
	a, created, err := svc.Put(ctx, d)
	if err != nil || created || a.State.Value != alarm.StateAlarm || a.Threshold != 5 {
		t.Fatalf("update: created %v, %+v, %v", created, a, err)
	}

	list := func(q alarm.ListQuery) []string {
		var names []string
		for {
			page, tok, err := svc.List(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				names = append(names, a.AlarmName)
			}
			if tok == "" {
				return names
			}
			q.NextToken = tok
		}
	}
	cases := []struct {
		name string
		q    alarm.ListQuery
		want string
	}{
		{"all in pages", alarm.ListQuery{Limit: 3}, "alarm-0 alarm-1 alarm-2 alarm-3 alarm-4 alarm-5 alarm-6 other"},
		{"prefix", alarm.ListQuery{NamePrefix: "alarm-", Limit: 4}, "alarm-0 alarm-1 alarm-2 alarm-3 alarm-4 alarm-5 alarm-6"},
		{"names", alarm.ListQuery{Names: []string{"other", "alarm-3", "ghost", "alarm-3"}}, "alarm-3 other"},
		{"state", alarm.ListQuery{State: alarm.StateOK}, "other"},
		{"action prefix", alarm.ListQuery{ActionPrefix: "arn:aws:sns", Limit: 2}, "alarm-2 alarm-4 alarm-6"}, // the update of alarm-0 dropped its actions
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Join(list(c.q), " "); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	_, tok, _ := svc.List(alarm.ListQuery{Limit: 1})
	if _, _, err := svc.List(alarm.ListQuery{Limit: 1, NamePrefix: "alarm", NextToken: tok}); !errors.Is(err, alarm.ErrNextToken) {
		t.Fatalf("token reused with other filters: %v", err)
	}

	watch := svc.Watch(ctx, "alarm-1")
	next(t, watch)
	if err := svc.Delete(ctx, []string{"alarm-1", "alarm-2", "never-existed"}); err != nil {
		t.Fatal(err)
	}
	if c := next(t, watch); !c.Deleted || c.AlarmName != "alarm-1" {
		t.Fatalf("watch after delete: %+v", c)
	}
	if _, ok := svc.Get("alarm-1"); ok {
		t.Fatal("deleted alarm still there")
	}
	// History outlives the alarm.
	items, _, err := svc.History(ctx, alarm.HistoryQuery{AlarmName: "alarm-1", ItemType: alarm.HistoryConfigurationUpdate})
	if err != nil || len(items) != 2 || items[0].HistorySummary != `Alarm "alarm-1" deleted` {
		t.Fatalf("history after delete: %v %+v", err, items)
	}
	// History pages.
	var all []alarm.HistoryItem
	q := alarm.HistoryQuery{Limit: 4, Ascending: true}
	for {
		page, tok, err := svc.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if tok == "" {
			break
		}
		q.NextToken = tok
	}
	// 8 creates, 8 transitions to ALARM/OK, 1 update, 2 deletes.
	if len(all) != 19 || all[0].HistorySummary != `Alarm "alarm-0" created` {
		t.Fatalf("%d history items, first %+v", len(all), all[0])
	}
}

// TestRunLoop drives the evaluator actor on the fake clock: data wakes it, period boundaries
// wake it, and nothing needs a real sleep.
func TestRunLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clock := alarmtest.NewClock(start.Add(500 * time.Millisecond))
	rec := alarm.NewRecorder(clock)
	svc := newService(t, clock, rec)
	mustPut(t, svc, guardrail("errors", "Invocation5XXErrors", "Sum", 10, 1, 1, alarm.GreaterThanThreshold, 0, alarm.MissingDataNotBreaching))
	mustPut(t, svc, guardrail("latency", "ModelLatency", "Average", 10, 1, 1, alarm.GreaterThanThreshold, 1000, alarm.MissingDataNotBreaching))
	watch := svc.Watch(ctx)
	next(t, watch)
	next(t, watch)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	got := map[string]alarm.StateValue{}
	for len(got) < 2 {
		c := next(t, watch)
		got[c.AlarmName] = c.New
	}
	if got["errors"] != alarm.StateOK || got["latency"] != alarm.StateOK {
		t.Fatalf("first evaluation: %v", got)
	}
	// A 5XX error wakes the evaluator at once, with no clock movement.
	e := rec.Endpoint("churn", "AllTraffic")
	e.Invocation(500, 2*time.Millisecond, time.Microsecond)
	if c := next(t, watch); c.AlarmName != "errors" || c.New != alarm.StateAlarm {
		t.Fatalf("after a 5XX: %+v", c)
	}
	// The slow average is judged when its period ends: the evaluator sleeps until then.
	if !clock.WaitForTimer(5 * time.Second) {
		t.Fatal("evaluator did not go to sleep")
	}
	clock.Set(start.Add(10*time.Second + 10*time.Millisecond))
	if c := next(t, watch); c.AlarmName != "latency" || c.New != alarm.StateAlarm {
		t.Fatalf("after the period: %+v", c)
	}
}

// TestServiceOnEveryDialect runs a short lifecycle on SQLite and, when SLUICE_TEST_POSTGRES is
// set, PostgreSQL: put, a transition with its history, and state kept across a reopen.
func TestServiceOnEveryDialect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := alarmtest.NewClock(start)
		rec := alarm.NewRecorder(clock)
		svc := openService(t, st, clock, rec)
		mustPut(t, svc, guardrail("errors", "Invocation5XXErrors", "Sum", 10, 1, 1, alarm.GreaterThanThreshold, 0, alarm.MissingDataNotBreaching))
		rec.Endpoint("churn", "AllTraffic").Invocation(500, -1, 0)
		evaluate(t, svc)
		expectState(t, svc, "errors", alarm.StateAlarm)
		items, _, err := svc.History(ctx, alarm.HistoryQuery{AlarmName: "errors", Limit: 1})
		if err != nil || len(items) != 1 || items[0].HistorySummary != "Alarm updated from INSUFFICIENT_DATA to ALARM" {
			t.Fatalf("history: %v %+v", err, items)
		}
		again := openService(t, st, clock, alarm.NewRecorder(clock))
		expectState(t, again, "errors", alarm.StateAlarm)
		if err := again.Delete(ctx, []string{"errors"}); err != nil {
			t.Fatal(err)
		}
	})
}
