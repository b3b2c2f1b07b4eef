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

func TestAlarmRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 123_456_000).UTC()
		a := store.AlarmRow{Name: "Latency-High", ARN: "arn:aws:cloudwatch:us-east-1:000000000000:alarm:Latency-High",
			Spec: json.RawMessage(`{"Threshold":1}`), StateValue: "INSUFFICIENT_DATA", StateReason: "Unchecked: Initial alarm creation",
			StateUpdatedAt: now, StateTransitionedAt: now, ConfigUpdatedAt: now, CreatedAt: now}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertAlarm(ctx, &a) }); err != nil || a.ID == 0 {
			t.Fatalf("insert: id %d, %v", a.ID, err)
		}
		dup := a
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertAlarm(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: %v, want ErrConflict", err)
		}
		// Names are case-sensitive, as in CloudWatch.
		other := a
		other.Name = "latency-high"
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertAlarm(ctx, &other) }); err != nil {
			t.Fatalf("name differing in case: %v", err)
		}

		later := now.Add(time.Minute)
		err := s.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.UpdateAlarmSpec(ctx, a.Name, json.RawMessage(`{"Threshold":2}`), later); err != nil {
				return err
			}
			return tx.UpdateAlarmState(ctx, a.Name, "ALARM", "Threshold Crossed", `{"version":"1.0"}`, later, later)
		})
		if err != nil {
			t.Fatal(err)
		}
		var got store.AlarmRow
		if err := s.InTx(ctx, func(tx *store.Tx) (err error) { got, err = tx.LockAlarm(ctx, a.Name); return }); err != nil {
			t.Fatal(err)
		}
		if string(got.Spec) != `{"Threshold":2}` || got.StateValue != "ALARM" || got.StateReasonData != `{"version":"1.0"}` ||
			!got.ConfigUpdatedAt.Equal(later) || !got.StateTransitionedAt.Equal(later) || !got.CreatedAt.Equal(now) {
			t.Fatalf("after update: %+v", got)
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.UpdateAlarmState(ctx, "ghost", "OK", "", "", now, now) }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing alarm: %v", err)
		}
		all, err := s.Alarms(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "Latency-High" || all[1].Name != "latency-high" {
			t.Fatalf("list: %v %+v", err, all)
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteAlarm(ctx, a.Name) }); err != nil {
			t.Fatal(err)
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteAlarm(ctx, a.Name) }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestAlarmHistoryPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Unix(1_800_000_000, 0).UTC()
		// Two entries share each timestamp, so paging must break ties on id.
		err := s.InTx(ctx, func(tx *store.Tx) error {
			for i := 0; i < 10; i++ {
				for _, name := range []string{"a", "b"} {
					typ := "StateUpdate"
					if i%3 == 0 {
						typ = "ConfigurationUpdate"
					}
					h := store.AlarmHistoryRow{AlarmName: name, AlarmType: "MetricAlarm", Time: base.Add(time.Duration(i) * time.Second),
						ItemType: typ, Summary: fmt.Sprintf("%s %d", name, i), Data: "{}"}
					if err := tx.InsertAlarmHistory(ctx, &h); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		collect := func(q store.AlarmHistoryQuery) []string {
			var out []string
			for {
				page, err := s.AlarmHistory(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range page {
					out = append(out, h.Summary)
				}
				if len(page) < q.Limit {
					return out
				}
				last := page[len(page)-1]
				q.After = &store.AlarmHistoryCursor{Time: last.Time, ID: last.ID}
			}
		}
		cases := []struct {
			name string
			q    store.AlarmHistoryQuery
			want int
			head string
		}{
			{"all newest first", store.AlarmHistoryQuery{Limit: 3}, 20, "b 9"},
			{"all oldest first", store.AlarmHistoryQuery{Limit: 3, Ascending: true}, 20, "a 0"},
			{"one alarm", store.AlarmHistoryQuery{AlarmName: "a", Limit: 4}, 10, "a 9"},
			{"by type", store.AlarmHistoryQuery{AlarmName: "b", ItemType: "ConfigurationUpdate", Limit: 2}, 4, "b 9"},
			{"time range", store.AlarmHistoryQuery{AlarmName: "a", Start: base.Add(2 * time.Second), End: base.Add(4 * time.Second), Limit: 5, Ascending: true}, 3, "a 2"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := collect(c.q)
				if len(got) != c.want || got[0] != c.head {
					t.Fatalf("got %d entries starting %q: %v; want %d starting %q", len(got), got[0], got, c.want, c.head)
				}
				seen := map[string]bool{}
				for _, g := range got {
					if seen[g] {
						t.Fatalf("entry %q listed twice: %v", g, got)
					}
					seen[g] = true
				}
			})
		}
		var n int64
		if err := s.InTx(ctx, func(tx *store.Tx) (err error) { n, err = tx.PruneAlarmHistory(ctx, base.Add(5*time.Second)); return }); err != nil || n != 10 {
			t.Fatalf("prune: %d, %v; want 10", n, err)
		}
	})
}
