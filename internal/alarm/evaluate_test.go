package alarm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)

// points turns a row such as "0 - X - X" (oldest on the left, as CloudWatch's documentation
// draws it) into the evaluation range, newest first: X breaches a GreaterThan 5 threshold, 0
// does not, - is missing. A number stands for itself.
func points(row string, period time.Duration) []Datapoint {
	fields := strings.Fields(row)
	out := make([]Datapoint, len(fields))
	for i, f := range fields {
		p := Datapoint{Start: t0.Add(time.Duration(i) * period), SampleCount: 1, Present: true}
		switch f {
		case "-":
			p.Present = false
		case "X":
			p.Value = 10
		case "0":
			p.Value = 0
		default:
			json.Unmarshal([]byte(f), &p.Value)
		}
		out[len(fields)-1-i] = p
	}
	return out
}

func def(n, m int32, cmp Comparison, threshold float64, missing MissingData) *Definition {
	d := &Definition{AlarmName: "a", Namespace: "App", MetricName: "Errors", Statistic: "Sum", Period: 10,
		EvaluationPeriods: n, DatapointsToAlarm: m, ComparisonOperator: cmp, Threshold: threshold, TreatMissingData: missing}
	if err := d.Validate(); err != nil {
		panic(err)
	}
	return d
}

const retain StateValue = "(retain)"

// TestMissingDataTable reproduces the table in CloudWatch's "How alarm state is evaluated when
// data is missing" (EvaluationPeriods 3, DatapointsToAlarm 3, evaluation range 5).
func TestMissingDataTable(t *testing.T) {
	rows := []struct {
		points                                   string
		missing, ignore, breaching, notBreaching StateValue
	}{
		{"0 - X - X", StateOK, StateOK, StateOK, StateOK},
		{"- - - - 0", StateOK, StateOK, StateOK, StateOK},
		{"- - - - -", StateInsufficientData, retain, StateAlarm, StateOK},
		{"0 X X - X", StateAlarm, StateAlarm, StateAlarm, StateAlarm},
		{"- - - - X", StateAlarm, retain, StateAlarm, StateOK},
	}
	for _, r := range rows {
		for _, c := range []struct {
			treat MissingData
			want  StateValue
		}{{MissingDataMissing, r.missing}, {MissingDataIgnore, r.ignore}, {MissingDataBreaching, r.breaching}, {MissingDataNotBreaching, r.notBreaching}} {
			t.Run(r.points+"/"+string(c.treat), func(t *testing.T) {
				d := def(3, 3, GreaterThanThreshold, 5, c.treat)
				out := evaluate(d, d.statistic(), points(r.points, 10*time.Second), t0.Add(time.Minute))
				got := out.state
				if out.retain {
					got = retain
				}
				if got != c.want {
					t.Fatalf("got %s (%s), want %s", got, out.reason, c.want)
				}
			})
		}
	}
}

func TestEvaluateRules(t *testing.T) {
	cases := []struct {
		name      string
		n, m      int32
		cmp       Comparison
		threshold float64
		missing   MissingData
		points    string
		want      StateValue
	}{
		{"gt breaches above", 1, 1, GreaterThanThreshold, 5, "", "- - 6", StateAlarm},
		{"gt equal is fine", 1, 1, GreaterThanThreshold, 5, "", "- - 5", StateOK},
		{"ge equal breaches", 1, 1, GreaterThanOrEqualToThreshold, 5, "", "- - 5", StateAlarm},
		{"ge below is fine", 1, 1, GreaterThanOrEqualToThreshold, 5, "", "- - 4.99", StateOK},
		{"lt breaches below", 1, 1, LessThanThreshold, 5, "", "- - 4", StateAlarm},
		{"lt equal is fine", 1, 1, LessThanThreshold, 5, "", "- - 5", StateOK},
		{"le equal breaches", 1, 1, LessThanOrEqualToThreshold, 5, "", "- - 5", StateAlarm},
		{"le above is fine", 1, 1, LessThanOrEqualToThreshold, 5, "", "- - 5.01", StateOK},
		{"negative threshold", 1, 1, LessThanThreshold, -1, "", "- - -2", StateAlarm},
		{"2 of 3 met", 3, 2, GreaterThanThreshold, 5, "", "- - X 0 X", StateAlarm},
		{"2 of 3 not met", 3, 2, GreaterThanThreshold, 5, "", "- - X 0 0", StateOK},
		{"all 3 of 3", 3, 3, GreaterThanThreshold, 5, "", "- - X X X", StateAlarm},
		{"only newest N count", 3, 3, GreaterThanThreshold, 5, "", "X X 0 X X", StateOK},
		{"look back past gaps", 3, 3, GreaterThanThreshold, 5, "", "X X - - X", StateAlarm},
		{"1 of 5 over a gap", 5, 1, GreaterThanThreshold, 5, "", "0 0 0 X 0 0 0", StateAlarm},
		{"breaching fills to alarm", 3, 2, GreaterThanThreshold, 5, MissingDataBreaching, "- - - - X", StateAlarm},
		{"breaching fill not enough", 3, 3, GreaterThanThreshold, 5, MissingDataBreaching, "- - 0 - X", StateOK},
		{"notBreaching fill", 3, 1, GreaterThanThreshold, 5, MissingDataNotBreaching, "- - - - 0", StateOK},
		{"missing undecided goes to alarm", 3, 2, GreaterThanThreshold, 5, MissingDataMissing, "- - - 0 X", StateAlarm},
		{"missing decided ok", 3, 3, GreaterThanThreshold, 5, MissingDataMissing, "- - - 0 X", StateOK},
		{"ignore undecided retains", 3, 2, GreaterThanThreshold, 5, MissingDataIgnore, "- - - 0 X", retain},
		{"default treatment is missing", 1, 1, GreaterThanThreshold, 5, "", "- - -", StateInsufficientData},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := def(c.n, c.m, c.cmp, c.threshold, c.missing)
			out := evaluate(d, d.statistic(), points(c.points, 10*time.Second), t0.Add(time.Minute))
			got := out.state
			if out.retain {
				got = retain
			}
			if got != c.want {
				t.Fatalf("got %s (%s), want %s", got, out.reason, c.want)
			}
			if !out.retain && !json.Valid([]byte(out.data)) {
				t.Fatalf("StateReasonData is not JSON: %s", out.data)
			}
		})
	}
}

