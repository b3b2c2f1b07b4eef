package alarm_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/alarm/alarmtest"
)

// start is aligned to a minute, so periods of 10 s and 60 s begin on it.
var start = time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)

func stat(t *testing.T, name string) alarm.Statistic {
	t.Helper()
	st, err := alarm.ParseStatistic(name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func value(t *testing.T, a *alarm.Aggregate, name string) float64 {
	t.Helper()
	v, ok := stat(t, name).Of(a)
	if !ok {
		t.Fatalf("%s unavailable", name)
	}
	return v
}

func TestSeriesPeriods(t *testing.T) {
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	s, err := rec.Series(alarm.NewMetricKey("App", "Latency", []alarm.Dimension{{Name: "Host", Value: "a"}}))
	if err != nil {
		t.Fatal(err)
	}
	// Seconds 0..29, value = second, several values per second so every stripe is used.
	for sec := 0; sec < 30; sec++ {
		for k := 0; k < 20; k++ {
			s.RecordAt(start.Add(time.Duration(sec)*time.Second+time.Duration(k)*time.Millisecond), float64(sec))
		}
	}
	// Late data for the first second, after later seconds were recorded.
	s.RecordAt(start.Add(500*time.Millisecond), 100)
	periods := s.Periods(start, 10*time.Second, 4)
	if periods[3] != nil {
		t.Fatalf("period 30-40 s should be empty: %+v", periods[3])
	}
	for i := 0; i < 3; i++ {
		a := periods[i]
		if a == nil {
			t.Fatalf("period %d empty", i)
		}
		lo, hi := float64(i*10), float64(i*10+9)
		wantCount, wantSum := 200.0, 20*(lo+hi)*10/2
		if i == 0 {
			wantCount, wantSum, hi = 201, wantSum+100, 100
		}
		if a.SampleCount != wantCount || a.Sum != wantSum || a.Minimum != lo || a.Maximum != hi {
			t.Errorf("period %d: count %v sum %v min %v max %v; want %v %v %v %v", i, a.SampleCount, a.Sum, a.Minimum, a.Maximum, wantCount, wantSum, lo, hi)
		}
	}
	if got := value(t, periods[1], "p50"); math.Abs(got-14) > 14*alarm.SketchRelativeAccuracy() {
		t.Errorf("p50 of seconds 10..19 = %v, want ≈14", got)
	}
	// A one-second period reads single buckets, including the second still open.
	s.RecordAt(start.Add(45*time.Second), 7)
	one := s.Periods(start.Add(45*time.Second), time.Second, 1)
	if one[0] == nil || one[0].Sum != 7 {
		t.Fatalf("open second: %+v", one[0])
	}
}

func TestSeriesConcurrentRecording(t *testing.T) {
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	s, _ := rec.Series(alarm.NewMetricKey("App", "Hits", nil))
	var wg sync.WaitGroup
	const writers, each = 8, 5000
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Writers cross second boundaries while others still write the previous second.
				s.RecordAt(start.Add(time.Duration(i%7)*time.Second), 1)
			}
		}()
	}
	wg.Wait()
	a := s.Periods(start, time.Minute, 1)[0]
	if a == nil || a.SampleCount != writers*each || a.Sum != writers*each {
		t.Fatalf("lost updates: %+v", a)
	}
}

