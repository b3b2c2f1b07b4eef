package alarm_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/alarm/alarmtest"
)

func ptr(v float64) *float64 { return &v }

func TestPutMetricDataValidation(t *testing.T) {
	clock := alarmtest.NewClock(start)
	svc := newService(t, clock, alarm.NewRecorder(clock))
	ok := alarm.Datum{MetricName: "Hits", Value: ptr(1)}
	cases := []struct {
		name string
		ns   string
		data []alarm.Datum
		kind error
	}{
		{"good", "App", []alarm.Datum{ok}, nil},
		{"values and counts", "App", []alarm.Datum{{MetricName: "Lat", Values: []float64{1, 2}, Counts: []float64{3, 0}}}, nil},
		{"statistic set", "App", []alarm.Datum{{MetricName: "Lat", StatisticValues: &alarm.StatisticSet{SampleCount: 2, Sum: 3, Minimum: 1, Maximum: 2}}}, nil},
		{"no namespace", "", []alarm.Datum{ok}, alarm.ErrMissing},
		{"reserved namespace", "AWS/SageMaker", []alarm.Datum{ok}, alarm.ErrInvalid},
		{"no data", "App", nil, alarm.ErrMissing},
		{"no metric name", "App", []alarm.Datum{{Value: ptr(1)}}, alarm.ErrMissing},
		{"no value", "App", []alarm.Datum{{MetricName: "Hits"}}, alarm.ErrMissing},
		{"value and values", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(1), Values: []float64{1}}}, alarm.ErrCombination},
		{"counts without values", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(1), Counts: []float64{1}}}, alarm.ErrCombination},
		{"counts length", "App", []alarm.Datum{{MetricName: "Hits", Values: []float64{1, 2}, Counts: []float64{1}}}, alarm.ErrCombination},
		{"negative count", "App", []alarm.Datum{{MetricName: "Hits", Values: []float64{1}, Counts: []float64{-1}}}, alarm.ErrInvalid},
		{"NaN", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(math.NaN())}}, alarm.ErrInvalid},
		{"huge", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(math.Ldexp(1, 361))}}, alarm.ErrInvalid},
		{"too old", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(1), Timestamp: start.Add(-15 * 24 * time.Hour)}}, alarm.ErrInvalid},
		{"future", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(1), Timestamp: start.Add(3 * time.Hour)}}, alarm.ErrInvalid},
		{"bad unit", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(1), Unit: "Furlongs"}}, alarm.ErrInvalid},
		{"bad resolution", "App", []alarm.Datum{{MetricName: "Hits", Value: ptr(1), StorageResolution: 5}}, alarm.ErrInvalid},
		{"set min above max", "App", []alarm.Datum{{MetricName: "Lat", StatisticValues: &alarm.StatisticSet{SampleCount: 2, Sum: 3, Minimum: 3, Maximum: 1}}}, alarm.ErrInvalid},
		{"set without samples", "App", []alarm.Datum{{MetricName: "Lat", StatisticValues: &alarm.StatisticSet{}}}, alarm.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := svc.PutMetricData(c.ns, c.data)
			if c.kind == nil && err != nil || c.kind != nil && !errors.Is(err, c.kind) {
				t.Fatalf("got %v, want %v", err, c.kind)
			}
		})
	}
	// A request with one bad datum records nothing.
	svc.PutMetricData("Atomic", []alarm.Datum{{MetricName: "A", Value: ptr(1)}, {MetricName: "B"}})
	rows, err := svc.Statistics(alarm.StatisticsQuery{Namespace: "Atomic", MetricName: "A", Start: start.Add(-time.Minute), End: start.Add(time.Minute), Period: 60, Statistics: []string{"Sum"}})
	if err != nil || len(rows) != 0 {
		t.Fatalf("rejected request recorded data: %+v %v", rows, err)
	}
}

