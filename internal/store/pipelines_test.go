package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

const plARN = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/"

func plNew(name string, created time.Time) *store.Pipeline {
	return &store.Pipeline{
		ARN: plARN + plLower(name), Name: name, Definition: `{"Version":"2020-12-01","Steps":[]}`,
		Status: "Active", VersionID: 1, CreatedAt: created, UpdatedAt: created,
	}
}

func plLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func plTx(t *testing.T, s *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := s.InTx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func plNewExecution(p *store.Pipeline, id string, created time.Time) *store.PipelineExecution {
	return &store.PipelineExecution{
		ARN: p.ARN + "/execution/" + id, ExecID: id, PipelineID: p.ID, PipelineARN: p.ARN, PipelineName: p.Name,
		VersionID: p.VersionID, Status: "Executing", Definition: p.Definition, CreatedAt: created, UpdatedAt: created,
	}
}

func TestPipelineCRUDAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		names := []string{"beta", "Alpha", "gamma", "alpine"}
		for i, n := range names {
			p := plNew(n, base.Add(time.Duration(i)*time.Second))
			plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipeline(ctx, p) })
		}
		dup := plNew("ALPHA", base)
		err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertPipeline(ctx, dup) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name (other case): got %v, want ErrConflict", err)
		}

		p, err := s.Pipeline(ctx, plARN+"alpha")
		if err != nil || p.Name != "Alpha" {
			t.Fatalf("Pipeline: %+v, %v", p, err)
		}
		p.Description, p.VersionID, p.Parallelism = "changed", 2, 3
		plTx(t, s, func(tx *store.Tx) error { return tx.UpdatePipeline(ctx, &p) })
		got, _ := s.Pipeline(ctx, p.ARN)
		if got.Description != "changed" || got.VersionID != 2 || got.Parallelism != 3 {
			t.Fatalf("after update: %+v", got)
		}
		if ok, _ := s.ResourceExists(ctx, "pipeline", p.ARN); !ok {
			t.Fatal("ResourceExists(pipeline) = false")
		}

		tests := []struct {
			name string
			q    store.PipelineQuery
			want []string
		}{
			{"by creation", store.PipelineQuery{}, []string{"beta", "Alpha", "gamma", "alpine"}},
			{"by name", store.PipelineQuery{SortByName: true}, []string{"Alpha", "alpine", "beta", "gamma"}},
			{"by name descending", store.PipelineQuery{SortByName: true, Descending: true}, []string{"gamma", "beta", "alpine", "Alpha"}},
			{"prefix ignores case", store.PipelineQuery{NamePrefix: "AL", SortByName: true}, []string{"Alpha", "alpine"}},
			{"prefix escapes wildcards", store.PipelineQuery{NamePrefix: "a%"}, nil},
			{"created after", store.PipelineQuery{CreatedAfter: base.Add(time.Second)}, []string{"gamma", "alpine"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ps, err := s.ListPipelines(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if g := plNames(ps); fmt.Sprint(g) != fmt.Sprint(tc.want) {
					t.Fatalf("got %v, want %v", g, tc.want)
				}
			})
		}

		// Keyset paging visits every row once, in order.
		for _, byName := range []bool{false, true} {
			var seen []string
			var after *store.Cursor
			for {
				page, err := s.ListPipelines(ctx, store.PipelineQuery{SortByName: byName, After: after, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, plNames(page)...)
				if len(page) < 3 {
					break
				}
				c := page[len(page)-1].SortKey(byName)
				after = &c
			}
			if len(seen) != 4 {
				t.Fatalf("paging (byName=%v) saw %v", byName, seen)
			}
		}
	})
}