func TestReasonWording(t *testing.T) {
	d := def(3, 2, GreaterThanThreshold, 1, "")
	out := evaluate(d, d.statistic(), points("- - 5 0 4", 10*time.Second), t0.Add(time.Minute))
	want := "Threshold Crossed: 2 out of the last 3 datapoints [4.0 (12/04/26 10:00:40), 0.0 (12/04/26 10:00:30), 5.0 (12/04/26 10:00:20)] were greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
	if out.state != StateAlarm || out.reason != want {
		t.Fatalf("reason:\n got %s\nwant %s", out.reason, want)
	}
	var data struct {
		Version             string    `json:"version"`
		Statistic           string    `json:"statistic"`
		Period              int       `json:"period"`
		Threshold           float64   `json:"threshold"`
		RecentDatapoints    []float64 `json:"recentDatapoints"`
		StartDate           string    `json:"startDate"`
		EvaluatedDatapoints []struct {
			Timestamp string  `json:"timestamp"`
			Value     float64 `json:"value"`
		} `json:"evaluatedDatapoints"`
	}
	if err := json.Unmarshal([]byte(out.data), &data); err != nil {
		t.Fatal(err)
	}
	if data.Version != "1.0" || data.Statistic != "Sum" || data.Period != 10 || data.Threshold != 1 ||
		len(data.RecentDatapoints) != 3 || data.RecentDatapoints[0] != 5 || data.RecentDatapoints[2] != 4 ||
		data.StartDate != "2026-04-12T10:00:20.000+0000" || data.EvaluatedDatapoints[0].Timestamp != "2026-04-12T10:00:40.000+0000" {
		t.Fatalf("reason data: %s", out.data)
	}

	one := def(1, 1, GreaterThanThreshold, 1, "")
	ok := evaluate(one, one.statistic(), points("- - 0", 10*time.Second), t0.Add(time.Minute))
	if want := "Threshold Crossed: 1 datapoint [0.0 (12/04/26 10:00:20)] was not greater than the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition)."; ok.reason != want {
		t.Fatalf("OK reason:\n got %s\nwant %s", ok.reason, want)
	}
	br := def(2, 2, GreaterThanThreshold, 1, MissingDataBreaching)
	none := evaluate(br, br.statistic(), points("- - - -", 10*time.Second), t0.Add(time.Minute))
	if want := "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching]."; none.reason != want {
		t.Fatalf("breaching reason:\n got %s\nwant %s", none.reason, want)
	}
	undecided := evaluate(d, d.statistic(), points("- - - - 0", 10*time.Second), t0.Add(time.Minute))
	if want := "Threshold Crossed: 0 out of the last 1 datapoint [0.0 (12/04/26 10:00:40)] was greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition) (2 datapoints were unknown)."; undecided.state != StateAlarm || undecided.reason != want {
		t.Fatalf("undecided reason:\n got %s\nwant %s", undecided.reason, want)
	}
	ins := evaluate(d, d.statistic(), points("- - - - -", 10*time.Second), t0.Add(time.Minute))
	if want := "Insufficient Data: 3 datapoints were unknown."; ins.reason != want {
		t.Fatalf("insufficient reason:\n got %s\nwant %s", ins.reason, want)
	}
	for v, want := range map[float64]string{1: "1.0", 0.25: "0.25", 1.5e7: "1.5E7", 0.0001: "1.0E-4", -3: "-3.0", 0: "0.0"} {
		if got := javaFloat(v); got != want {
			t.Errorf("javaFloat(%v) = %s, want %s", v, got, want)
		}
	}
}

