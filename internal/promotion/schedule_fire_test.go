package promotion

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// clock is a settable clock shared by the services under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestScheduleTriggerFires drives a schedule trigger with a clock: it fires once when its time
// comes, with the time in its reason, not again at the same time or from a second replica, and
// after the server was down for days it fires once for the missed runs and goes on from now.
func TestScheduleTriggerFires(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	clk := &clock{}
	clk.Set("2026-03-14T10:00:00Z")
	eng, err := pipeline.NewEngine(pipeline.EngineConfig{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	def := `{"Version":"2020-12-01","Parameters":[{"Name":"Stage","Type":"String","DefaultValue":"none"}],
		"Steps":[{"Name":"Check","Type":"Condition","Arguments":{"Conditions":[{"Type":"Equals","LeftValue":1,"RightValue":1}]}}]}`
	if _, err := eng.CreatePipeline(ctx, registry.Actor{Name: "test"}, pipeline.NewPipeline{Name: "nightly-deploy", Definition: def,
		RoleARN: "arn:aws:iam::000000000000:role/deploy"}); err != nil {
		t.Fatal(err)
	}
	replica := func() *Service {
		s, err := New(Config{Store: st, Pipelines: eng, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1, s2 := replica(), replica()
	tr, err := s1.CreateTrigger(ctx, Trigger{Name: "nightly", Kind: TriggerSchedule, Pipeline: "nightly-deploy",
		Schedule: "cron(0 2 * * ? *)", Parameters: map[string]string{"Stage": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.NextRun == nil || !tr.NextRun.Equal(time.Date(2026, 3, 15, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextRun = %v, want 2026-03-15T02:00:00Z", tr.NextRun)
	}

	tick := func(at string) {
		t.Helper()
		clk.Set(at)
		var wg sync.WaitGroup
		for _, s := range []*Service{s1, s2} {
			wg.Go(func() {
				if err := s.tick(ctx); err != nil {
					t.Errorf("tick at %s: %v", at, err)
				}
			})
		}
		wg.Wait()
	}
	executions := func() []pipeline.Execution {
		t.Helper()
		page, err := eng.ListExecutions(ctx, pipeline.ExecutionQuery{Pipeline: "nightly-deploy", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return page.Executions
	}
	trigger := func() Trigger {
		t.Helper()
		all, err := s1.Triggers(ctx)
		if err != nil || len(all) != 1 {
			t.Fatalf("triggers %v, %v", all, err)
		}
		return all[0]
	}

	tick("2026-03-15T01:59:59Z")
	if n := len(executions()); n != 0 {
		t.Fatalf("%d executions a second before the first run", n)
	}

	tick("2026-03-15T02:00:01Z")
	xs := executions()
	if len(xs) != 1 {
		t.Fatalf("%d executions at the first run (two replicas ticking), want 1", len(xs))
	}
	got := trigger()
	if len(got.Firings) != 1 || got.Firings[0].Reason != "scheduled run of 2026-03-15T02:00:00Z" ||
		got.Firings[0].PipelineExecutionArn != xs[0].ARN {
		t.Fatalf("firings %+v, want the 02:00 run of %s", got.Firings, xs[0].ARN)
	}
	if got.NextRun == nil || !got.NextRun.Equal(time.Date(2026, 3, 16, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextRun after the first run = %v", got.NextRun)
	}
	params, err := eng.ExecutionParameters(ctx, xs[0].ARN)
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != 1 || params[0].Name != "Stage" || params[0].Value != "prod" {
		t.Fatalf("execution parameters %+v, want the trigger's Stage=prod", params)
	}

	tick("2026-03-15T02:00:30Z")
	if n := len(executions()); n != 1 {
		t.Fatalf("%d executions after a second tick in the same minute, want still 1", n)
	}

	// The server was down from the 15th to the 19th: one run for the missed ones, then on.
	tick("2026-03-19T05:00:00Z")
	if n := len(executions()); n != 2 {
		t.Fatalf("%d executions after days down, want 2 (missed runs are not made up)", n)
	}
	got = trigger()
	if !strings.Contains(got.Firings[0].Reason, "2026-03-16T02:00:00Z") {
		t.Errorf("latest firing %+v, want the first missed run", got.Firings[0])
	}
	if got.NextRun == nil || !got.NextRun.Equal(time.Date(2026, 3, 20, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextRun after the outage = %v, want 2026-03-20T02:00:00Z", got.NextRun)
	}
}