func plNames(ps []store.Pipeline) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestPipelineExecutionsAndSteps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		p := plNew("Flow", now)
		plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipeline(ctx, p) })

		e1 := plNewExecution(p, "aaaaaaaaaaaa", now)
		e1.ClientToken = "tok-1"
		e1.Parameters = json.RawMessage(`[{"Name":"X","Value":"1"}]`)
		plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipelineExecution(ctx, e1) })
		e2 := plNewExecution(p, "bbbbbbbbbbbb", now.Add(time.Second))
		e2.ClientToken = "tok-1"
		err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertPipelineExecution(ctx, e2) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("reused client token: got %v, want ErrConflict", err)
		}
		e2.ClientToken = ""
		plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipelineExecution(ctx, e2) })
		e3 := plNewExecution(p, "cccccccccccc", now.Add(2*time.Second))
		plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipelineExecution(ctx, e3) })

		plTx(t, s, func(tx *store.Tx) error {
			got, err := tx.PipelineExecutionByToken(ctx, p.ID, "tok-1")
			if err != nil || got.ARN != e1.ARN {
				return fmt.Errorf("by token: %+v, %v", got, err)
			}
			return nil
		})

		// Optimistic concurrency: a stale version is refused.
		stale := *e1
		e1.Status, e1.FailureReason = "Failed", "boom"
		plTx(t, s, func(tx *store.Tx) error { return tx.UpdatePipelineExecution(ctx, e1) })
		if e1.Version != 2 {
			t.Fatalf("version after update = %d, want 2", e1.Version)
		}
		stale.Status = "Succeeded"
		err = s.InTx(ctx, func(tx *store.Tx) error { return tx.UpdatePipelineExecution(ctx, &stale) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update: got %v, want ErrConflict", err)
		}
		got, _ := s.PipelineExecution(ctx, e1.ARN)
		if got.Status != "Failed" || string(got.Parameters) != `[{"Name":"X","Value":"1"}]` {
			t.Fatalf("execution after updates: %+v", got)
		}

		active, err := s.PipelineExecutionsInStatus(ctx, "Executing", "Stopping")
		if err != nil || len(active) != 2 {
			t.Fatalf("active executions: %d, %v", len(active), err)
		}
		plTx(t, s, func(tx *store.Tx) error {
			n, err := tx.CountPipelineExecutions(ctx, p.ID, "Executing")
			if err != nil || n != 2 {
				return fmt.Errorf("count: %d, %v", n, err)
			}
			return nil
		})
		list, err := s.ListPipelineExecutions(ctx, store.PipelineExecutionQuery{PipelineID: p.ID, Descending: true, Limit: 2})
		if err != nil || len(list) != 2 || list[0].ExecID != "cccccccccccc" {
			t.Fatalf("list executions: %+v, %v", list, err)
		}
		c := list[1].SortKey(false)
		rest, _ := s.ListPipelineExecutions(ctx, store.PipelineExecutionQuery{PipelineID: p.ID, Descending: true, After: &c, Limit: 2})
		if len(rest) != 1 || rest[0].ExecID != "aaaaaaaaaaaa" {
			t.Fatalf("second page: %+v", rest)
		}

		// Steps, the callback token index and the cache lookup.
		step := func(e *store.PipelineExecution, name, status, key string, ended time.Time) *store.PipelineStep {
			st := &store.PipelineStep{ExecutionID: e.ID, PipelineID: p.ID, Name: name, Type: "Processing", Status: status,
				Attempt: 1, CacheKey: key, FirstStartedAt: now, StartedAt: now, EndedAt: ended, UpdatedAt: now,
				Properties: json.RawMessage(`{"ProcessingJobArn":"` + e.ExecID + `"}`)}
			plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipelineStep(ctx, st) })
			return st
		}
		step(e1, "Prep", "Succeeded", "k1", now.Add(time.Minute))
		step(e2, "Prep", "Succeeded", "k1", now.Add(2*time.Minute))
		step(e3, "Prep", "Failed", "k1", now.Add(3*time.Minute))
		step(e3, "Other", "Succeeded", "k2", now.Add(3*time.Minute))
		cb := step(e3, "Wait", "Executing", "", time.Time{})
		cb.CallbackToken = "tok1234567"
		plTx(t, s, func(tx *store.Tx) error { return tx.UpdatePipelineStep(ctx, cb) })

		hit, src, err := s.CachedPipelineStep(ctx, p.ID, "Prep", "k1", time.Time{})
		if err != nil || src != e2.ARN || hit.ExecutionID != e2.ID {
			t.Fatalf("cache lookup: %+v from %s, %v (want the newest success, of %s)", hit, src, err, e2.ARN)
		}
		if _, _, err := s.CachedPipelineStep(ctx, p.ID, "Prep", "k1", now.Add(3*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired cache entry: got %v, want ErrNotFound", err)
		}
		if _, _, err := s.CachedPipelineStep(ctx, p.ID, "Prep", "k2", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other step's key: got %v, want ErrNotFound", err)
		}

		plTx(t, s, func(tx *store.Tx) error {
			got, err := tx.PipelineStepByToken(ctx, "tok1234567")
			if err != nil || got.Name != "Wait" || got.Version != 2 {
				return fmt.Errorf("by token: %+v, %v", got, err)
			}
			_, err = tx.PipelineStepByToken(ctx, "nope")
			if !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("missing token: %v", err)
			}
			return nil
		})
		dupToken := &store.PipelineStep{ExecutionID: e2.ID, PipelineID: p.ID, Name: "Wait", Type: "Callback", Status: "Executing",
			CallbackToken: "tok1234567", FirstStartedAt: now, StartedAt: now, UpdatedAt: now}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertPipelineStep(ctx, dupToken) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate callback token: got %v, want ErrConflict", err)
		}

		steps, err := s.ListPipelineSteps(ctx, store.PipelineStepQuery{ExecutionID: e3.ID, Descending: true, Limit: 2})
		if err != nil || len(steps) != 2 || steps[0].Name != "Wait" || steps[1].Name != "Other" {
			t.Fatalf("list steps: %+v, %v", steps, err)
		}
		more, _ := s.ListPipelineSteps(ctx, store.PipelineStepQuery{ExecutionID: e3.ID, Descending: true, AfterID: steps[1].ID})
		if len(more) != 1 || more[0].Name != "Prep" {
			t.Fatalf("second page of steps: %+v", more)
		}

		plTx(t, s, func(tx *store.Tx) error { return tx.DeletePipeline(ctx, p.ID) })
		if _, err := s.PipelineExecution(ctx, e1.ARN); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("execution after pipeline deletion: %v", err)
		}
		if all, _ := s.PipelineSteps(ctx, e3.ID); len(all) != 0 {
			t.Fatalf("steps after pipeline deletion: %d", len(all))
		}
	})
}

