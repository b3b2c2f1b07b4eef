package alarm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/alarm/alarmtest"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// BenchmarkRecord is the data plane's cost of one datapoint on one goroutine.
func BenchmarkRecord(b *testing.B) {
	rec := alarm.NewRecorder(nil)
	s, _ := rec.Series(alarm.NewMetricKey("AWS/SageMaker", "ModelLatency", variantDims))
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.RecordAt(now.Add(time.Duration(i)*time.Microsecond), float64(1000+i%5000))
	}
}

// BenchmarkRecordParallel is the same with every core recording into one metric.
func BenchmarkRecordParallel(b *testing.B) {
	rec := alarm.NewRecorder(nil)
	s, _ := rec.Series(alarm.NewMetricKey("AWS/SageMaker", "ModelLatency", variantDims))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Record(float64(1000 + i%5000))
			i++
		}
	})
}

// BenchmarkInvocation is what one served request costs the data plane: five metrics, each with
// and without the VariantName dimension, stamped with the wall clock.
func BenchmarkInvocation(b *testing.B) {
	rec := alarm.NewRecorder(nil)
	e := rec.Endpoint("churn", "AllTraffic")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Invocation(200, 1500*time.Microsecond, 40*time.Microsecond)
		}
	})
}

// BenchmarkEvaluate is one evaluation pass over 100 alarms on p99 latency with 10 s periods, 3
// of them evaluated, over metrics receiving 1000 datapoints a second.
func BenchmarkEvaluate(b *testing.B) {
	clock := alarmtest.NewClock(start)
	rec := alarm.NewRecorder(clock)
	svc := openService(b, storetest.SQLite(b), clock, rec)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		d := guardrail(fmt.Sprintf("p99-%d", i), "ModelLatency", "p99", 10, 3, 2, alarm.GreaterThanThreshold, 1e9, alarm.MissingDataMissing)
		d.Dimensions = []alarm.Dimension{{Name: "EndpointName", Value: fmt.Sprintf("ep-%d", i)}, {Name: "VariantName", Value: "AllTraffic"}}
		if _, _, err := svc.Put(ctx, d); err != nil {
			b.Fatal(err)
		}
		e := rec.Endpoint(fmt.Sprintf("ep-%d", i), "AllTraffic")
		for sec := 0; sec < 60; sec++ {
			for k := 0; k < 1000; k++ {
				e.InvocationAt(start.Add(time.Duration(sec)*time.Second+time.Duration(k)*time.Millisecond), 200, time.Duration(1000+k*3)*time.Microsecond, 0)
			}
		}
	}
	clock.Set(start.Add(time.Minute))
	svc.Evaluate(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.Evaluate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/100, "µs/alarm")
}

// latencyReport adds the median and 99th percentile of samples to the benchmark's output.
func latencyReport(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	if len(samples) == 0 {
		return
	}
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(samples[(len(samples)*99)/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkBreachToStateChange measures, on the wall clock with the evaluator running and the
// state stored in SQLite, the time from recording a breaching 5XX datapoint to a Watch
// subscriber receiving the ALARM transition: what a deployment waits before it rolls back. A
// Sum alarm fires as soon as the datapoint arrives, without waiting for its period to end.
// "quiet": the datapoint is the first in a while. "busy": another watched endpoint records
// continuously, so data wakes are coalesced (at most one evaluation per minDataGap).
func BenchmarkBreachToStateChange(b *testing.B) {
	for _, busy := range []bool{false, true} {
		name := "quiet"
		if busy {
			name = "busy"
		}
		b.Run(name, func(b *testing.B) { breachToStateChange(b, busy) })
	}
}

func breachToStateChange(b *testing.B, busy bool) {
	rec := alarm.NewRecorder(nil)
	svc := openService(b, storetest.SQLite(b), alarm.SystemClock{}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	if busy {
		d := guardrail("background", "Invocation5XXErrors", "Sum", 60, 1, 1, alarm.GreaterThanThreshold, 1e9, alarm.MissingDataNotBreaching)
		d.Dimensions = []alarm.Dimension{{Name: "EndpointName", Value: "background"}, {Name: "VariantName", Value: "AllTraffic"}}
		if _, _, err := svc.Put(ctx, d); err != nil {
			b.Fatal(err)
		}
		bg := rec.Endpoint("background", "AllTraffic")
		go func() {
			for ctx.Err() == nil {
				bg.Invocation(200, time.Millisecond, 0)
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		endpoint := fmt.Sprintf("ep-%d", i)
		d := guardrail("errors-"+endpoint, "Invocation5XXErrors", "Sum", 60, 1, 1, alarm.GreaterThanThreshold, 0, alarm.MissingDataNotBreaching)
		d.Dimensions = []alarm.Dimension{{Name: "EndpointName", Value: endpoint}, {Name: "VariantName", Value: "AllTraffic"}}
		wctx, wcancel := context.WithCancel(ctx)
		watch := svc.Watch(wctx, d.AlarmName)
		if _, _, err := svc.Put(ctx, d); err != nil {
			b.Fatal(err)
		}
		for c := range watch { // wait for the first evaluation: OK
			if c.New == alarm.StateOK {
				break
			}
		}
		e := rec.Endpoint(endpoint, "AllTraffic")
		if busy {
			// Land the breach at a random point of the evaluator's coalescing cycle.
			time.Sleep(time.Duration(rand.IntN(15_000)) * time.Microsecond)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
		b.StartTimer()
		t0 := time.Now()
		e.Invocation(500, -1, 0)
		for c := range watch {
			if c.New == alarm.StateAlarm {
				break
			}
		}
		samples = append(samples, time.Since(t0))
		wcancel()
	}
	b.StopTimer()
	latencyReport(b, samples)
}

// BenchmarkPeriodEndToStateChange measures the time from the end of a period to the ALARM of a
// statistic that can only be judged then (Average latency over 1 s periods): the evaluator
// sleeps until each period boundary instead of polling.
func BenchmarkPeriodEndToStateChange(b *testing.B) {
	rec := alarm.NewRecorder(nil)
	svc := openService(b, storetest.SQLite(b), alarm.SystemClock{}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		endpoint := fmt.Sprintf("ep-%d", i)
		d := guardrail("latency-"+endpoint, "ModelLatency", "Average", 1, 1, 1, alarm.GreaterThanThreshold, 1000, alarm.MissingDataNotBreaching)
		d.Dimensions = []alarm.Dimension{{Name: "EndpointName", Value: endpoint}, {Name: "VariantName", Value: "AllTraffic"}}
		wctx, wcancel := context.WithCancel(ctx)
		watch := svc.Watch(wctx, d.AlarmName)
		if _, _, err := svc.Put(ctx, d); err != nil {
			b.Fatal(err)
		}
		for c := range watch {
			if c.New == alarm.StateOK {
				break
			}
		}
		e := rec.Endpoint(endpoint, "AllTraffic")
		// Slow answers from the start of a second until its end.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		e.Invocation(200, 5*time.Millisecond, 0)
		boundary := time.Now().Truncate(time.Second).Add(time.Second)
		b.StartTimer()
		for c := range watch {
			if c.New == alarm.StateAlarm {
				break
			}
		}
		samples = append(samples, time.Since(boundary))
		wcancel()
	}
	b.StopTimer()
	latencyReport(b, samples)
}
