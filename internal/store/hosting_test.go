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

func TestHostingDocuments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Unix(1700000000, 0)
		for i, name := range []string{"beta", "Alpha", "gamma"} {
			d := store.HostingDoc{ARN: "arn:model/" + name, Name: name, CreatedAt: base.Add(time.Duration(i) * time.Second), Spec: json.RawMessage(`{"n":` + fmt.Sprint(i) + `}`)}
			if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertModel(ctx, &d) }); err != nil {
				t.Fatal(err)
			}
			if d.ID == 0 {
				t.Fatal("InsertModel did not set the ID")
			}
		}
		dup := store.HostingDoc{ARN: "arn:model/beta", Name: "beta", CreatedAt: base, Spec: json.RawMessage(`{}`)}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertModel(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate model: %v", err)
		}
		got, err := s.Model(ctx, "arn:model/gamma")
		if err != nil || got.Name != "gamma" || string(got.Spec) != `{"n":2}` || !got.CreatedAt.Equal(base.Add(2*time.Second)) {
			t.Fatalf("Model = %+v, %v", got, err)
		}
		if _, err := s.Model(ctx, "arn:model/none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing model: %v", err)
		}

		tests := []struct {
			name string
			q    store.HostingQuery
			want []string
		}{
			{"by creation", store.HostingQuery{}, []string{"beta", "Alpha", "gamma"}},
			{"by creation descending", store.HostingQuery{Descending: true}, []string{"gamma", "Alpha", "beta"}},
			{"by name", store.HostingQuery{SortBy: store.EndpointsByName}, []string{"Alpha", "beta", "gamma"}},
			{"name contains, any case", store.HostingQuery{NameContains: "AL"}, []string{"Alpha"}},
			{"created after", store.HostingQuery{CreatedAfter: base}, []string{"Alpha", "gamma"}},
			{"limit", store.HostingQuery{Limit: 2}, []string{"beta", "Alpha"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				docs, err := s.ListModels(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if names := docNames(docs); fmt.Sprint(names) != fmt.Sprint(tc.want) {
					t.Fatalf("got %v, want %v", names, tc.want)
				}
			})
		}
		first, _ := s.ListModels(ctx, store.HostingQuery{SortBy: store.EndpointsByName, Limit: 1})
		c := first[0].SortKey(true)
		rest, err := s.ListModels(ctx, store.HostingQuery{SortBy: store.EndpointsByName, After: &c})
		if err != nil || fmt.Sprint(docNames(rest)) != "[beta gamma]" {
			t.Fatalf("page 2 = %v, %v", docNames(rest), err)
		}

		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteModel(ctx, "arn:model/beta") }); err != nil {
			t.Fatal(err)
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteModel(ctx, "arn:model/beta") }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if ok, _ := s.ResourceExists(ctx, "model", "arn:model/gamma"); !ok {
			t.Fatal("ResourceExists(model) = false")
		}
	})
}

func docNames(docs []store.HostingDoc) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.Name)
	}
	return out
}

func TestEndpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Unix(1700000000, 0)
		cfg := store.HostingDoc{ARN: "arn:endpoint-config/c1", Name: "c1", CreatedAt: now, Spec: json.RawMessage(`{}`)}
		ep := store.Endpoint{ARN: "arn:endpoint/e1", Name: "e1", ConfigName: "c1", DesiredConfigName: "c1", Status: "Creating",
			Generation: 1, CreatedAt: now, ModifiedAt: now, State: json.RawMessage(`{"v":1}`)}
		err := s.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.InsertEndpointConfig(ctx, &cfg); err != nil {
				return err
			}
			return tx.InsertEndpoint(ctx, &ep)
		})
		if err != nil {
			t.Fatal(err)
		}
		var using string
		s.InTx(ctx, func(tx *store.Tx) error {
			using, err = tx.EndpointUsingConfig(ctx, "c1")
			return err
		})
		if using != "e1" {
			t.Fatalf("EndpointUsingConfig = %q, %v", using, err)
		}
		err = s.InTx(ctx, func(tx *store.Tx) error {
			cur, err := tx.LockEndpoint(ctx, ep.ARN)
			if err != nil {
				return err
			}
			cur.Status, cur.Generation, cur.DesiredConfigName, cur.State = "Updating", 2, "c2", json.RawMessage(`{"v":2}`)
			cur.ModifiedAt = now.Add(time.Minute)
			return tx.UpdateEndpoint(ctx, cur)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Endpoint(ctx, ep.ARN)
		if err != nil || got.Status != "Updating" || got.Generation != 2 || got.DesiredConfigName != "c2" || string(got.State) != `{"v":2}` || !got.ModifiedAt.Equal(now.Add(time.Minute)) {
			t.Fatalf("Endpoint = %+v, %v", got, err)
		}
		for _, q := range []store.HostingQuery{{Status: "Updating"}, {SortBy: store.EndpointsByStatus}, {ModifiedAfter: now}} {
			list, err := s.ListEndpoints(ctx, q)
			if err != nil || len(list) != 1 || list[0].Name != "e1" {
				t.Fatalf("ListEndpoints(%+v) = %v, %v", q, list, err)
			}
		}
		if list, _ := s.ListEndpoints(ctx, store.HostingQuery{Status: "InService"}); len(list) != 0 {
			t.Fatalf("status filter kept %d endpoints", len(list))
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteEndpoint(ctx, got.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Endpoint(ctx, ep.ARN); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}
