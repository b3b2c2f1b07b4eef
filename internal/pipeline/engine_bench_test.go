package pipeline

import (
	"fmt"
	"testing"
	"time"
)

// The engine's own cost, with a job runner whose jobs finish as soon as they are created (the
// fake writes the same rows and outbox events as the real runner, but runs no process). The
// end-to-end figures with real no-op processes come from bench/pipeline.

func chainDefinition(n int) string {
	steps := []map[string]any{processingStep("S0000")}
	for i := 1; i < n; i++ {
		steps = append(steps, with(processingStep(fmt.Sprintf("S%04d", i)), "DependsOn", []any{fmt.Sprintf("S%04d", i-1)}))
	}
	return definition(nil, steps...)
}

func fanDefinition(n int) string {
	steps := []map[string]any{processingStep("Fan")}
	var mids []any
	for i := range n {
		name := fmt.Sprintf("P%04d", i)
		mids = append(mids, name)
		steps = append(steps, with(processingStep(name), "DependsOn", []any{"Fan"}))
	}
	steps = append(steps, with(processingStep("Join"), "DependsOn", mids))
	return definition(nil, steps...)
}

func benchmarkExecution(b *testing.B, def string, steps int) {
	h := newHarness(b)
	h.createPipeline("Bench", def)
	var wall time.Duration
	b.ResetTimer()
	for range b.N {
		x := h.start("Bench")
		x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
		if x.Status != ExecutionSucceeded {
			b.Fatalf("execution %s: %s", x.Status, x.FailureReason)
		}
		wall += x.EndedAt.Sub(x.CreatedAt)
	}
	b.ReportMetric(float64(wall.Microseconds())/float64(b.N*steps), "µs/step")
	b.ReportMetric(float64(b.N*steps)/wall.Seconds(), "steps/s")
}

func BenchmarkEngineChain100(b *testing.B) { benchmarkExecution(b, chainDefinition(100), 100) }

func BenchmarkEngineFanOut1000(b *testing.B) { benchmarkExecution(b, fanDefinition(1000), 1002) }
