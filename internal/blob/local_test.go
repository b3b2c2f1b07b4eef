package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func newLocal(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func TestLocalLayoutAndImplicitBuckets(t *testing.T) {
	l, dir := newLocal(t)
	u := MustParseURI("s3://sagemaker-us-east-1/abalone/train/train.csv")
	put(t, l, u, "1,2,3\n")
	// Bucket b, key k is the file <root>/b/k.
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sagemaker-us-east-1", "abalone", "train", "train.csv"))
	if err != nil || string(b) != "1,2,3\n" {
		t.Fatalf("file = %q, %v", b, err)
	}
	if l.Dir() != filepath.Join(dir, "blobs") {
		t.Fatalf("Dir = %s", l.Dir())
	}
	// The bucket was created by the Put; an empty bucket lists nothing.
	if err := EnsureBucket(t.Context(), l, "empty-bucket"); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, l, URI{Bucket: "empty-bucket"}); len(keys) != 0 {
		t.Fatalf("List = %v", keys)
	}
	// Deleting the last object prunes its folders but keeps the bucket.
	if err := l.Delete(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sagemaker-us-east-1"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("bucket folder after Delete: %v, %v", entries, err)
	}
}

func TestLocalSymlinksCannotEscape(t *testing.T) {
	l, dir := newLocal(t)
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	put(t, l, URI{Bucket: "bkt", Key: "ok"}, "fine")
	bucketDir := filepath.Join(dir, "blobs", "bkt")
	// Someone with access to the data folder plants links that point out of it.
	if err := os.Symlink(secret, filepath.Join(bucketDir, "abs-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../secret.txt", filepath.Join(bucketDir, "rel-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(bucketDir, "dir-link")); err != nil {
		t.Fatal(err)
	}
	// Links are not objects: List ignores them.
	if keys := listKeys(t, l, URI{Bucket: "bkt"}); !slices.Equal(keys, []string{"ok"}) {
		t.Fatalf("List = %v, want only ok", keys)
	}
	for _, key := range []string{"abs-link", "rel-link", "dir-link/secret.txt"} {
		if rc, err := l.Get(t.Context(), URI{Bucket: "bkt", Key: key}); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Fatalf("Get %s read %q through a link out of the root", key, b)
		}
		if _, err := l.Stat(t.Context(), URI{Bucket: "bkt", Key: key}); err == nil {
			t.Fatalf("Stat %s followed a link out of the root", key)
		}
	}
	// A Put through a folder link is refused; a Put onto a link replaces the link itself (rename
	// does not follow it), so the file outside never changes.
	if err := l.Put(t.Context(), URI{Bucket: "bkt", Key: "dir-link/secret.txt"}, strings.NewReader("overwrite"), 9); err == nil {
		t.Fatal("Put wrote through a folder link out of the root")
	}
	put(t, l, URI{Bucket: "bkt", Key: "abs-link"}, "replaced")
	if fi, err := os.Lstat(filepath.Join(bucketDir, "abs-link")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("abs-link after Put: %v, %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "top secret" {
		t.Fatalf("the file outside the root changed: %q", b)
	}
}

func TestLocalTemporaryFiles(t *testing.T) {
	l, dir := newLocal(t)
	put(t, l, URI{Bucket: "bkt", Key: "a/obj"}, "x")
	// A crash during a Put leaves a temporary file; it is never listed.
	stale := filepath.Join(dir, "blobs", "bkt", "a", tempPrefix+"deadbeef")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, l, URI{Bucket: "bkt"}); !slices.Equal(keys, []string{"a/obj"}) {
		t.Fatalf("List = %v", keys)
	}
	// Reserved names are refused.
	err := l.Put(t.Context(), URI{Bucket: "bkt", Key: "a/" + tempPrefix + "x"}, strings.NewReader("x"), 1)
	if !errors.Is(err, ErrInvalidURI) {
		t.Fatalf("Put of a reserved name = %v", err)
	}
	// Failed Puts clean up after themselves.
	l.Put(t.Context(), URI{Bucket: "bkt", Key: "a/obj"}, strings.NewReader("short"), 100)
	l.Put(t.Context(), URI{Bucket: "bkt", Key: "a/obj"}, &failingReader{n: 10}, -1)
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "bkt", "a"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{tempPrefix + "deadbeef", "obj"}) {
		t.Fatalf("folder holds %v after failed Puts", names)
	}
}