func TestLatestEventID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id, err := s.LatestEventID(ctx)
		if err != nil || id != 0 {
			t.Fatalf("empty outbox: %d, %v", id, err)
		}
		for range 3 {
			plTx(t, s, func(tx *store.Tx) error {
				return tx.AppendEvent(ctx, store.Event{Source: "test", DetailType: "x", Detail: json.RawMessage(`{}`)})
			})
		}
		id, _ = s.LatestEventID(ctx)
		evs, _ := s.EventsAfter(ctx, 0, 10)
		if len(evs) != 3 || id != evs[2].ID {
			t.Fatalf("LatestEventID = %d, events %+v", id, evs)
		}
	})
}

func TestCacheHitsDoNotRenewTheWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		p := plNew("Cache", now)
		plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipeline(ctx, p) })
		ran := plNewExecution(p, "aaaaaaaaaaaa", now)
		hit := plNewExecution(p, "bbbbbbbbbbbb", now.Add(time.Hour))
		for _, e := range []*store.PipelineExecution{ran, hit} {
			plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipelineExecution(ctx, e) })
		}
		rows := []*store.PipelineStep{
			{ExecutionID: ran.ID, PipelineID: p.ID, Name: "Prep", Type: "Processing", Status: "Succeeded", CacheKey: "k",
				FirstStartedAt: now, StartedAt: now, EndedAt: now.Add(time.Minute), UpdatedAt: now},
			{ExecutionID: hit.ID, PipelineID: p.ID, Name: "Prep", Type: "Processing", Status: "Succeeded", CacheKey: "k", CacheSource: ran.ARN,
				FirstStartedAt: now, StartedAt: now, EndedAt: now.Add(time.Hour), UpdatedAt: now},
		}
		for _, r := range rows {
			plTx(t, s, func(tx *store.Tx) error { return tx.InsertPipelineStep(ctx, r) })
		}
		_, src, err := s.CachedPipelineStep(ctx, p.ID, "Prep", "k", time.Time{})
		if err != nil || src != ran.ARN {
			t.Fatalf("cache source = %s, %v; want the run, not the hit", src, err)
		}
		if _, _, err := s.CachedPipelineStep(ctx, p.ID, "Prep", "k", now.Add(30*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a hit renewed the window: %v", err)
		}
	})
}

func TestLeadIsExclusiveOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	open := func() *store.Store {
		s, err := store.Open(ctx, dsn, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	first, err := a.Lead(ctx, "pipelines", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *store.Lease, 1)
	go func() {
		l, err := b.Lead(ctx, "pipelines", 50*time.Millisecond)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("a second server took the lead while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	other, err := b.Lead(ctx, "another-controller", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	other.Release()
	first.Release()
	select {
	case l := <-got:
		if l.Context().Err() != nil {
			t.Error("the new lease is already over")
		}
		l.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("the second server did not take the lead after the first released it")
	}
}

func TestLeadOnSQLiteIsImmediate(t *testing.T) {
	s := storetest.SQLite(t)
	l, err := s.Lead(context.Background(), "pipelines", time.Second)
	if err != nil || l.Context().Err() != nil {
		t.Fatalf("lead: %v", err)
	}
	l.Release()
	if l.Context().Err() == nil {
		t.Error("a released lease's context is not done")
	}
}
