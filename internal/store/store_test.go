package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

func TestAccessKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := store.AccessKey{AccessKeyID: "AKIATEST", Secret: "s3cret", Name: "alice", Root: true, CreatedAt: time.Now()}
		if err := s.CreateAccessKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccessKey(ctx, k); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate key: got %v, want ErrConflict", err)
		}
		got, err := s.AccessKey(ctx, "AKIATEST")
		if err != nil || got.Secret != "s3cret" || !got.Root || got.Name != "alice" {
			t.Fatalf("AccessKey = %+v, %v", got, err)
		}
		if err := s.DeleteAccessKey(ctx, "AKIATEST"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AccessKey(ctx, "AKIATEST"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteAccessKey(ctx, "AKIATEST"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestOutboxCommitsWithTheChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		changed := s.Changed()
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.AppendEvent(ctx, store.Event{Source: "test", DetailType: "rolled back", Detail: json.RawMessage(`{}`)}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		evs, _ := s.EventsAfter(ctx, 0, 10)
		if len(evs) != 0 {
			t.Fatalf("a rolled-back transaction left %d events", len(evs))
		}
		for i := 0; i < 3; i++ {
			if err := s.InTx(ctx, func(tx *store.Tx) error {
				return tx.AppendEvent(ctx, store.Event{Source: "test", DetailType: "kept", Resources: []string{"arn:x"}, Detail: json.RawMessage(`{"n":1}`)})
			}); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-changed:
		default:
			t.Fatal("Changed channel not closed after an event commit")
		}
		evs, err = s.EventsAfter(ctx, 0, 10)
		if err != nil || len(evs) != 3 {
			t.Fatalf("EventsAfter = %d events, %v", len(evs), err)
		}
		rest, _ := s.EventsAfter(ctx, evs[0].ID, 10)
		if len(rest) != 2 || rest[0].ID != evs[1].ID || rest[0].Resources[0] != "arn:x" {
			t.Fatalf("cursor paging: %+v", rest)
		}
	})
}

func TestConcurrentTransactions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.InTx(ctx, func(tx *store.Tx) error {
					return tx.AppendEvent(ctx, store.Event{Source: "test", DetailType: "n", Detail: json.RawMessage(`{}`)})
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		evs, _ := s.EventsAfter(ctx, 0, 100)
		if len(evs) != 40 {
			t.Fatalf("got %d events, want 40", len(evs))
		}
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		s, err := store.Open(context.Background(), "", dir, nil)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		s.Close()
	}
}