func TestGetMetricStatistics(t *testing.T) {
	clock := alarmtest.NewClock(start.Add(10 * time.Minute))
	svc := newService(t, clock, alarm.NewRecorder(clock))
	dims := []alarm.Dimension{{Name: "Queue", Value: "jobs"}}
	// One datum per minute for five minutes: value m, and a histogram of latencies.
	for m := 0; m < 5; m++ {
		at := start.Add(time.Duration(m)*time.Minute + 30*time.Second)
		err := svc.PutMetricData("Batch", []alarm.Datum{
			{MetricName: "Depth", Dimensions: dims, Timestamp: at, Value: ptr(float64(m)), Unit: "Count"},
			{MetricName: "Wait", Dimensions: dims, Timestamp: at, Values: []float64{10, 100}, Counts: []float64{99, 1}, Unit: "Milliseconds"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	q := alarm.StatisticsQuery{Namespace: "Batch", MetricName: "Depth", Dimensions: dims, Start: start, End: start.Add(5 * time.Minute),
		Period: 120, Statistics: []string{"Sum", "Average", "SampleCount", "Minimum", "Maximum"}}
	rows, err := svc.Statistics(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !rows[0].Timestamp.Equal(start) || rows[0].Values["Sum"] != 1 || rows[0].Values["Average"] != 0.5 ||
		rows[1].Values["Maximum"] != 3 || rows[2].Values["SampleCount"] != 1 || rows[0].Unit != "Count" {
		t.Fatalf("rows: %+v", rows)
	}
	// Other dimensions are another metric.
	q.Dimensions = nil
	if rows, _ := svc.Statistics(q); len(rows) != 0 {
		t.Fatalf("dimensionless metric should be empty: %+v", rows)
	}
	// Unit filter.
	q.Dimensions, q.Unit = dims, "Seconds"
	if rows, _ := svc.Statistics(q); len(rows) != 0 {
		t.Fatalf("unit mismatch should give no data: %+v", rows)
	}
	pq := alarm.StatisticsQuery{Namespace: "Batch", MetricName: "Wait", Dimensions: dims, Start: start, End: start.Add(5 * time.Minute),
		Period: 300, ExtendedStatistics: []string{"p50", "p99", "p99.9"}}
	rows, err = svc.Statistics(pq)
	if err != nil || len(rows) != 1 {
		t.Fatalf("percentiles: %v %+v", err, rows)
	}
	for p, want := range map[string]float64{"p50": 10, "p99": 10, "p99.9": 100} {
		if got := rows[0].Values[p]; math.Abs(got-want) > want*alarm.SketchRelativeAccuracy() {
			t.Errorf("%s = %v, want %v", p, got, want)
		}
	}

	bad := []struct {
		name string
		edit func(q *alarm.StatisticsQuery)
		kind error
	}{
		{"no statistics", func(q *alarm.StatisticsQuery) { q.Statistics = nil }, alarm.ErrMissing},
		{"both lists", func(q *alarm.StatisticsQuery) { q.ExtendedStatistics = []string{"p99"} }, alarm.ErrCombination},
		{"bad statistic", func(q *alarm.StatisticsQuery) { q.Statistics = []string{"Median"} }, alarm.ErrInvalid},
		{"end before start", func(q *alarm.StatisticsQuery) { q.End = q.Start.Add(-time.Second) }, alarm.ErrInvalid},
		{"too many points", func(q *alarm.StatisticsQuery) { q.Period = 1; q.End = q.Start.Add(time.Hour) }, alarm.ErrCombination},
		{"no period", func(q *alarm.StatisticsQuery) { q.Period = 0 }, alarm.ErrMissing},
		{"no namespace", func(q *alarm.StatisticsQuery) { q.Namespace = "" }, alarm.ErrMissing},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			q := alarm.StatisticsQuery{Namespace: "Batch", MetricName: "Depth", Start: start, End: start.Add(5 * time.Minute), Period: 60, Statistics: []string{"Sum"}}
			c.edit(&q)
			if _, err := svc.Statistics(q); !errors.Is(err, c.kind) {
				t.Fatalf("got %v, want %v", err, c.kind)
			}
		})
	}
}

// TestAlarmOnCustomMetric puts a custom metric through PutMetricData and alarms on it with a
// one-second period.
func TestAlarmOnCustomMetric(t *testing.T) {
	clock := alarmtest.NewClock(start)
	svc := newService(t, clock, alarm.NewRecorder(clock))
	mustPut(t, svc, alarm.Definition{AlarmName: "queue", Namespace: "Batch", MetricName: "Depth", Statistic: "Maximum", Period: 1,
		EvaluationPeriods: 3, DatapointsToAlarm: 2, ComparisonOperator: alarm.GreaterThanOrEqualToThreshold, Threshold: 10})
	put := func(v float64) {
		t.Helper()
		if err := svc.PutMetricData("Batch", []alarm.Datum{{MetricName: "Depth", Value: ptr(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	put(12)
	evaluate(t, svc)
	// Maximum ≥ 10 settles at once, but 1 of the 2 needed with 2 unknown is undecided → ALARM
	// under "missing".
	expectState(t, svc, "queue", alarm.StateAlarm)
	for i := 0; i < 3; i++ {
		clock.Advance(time.Second)
		put(1)
	}
	clock.Advance(time.Second)
	evaluate(t, svc)
	expectState(t, svc, "queue", alarm.StateOK)
}