func TestLowSampleCountPercentile(t *testing.T) {
	d := def(1, 1, GreaterThanThreshold, 100, "")
	d.Statistic, d.ExtendedStatistic, d.EvaluateLowSampleCountPercentile = "", "p99", "ignore"
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	pts := points("- - 500", 10*time.Second)
	pts[0].SampleCount = 999 // p99 needs 1000 samples to be significant
	if out := evaluate(d, d.statistic(), pts, t0); !out.retain {
		t.Fatalf("thin p99 with ignore: got %s, want no change", out.state)
	}
	pts[0].SampleCount = 1000
	if out := evaluate(d, d.statistic(), pts, t0); out.retain || out.state != StateAlarm {
		t.Fatalf("significant p99: got %+v, want ALARM", out)
	}
	d.EvaluateLowSampleCountPercentile = "evaluate"
	pts[0].SampleCount = 3
	if out := evaluate(d, d.statistic(), pts, t0); out.retain || out.state != StateAlarm {
		t.Fatalf("thin p99 with evaluate: got %+v, want ALARM", out)
	}
}

func TestDefinitionValidation(t *testing.T) {
	good := func() Definition {
		return Definition{AlarmName: "x", Namespace: "AWS/SageMaker", MetricName: "ModelLatency", Statistic: "Average", Period: 10,
			EvaluationPeriods: 3, Threshold: 1, ComparisonOperator: GreaterThanThreshold}
	}
	cases := []struct {
		name string
		edit func(d *Definition)
		kind error
	}{
		{"good", func(d *Definition) {}, nil},
		{"period 1s", func(d *Definition) { d.Period = 1 }, nil},
		{"percentile", func(d *Definition) { d.Statistic, d.ExtendedStatistic = "", "p99.9" }, nil},
		{"no name", func(d *Definition) { d.AlarmName = "" }, ErrMissing},
		{"long name", func(d *Definition) { d.AlarmName = strings.Repeat("a", 256) }, ErrInvalid},
		{"control char", func(d *Definition) { d.AlarmName = "a\nb" }, ErrInvalid},
		{"no namespace", func(d *Definition) { d.Namespace = "" }, ErrMissing},
		{"no metric", func(d *Definition) { d.MetricName = "" }, ErrMissing},
		{"no statistic", func(d *Definition) { d.Statistic = "" }, ErrMissing},
		{"both statistics", func(d *Definition) { d.ExtendedStatistic = "p99" }, ErrCombination},
		{"bad statistic", func(d *Definition) { d.Statistic = "Median" }, ErrInvalid},
		{"trimmed mean", func(d *Definition) { d.Statistic, d.ExtendedStatistic = "", "tm99" }, ErrInvalid},
		{"no period", func(d *Definition) { d.Period = 0 }, ErrMissing},
		{"negative period", func(d *Definition) { d.Period = -5 }, ErrInvalid},
		{"zero evaluation periods", func(d *Definition) { d.EvaluationPeriods = 0 }, ErrInvalid},
		{"m above n", func(d *Definition) { d.DatapointsToAlarm = 4 }, ErrInvalid},
		{"over a day", func(d *Definition) { d.Period, d.EvaluationPeriods = 3600, 25 }, ErrInvalid},
		{"ten-second periods beyond 3h", func(d *Definition) { d.Period, d.EvaluationPeriods = 30, 400 }, ErrInvalid},
		{"five-second periods beyond 30m", func(d *Definition) { d.Period, d.EvaluationPeriods = 5, 400 }, ErrInvalid},
		{"five-second periods within 30m", func(d *Definition) { d.Period, d.EvaluationPeriods = 5, 300 }, nil},
		{"minute periods for a day", func(d *Definition) { d.Period, d.EvaluationPeriods = 60, 1440 }, nil},
		{"anomaly band", func(d *Definition) { d.ComparisonOperator = "LessThanLowerOrGreaterThanUpperThreshold" }, ErrInvalid},
		{"unknown comparison", func(d *Definition) { d.ComparisonOperator = "Above" }, ErrInvalid},
		{"no comparison", func(d *Definition) { d.ComparisonOperator = "" }, ErrMissing},
		{"bad missing", func(d *Definition) { d.TreatMissingData = "zero" }, ErrInvalid},
		{"low sample without percentile", func(d *Definition) { d.EvaluateLowSampleCountPercentile = "ignore" }, ErrCombination},
		{"bad unit", func(d *Definition) { d.Unit = "Parsecs" }, ErrInvalid},
		{"too many actions", func(d *Definition) { d.AlarmActions = []string{"a", "b", "c", "d", "e", "f"} }, ErrInvalid},
		{"duplicate dimension", func(d *Definition) {
			d.Dimensions = []Dimension{{"EndpointName", "a"}, {"EndpointName", "b"}}
		}, ErrInvalid},
		{"empty dimension value", func(d *Definition) { d.Dimensions = []Dimension{{"EndpointName", ""}} }, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := good()
			c.edit(&d)
			err := d.Validate()
			if c.kind == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ae *Error
			if err == nil || !asError(err, &ae) || ae.Kind != c.kind {
				t.Fatalf("got %v, want kind %v", err, c.kind)
			}
			if ae.Message == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}
