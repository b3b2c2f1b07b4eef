package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/server/servertest"
)

func TestAlarmsCommands(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)

	out := mustSluice(t, srv, "alarms", "create", "churn-5xx", "--metric", "Invocation5XXErrors", "--endpoint", "churn", "--variant", "AllTraffic",
		"--statistic", "Sum", "--period", "10s", "--threshold", "1", "--comparison", "gt", "--missing", "notBreaching", "--description", "guardrail")
	if !strings.Contains(out, "churn-5xx") || !strings.Contains(out, "Sum(Invocation5XXErrors) > 1 for 1 of 1 × 10s") || !strings.Contains(out, "Invocation5XXErrors churn/AllTraffic") {
		t.Fatalf("create printed:\n%s", out)
	}
	mustSluice(t, srv, "alarms", "create", "churn-p99", "--metric", "ModelLatency", "--endpoint", "churn", "--variant", "AllTraffic",
		"--statistic", "p99", "--period", "30", "--evaluation-periods", "3", "--datapoints", "2", "--threshold", "250000", "--comparison", "ge")

	type view struct {
		AlarmName, StateValue, Statistic, ComparisonOperator, TreatMissingData string
		Period, EvaluationPeriods, DatapointsToAlarm                           int32
		Threshold                                                              float64
		Dimensions                                                             map[string]string
		History                                                                []struct{ Type, Summary string }
	}
	list := func(args ...string) []view {
		var v []view
		if err := json.Unmarshal([]byte(mustSluice(t, srv, append([]string{"alarms", "list", "-o", "json"}, args...)...)), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	all := list()
	if len(all) != 2 || all[1].AlarmName != "churn-p99" || all[1].Statistic != "p99" || all[1].Period != 30 || all[1].DatapointsToAlarm != 2 ||
		all[1].ComparisonOperator != "GreaterThanOrEqualToThreshold" || all[1].TreatMissingData != "missing" || all[1].Dimensions["VariantName"] != "AllTraffic" {
		t.Fatalf("list: %+v", all)
	}

	// Two 5XX answers from the endpoint's data plane fire the alarm.
	ep := srv.Alarms().Recorder().Endpoint("churn", "AllTraffic")
	ep.Invocation(500, -1, 20*time.Microsecond)
	ep.Invocation(502, -1, 20*time.Microsecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if firing := list("--state", "alarm"); len(firing) == 1 && firing[0].AlarmName == "churn-5xx" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("churn-5xx did not fire: %+v", list())
		}
		time.Sleep(20 * time.Millisecond)
	}
	table := mustSluice(t, srv, "alarms", "list")
	if !strings.Contains(table, "NAME") || !strings.Contains(table, "churn-5xx") || !strings.Contains(table, "ALARM") {
		t.Fatalf("list table:\n%s", table)
	}

	var d view
	if err := json.Unmarshal([]byte(mustSluice(t, srv, "alarms", "describe", "churn-5xx", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.StateValue != "ALARM" || len(d.History) < 2 || d.History[0].Summary != "Alarm updated from OK to ALARM" || d.History[len(d.History)-1].Type != "ConfigurationUpdate" {
		t.Fatalf("describe: %+v", d)
	}
	text := mustSluice(t, srv, "alarms", "describe", "churn-5xx")
	for _, want := range []string{"State:", "ALARM since", "Threshold Crossed", "Condition:", "Alarm updated from OK to ALARM"} {
		if !strings.Contains(text, want) {
			t.Fatalf("describe table lacks %q:\n%s", want, text)
		}
	}

	mustSluice(t, srv, "alarms", "set-state", "churn-p99", "alarm", "--reason", "drill")
	if err := json.Unmarshal([]byte(mustSluice(t, srv, "alarms", "describe", "churn-p99", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.StateValue != "ALARM" {
		t.Fatalf("after set-state: %+v", d)
	}

	mustSluice(t, srv, "alarms", "delete", "churn-5xx", "churn-p99")
	if left := list(); len(left) != 0 {
		t.Fatalf("after delete: %+v", left)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"alarms", "create", "x", "--metric", "M", "--threshold", "1", "--comparison", "above"}, "--comparison"},
		{[]string{"alarms", "create", "x", "--metric", "M", "--threshold", "1", "--period", "1.5s"}, "--period"},
		{[]string{"alarms", "create", "x", "--metric", "M", "--threshold", "1", "--statistic", "Median"}, "ValidationError"},
		{[]string{"alarms", "create", "x", "--metric", "M", "--threshold", "1", "--evaluation-periods", "2", "--datapoints", "3"}, "DatapointsToAlarm"},
		{[]string{"alarms", "set-state", "ghost", "ALARM"}, "ResourceNotFound"},
		{[]string{"alarms", "describe", "ghost"}, "no alarm named"},
	} {
		_, errOut, code := sluice(t, srv, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("sluice %s: exit %d, stderr %q; want failure mentioning %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}