func TestSeriesRetention(t *testing.T) {
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	s, _ := rec.Series(alarm.NewMetricKey("App", "Hits", nil))
	s.RecordAt(start.Add(5*time.Second), 3)
	later := start.Add(4 * time.Hour)
	clock.Set(later)
	// Recording four hours later moves the old second out of the one-second tier.
	for k := 0; k < 16; k++ {
		s.RecordAt(later, 1)
		s.RecordAt(later.Add(time.Second), 1)
	}
	if a := s.Periods(start, 10*time.Second, 1)[0]; a != nil {
		t.Fatalf("ten-second data older than 3h still readable: %+v", a)
	}
	if a := s.Periods(start.Add(5*time.Second), time.Second, 1)[0]; a != nil {
		t.Fatalf("one-second data older than 30m still readable: %+v", a)
	}
	a := s.Periods(start, time.Minute, 1)[0]
	if a == nil || a.Sum != 3 {
		t.Fatalf("minute data within a day lost: %+v", a)
	}
	// A datapoint from the future (PutMetricData accepts up to two hours ahead) does not shorten
	// retention.
	svc := newService(t, clock, rec)
	if err := svc.PutMetricData("App", []alarm.Datum{{MetricName: "Hits", Timestamp: later.Add(110 * time.Minute), Value: ptr(1)}}); err != nil {
		t.Fatal(err)
	}
	if a := s.Periods(later, 10*time.Second, 1)[0]; a == nil || a.SampleCount != 32 {
		t.Fatalf("recent data lost after a future datapoint: %+v", a)
	}
	// Between 30 minutes and 3 hours, ten-second periods still read.
	clock.Set(later.Add(time.Hour))
	s.RecordAt(later.Add(time.Hour), 1)
	s.RecordAt(later.Add(time.Hour+time.Second), 1)
	if a := s.Periods(later, 10*time.Second, 1)[0]; a == nil || a.SampleCount != 32 {
		t.Fatalf("ten-second data within 3h lost: %+v", a)
	}
	if a := s.Periods(later, time.Second, 1)[0]; a != nil {
		t.Fatalf("one-second data older than 30m still readable: %+v", a)
	}
}

func TestEndpointMetricsAndRates(t *testing.T) {
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	e := rec.Endpoint("churn", "AllTraffic")
	if rec.Endpoint("churn", "AllTraffic") != e {
		t.Fatal("Endpoint should return the same handles")
	}
	statuses := []int{200, 200, 500, 200, 404, 200, 503, 200, 200, 200}
	for i, code := range statuses {
		model := time.Duration(i+1) * time.Millisecond
		if code >= 500 {
			model = -1 // never reached the model
		}
		e.InvocationAt(start.Add(time.Duration(i)*100*time.Millisecond), code, model, 50*time.Microsecond)
	}
	svc := newService(t, clock, rec)
	for _, dims := range [][]alarm.Dimension{
		{{Name: "EndpointName", Value: "churn"}, {Name: "VariantName", Value: "AllTraffic"}},
		{{Name: "EndpointName", Value: "churn"}},
	} {
		get := func(metric, statistic string) float64 {
			rows, err := svc.Statistics(alarm.StatisticsQuery{Namespace: "AWS/SageMaker", MetricName: metric, Dimensions: dims,
				Start: start, End: start.Add(10 * time.Second), Period: 10, Statistics: []string{statistic}})
			if err != nil || len(rows) != 1 {
				t.Fatalf("%s %s: %v %+v", metric, statistic, err, rows)
			}
			return rows[0].Values[statistic]
		}
		checks := []struct {
			metric, stat string
			want         float64
		}{
			{"Invocations", "Sum", 10},
			{"Invocation5XXErrors", "Sum", 2},
			{"Invocation5XXErrors", "Average", 0.2},
			{"Invocation4XXErrors", "Sum", 1},
			{"Invocation5XXErrorRate", "Average", 0.2},
			{"Invocation4XXErrorRate", "Maximum", 0.1},
			{"Invocation5XXErrorRate", "SampleCount", 10},
			{"ModelLatency", "SampleCount", 8},
			{"ModelLatency", "Maximum", 10000},
			{"OverheadLatency", "Average", 50},
		}
		for _, c := range checks {
			if got := get(c.metric, c.stat); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("%v %s %s = %v, want %v", dims, c.metric, c.stat, got, c.want)
			}
		}
	}
	rows, _ := svc.Statistics(alarm.StatisticsQuery{Namespace: "AWS/SageMaker", MetricName: "ModelLatency",
		Dimensions: []alarm.Dimension{{Name: "EndpointName", Value: "churn"}, {Name: "VariantName", Value: "AllTraffic"}},
		Start:      start, End: start.Add(time.Minute), Period: 60, ExtendedStatistics: []string{"p50", "p99"}})
	if len(rows) != 1 || rows[0].Unit != "Microseconds" {
		t.Fatalf("latency percentiles: %+v", rows)
	}
	if p99 := rows[0].Values["p99"]; math.Abs(p99-10000) > 10000*alarm.SketchRelativeAccuracy() {
		t.Fatalf("p99 = %v, want ≈10000", p99)
	}
}
