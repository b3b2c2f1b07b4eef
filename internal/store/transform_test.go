package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

func TestTransformFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0).UTC()
		arn := "arn:aws:sagemaker:us-east-1:000000000000:transform-job/t1"
		files := []store.TransformFile{
			{JobARN: arn, Seq: 1, InputURI: "s3://in/b.csv", OutputURI: "s3://out/b.csv.out", Size: 20, Status: store.TransformFilePending, UpdatedAt: now},
			{JobARN: arn, Seq: 0, InputURI: "s3://in/a.csv", OutputURI: "s3://out/a.csv.out", Size: 10, Status: store.TransformFilePending, UpdatedAt: now},
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertTransformFiles(ctx, files) }); err != nil {
			t.Fatal(err)
		}
		dup := []store.TransformFile{{JobARN: arn, Seq: 0, InputURI: "s3://in/x", OutputURI: "s3://out/x.out", Status: store.TransformFilePending, UpdatedAt: now}}
		err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertTransformFiles(ctx, dup) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate seq: err = %v, want ErrConflict", err)
		}
		other := []store.TransformFile{{JobARN: arn + "x", Seq: 0, InputURI: "s3://in/x", OutputURI: "s3://out/x.out", Status: store.TransformFilePending, UpdatedAt: now}}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertTransformFiles(ctx, other) }); err != nil {
			t.Fatal(err)
		}

		got, err := s.TransformFiles(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].InputURI != "s3://in/a.csv" || got[1].InputURI != "s3://in/b.csv" {
			t.Fatalf("files = %+v, want a.csv then b.csv", got)
		}

		f := got[1]
		f.Status, f.Records, f.BytesRead, f.Error = store.TransformFileFailed, 7, 15, "line 8: bad"
		f.StartedAt, f.UpdatedAt = now.Add(time.Second), now.Add(2*time.Second)
		if err := s.UpdateTransformFile(ctx, &f); err != nil {
			t.Fatal(err)
		}
		got, _ = s.TransformFiles(ctx, arn)
		g := got[1]
		if g.Status != store.TransformFileFailed || g.Records != 7 || g.BytesRead != 15 || g.Error != "line 8: bad" ||
			!g.StartedAt.Equal(f.StartedAt) || !g.UpdatedAt.Equal(f.UpdatedAt) || g.Size != 20 {
			t.Fatalf("after update: %+v", g)
		}
		missing := store.TransformFile{ID: 99999, Status: store.TransformFileDone}
		if err := s.UpdateTransformFile(ctx, &missing); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a missing file: err = %v, want ErrNotFound", err)
		}
	})
}
