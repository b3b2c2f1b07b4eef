package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

func newJob(kind, name string, created time.Time) *store.Job {
	return &store.Job{
		Kind: kind, Name: name, ARN: "arn:aws:sagemaker:us-east-1:000000000000:" + kind + "-job/" + name,
		Status: "InProgress", SecondaryStatus: "Starting", Phase: store.JobQueued,
		Spec: json.RawMessage(`{"Name":"` + name + `"}`), CreatedAt: created, UpdatedAt: created,
	}
}

func insertJob(t *testing.T, s *store.Store, j *store.Job) {
	t.Helper()
	if err := s.InTx(context.Background(), func(tx *store.Tx) error { return tx.InsertJob(context.Background(), j) }); err != nil {
		t.Fatalf("insert %s: %v", j.Name, err)
	}
}

func TestJobInsertReadUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		j := newJob("training", "Train-1", now)
		insertJob(t, s, j)
		if j.ID == 0 {
			t.Fatal("InsertJob did not set the ID")
		}
		dup := newJob("training", "Train-1", now)
		err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertJob(ctx, dup) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate ARN: got %v, want ErrConflict", err)
		}
		got, err := s.Job(ctx, j.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Train-1" || got.Phase != store.JobQueued || string(got.Spec) != `{"Name":"Train-1"}` || string(got.Transitions) != "[]" || !got.CreatedAt.Equal(now) {
			t.Fatalf("read back %+v", got)
		}
		err = s.InTx(ctx, func(tx *store.Tx) error {
			j, err := tx.JobForUpdate(ctx, got.ARN)
			if err != nil {
				return err
			}
			j.Status, j.SecondaryStatus, j.Phase, j.StopRequested = "Stopping", "Stopping", store.JobRunning, true
			j.FailureReason, j.PID, j.Result = "because", 4242, json.RawMessage(`{"a":1}`)
			j.EndedAt = now.Add(time.Second)
			return tx.UpdateJob(ctx, &j)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = s.Job(ctx, j.ARN)
		if got.Status != "Stopping" || !got.StopRequested || got.PID != 4242 || got.FailureReason != "because" || string(got.Result) != `{"a":1}` || !got.EndedAt.Equal(now.Add(time.Second)) {
			t.Fatalf("after update %+v", got)
		}
		if _, err := s.Job(ctx, "arn:nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing job: %v", err)
		}
		named, err := s.JobsNamed(ctx, "train-1")
		if err != nil || len(named) != 1 {
			t.Fatalf("JobsNamed = %d, %v", len(named), err)
		}
		exists, err := s.ResourceExists(ctx, "training-job", j.ARN)
		if err != nil || !exists {
			t.Fatalf("ResourceExists = %v, %v", exists, err)
		}
	})
}

func TestJobClaimIsExclusive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Now()
		for i := range 10 {
			insertJob(t, s, newJob("processing", fmt.Sprintf("p%d", i), base.Add(time.Duration(i))))
		}
		var mu sync.Mutex
		claimed := map[string]string{}
		var wg sync.WaitGroup
		for w := range 4 {
			owner := fmt.Sprintf("runner-%d", w)
			wg.Go(func() {
				for {
					var got []store.Job
					err := s.InTx(ctx, func(tx *store.Tx) error {
						var err error
						got, err = tx.ClaimJobs(ctx, owner, 2, time.Now())
						return err
					})
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, j := range got {
						if prev, dup := claimed[j.Name]; dup {
							t.Errorf("%s claimed by %s and %s", j.Name, prev, owner)
						}
						claimed[j.Name] = owner
						if j.Attempt != 1 || j.Owner != owner || j.Phase != store.JobRunning {
							t.Errorf("claimed row %+v", j)
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != 10 {
			t.Fatalf("claimed %d of 10 jobs", len(claimed))
		}
		running, err := s.JobsInPhase(ctx, store.JobRunning)
		if err != nil || len(running) != 10 {
			t.Fatalf("running = %d, %v", len(running), err)
		}
		later := time.Now().Add(time.Minute)
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.HeartbeatJobs(ctx, "runner-0", later) }); err != nil {
			t.Fatal(err)
		}
		running, _ = s.JobsInPhase(ctx, store.JobRunning)
		for _, j := range running {
			if beat := j.HeartbeatAt.Equal(later); beat != (j.Owner == "runner-0") {
				t.Errorf("heartbeat of %s (owner %s) = %v", j.Name, j.Owner, j.HeartbeatAt)
			}
		}
	})
}

func TestListJobsFiltersSortsAndPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		names := []string{"delta", "alpha", "charlie", "bravo", "echo"}
		for i, n := range names {
			j := newJob("training", n, base.Add(time.Duration(i)*time.Minute))
			if i%2 == 1 {
				j.Status = "Completed"
			}
			insertJob(t, s, j)
		}
		insertJob(t, s, newJob("processing", "alpha", base))

		page := func(q store.JobQuery) []string {
			t.Helper()
			var out []string
			for {
				jobs, err := s.ListJobs(ctx, q)
				if err != nil {
					t.Fatalf("ListJobs: %v", err)
				}
				for _, j := range jobs {
					out = append(out, j.Name)
				}
				if len(jobs) < q.Limit {
					return out
				}
				last := jobs[len(jobs)-1]
				q.After = &store.JobCursor{Sort: store.JobSortValue(last, q.SortBy), ID: last.ID}
			}
		}
		cases := []struct {
			name string
			q    store.JobQuery
			want string
		}{
			{"by creation", store.JobQuery{Kind: "training", Limit: 2}, "[delta alpha charlie bravo echo]"},
			{"by creation descending", store.JobQuery{Kind: "training", Descending: true, Limit: 2}, "[echo bravo charlie alpha delta]"},
			{"by name", store.JobQuery{Kind: "training", SortBy: store.JobSortName, Limit: 3}, "[alpha bravo charlie delta echo]"},
			{"by name descending", store.JobQuery{Kind: "training", SortBy: store.JobSortName, Descending: true, Limit: 1}, "[echo delta charlie bravo alpha]"},
			{"by status", store.JobQuery{Kind: "training", SortBy: store.JobSortStatus, Limit: 2}, "[alpha bravo delta charlie echo]"},
			{"status filter", store.JobQuery{Kind: "training", Status: "Completed", Limit: 10}, "[alpha bravo]"},
			{"name contains, any case", store.JobQuery{Kind: "training", NameContains: "LpH", Limit: 10}, "[alpha]"},
			{"created window", store.JobQuery{Kind: "training", CreatedAfter: base, CreatedBefore: base.Add(3 * time.Minute), Limit: 10}, "[alpha charlie]"},
			{"modified window", store.JobQuery{Kind: "training", ModifiedAfter: base.Add(3 * time.Minute), Limit: 10}, "[echo]"},
			{"other kind", store.JobQuery{Kind: "processing", Limit: 10}, "[alpha]"},
			{"every kind", store.JobQuery{NameContains: "alpha", Limit: 10}, "[alpha alpha]"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := fmt.Sprint(page(c.q)); got != c.want {
					t.Errorf("got %s, want %s", got, c.want)
				}
			})
		}
	})
}