func TestLocalObjectFolderConflicts(t *testing.T) {
	l, _ := newLocal(t)
	put(t, l, URI{Bucket: "bkt", Key: "a"}, "object a")
	err := l.Put(t.Context(), URI{Bucket: "bkt", Key: "a/b"}, strings.NewReader("x"), 1)
	if err == nil || !strings.Contains(err.Error(), "cannot hold both") {
		t.Fatalf("Put a/b over object a = %v", err)
	}
	put(t, l, URI{Bucket: "bkt", Key: "d/e"}, "x")
	err = l.Put(t.Context(), URI{Bucket: "bkt", Key: "d"}, strings.NewReader("x"), 1)
	if err == nil || !strings.Contains(err.Error(), "cannot hold both") {
		t.Fatalf("Put d over folder d = %v", err)
	}
	// Neither failure disturbed what was there.
	if got := get(t, l, URI{Bucket: "bkt", Key: "a"}); got != "object a" {
		t.Fatalf("a = %q", got)
	}
	if keys := listKeys(t, l, URI{Bucket: "bkt"}); !slices.Equal(keys, []string{"a", "d/e"}) {
		t.Fatalf("List = %v", keys)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "local default", cfg: Config{LocalRoot: "ROOT", Buckets: []string{"sluice-artifacts"}}},
		{name: "local explicit", cfg: Config{Backend: "local", LocalRoot: "ROOT"}},
		{name: "local without root", cfg: Config{}, wantErr: "LocalRoot is required"},
		{name: "unknown backend", cfg: Config{Backend: "gcs"}, wantErr: `Backend "gcs"`},
		{name: "s3 without endpoint", cfg: Config{Backend: "s3"}, wantErr: "Endpoint is required"},
		{name: "bad default bucket", cfg: Config{LocalRoot: "ROOT", Buckets: []string{"Bad_Bucket"}}, wantErr: "Buckets"},
		{name: "s3", cfg: Config{Backend: "s3", S3: S3Config{Endpoint: "http://127.0.0.1:1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.LocalRoot == "ROOT" {
				tt.cfg.LocalRoot = filepath.Join(t.TempDir(), "blobs")
			}
			s, err := Open(t.Context(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := s.(io.Closer); ok {
				defer c.Close()
			}
			for _, b := range tt.cfg.Buckets {
				if err := s.List(t.Context(), URI{Bucket: b}, func(ObjectInfo) error { return nil }); err != nil {
					t.Fatalf("bucket %s was not created: %v", b, err)
				}
			}
		})
	}
	// Buckets are ensured against the server: an unreachable one fails Open.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := Open(ctx, Config{Backend: "s3", S3: S3Config{Endpoint: "http://127.0.0.1:1"}, Buckets: []string{"sluice"}}); err == nil {
		t.Fatal("Open with an unreachable S3 server and a bucket to ensure succeeded")
	}
}

// TestLocalPutFileLinks: the local store keeps the file itself, not a copy, when it can.
func TestLocalPutFileLinks(t *testing.T) {
	dir := t.TempDir()
	l, err := NewLocal(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	src := filepath.Join(dir, "log")
	if err := os.WriteFile(src, []byte("done\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.PutFile(t.Context(), URI{Bucket: "logs", Key: "a/b.log"}, src); err != nil {
		t.Fatal(err)
	}
	fs, err1 := os.Stat(src)
	fo, err2 := os.Stat(filepath.Join(dir, "artifacts", "logs", "a", "b.log"))
	if err1 != nil || err2 != nil || !os.SameFile(fs, fo) {
		t.Fatalf("the object is not the file itself (%v, %v)", err1, err2)
	}
	// Storing the same file again (a job retried after a crash) leaves nothing behind.
	if err := l.PutFile(t.Context(), URI{Bucket: "logs", Key: "a/b.log"}, src); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "artifacts", "logs", "a"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("the folder holds %v (%v), want only b.log", entries, err)
	}
}
