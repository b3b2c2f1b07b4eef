package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

func TestDeploymentRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 5_000_000).UTC()
		arn := "arn:aws:sagemaker:us-east-1:000000000000:endpoint/shop"
		insert := func(d *store.Deployment) error {
			return s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertDeployment(ctx, d) })
		}
		first := store.Deployment{EndpointID: 7, EndpointARN: arn, EndpointName: "shop", Generation: 2, Status: "InProgress", StartedAt: now,
			Record: json.RawMessage(`{"Strategy":"CANARY"}`)}
		if err := insert(&first); err != nil || first.ID == 0 {
			t.Fatalf("insert: id %d, %v", first.ID, err)
		}
		dup := first
		if err := insert(&dup); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second deployment of one generation: %v, want ErrConflict", err)
		}
		// The same name recreated is another endpoint row: its generations start again.
		again := first
		again.EndpointID = 9
		if err := insert(&again); err != nil {
			t.Fatalf("recreated endpoint: %v", err)
		}

		first.Status, first.EndedAt, first.Record = "RolledBack", now.Add(time.Minute), json.RawMessage(`{"Strategy":"CANARY","Outcome":"RolledBack"}`)
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.UpdateDeployment(ctx, first) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.DeploymentOf(ctx, 7, 2)
		if err != nil || got.Status != "RolledBack" || !got.EndedAt.Equal(now.Add(time.Minute)) || !got.StartedAt.Equal(now) ||
			string(got.Record) != `{"Strategy":"CANARY","Outcome":"RolledBack"}` || got.EndpointName != "shop" {
			t.Fatalf("DeploymentOf: %+v, %v", got, err)
		}
		if _, err := s.DeploymentOf(ctx, 7, 3); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing generation: %v", err)
		}
		if d, err := s.Deployment(ctx, again.ID); err != nil || d.EndpointID != 9 {
			t.Fatalf("Deployment by id: %+v, %v", d, err)
		}
		list, err := s.Deployments(ctx, arn, 0, 10)
		if err != nil || len(list) != 2 || list[0].ID != again.ID || list[1].ID != first.ID {
			t.Fatalf("Deployments newest first: %+v, %v", list, err)
		}
		if list, _ := s.Deployments(ctx, arn, again.ID, 10); len(list) != 1 || list[0].ID != first.ID {
			t.Fatalf("second page: %+v", list)
		}
		if list, _ := s.Deployments(ctx, arn, 0, 1); len(list) != 1 {
			t.Fatalf("limit: %d rows", len(list))
		}
		missing := store.Deployment{ID: 12345, Status: "x"}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.UpdateDeployment(ctx, missing) }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a missing row: %v", err)
		}
	})
}
