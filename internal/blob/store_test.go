package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend builds a fresh store and an existing, empty bucket in it for one test.
type backend struct {
	name string
	open func(tb testing.TB) (Store, string)
}

// backends returns the stores that the conformance suite runs against: Local always, S3 when
// SLUICE_TEST_S3 points at a server (see s3_test.go).
func backends(tb testing.TB) []backend {
	bs := []backend{{name: "local", open: openLocalForTest}}
	if cfg, ok := s3ConfigFromEnv(tb); ok {
		bs = append(bs, backend{name: "s3", open: func(tb testing.TB) (Store, string) { return openS3ForTest(tb, cfg) }})
	} else {
		tb.Log("SLUICE_TEST_S3 is not set: the conformance suite runs against the local backend only (scripts/s3test.sh runs it against a real S3 server)")
	}
	return bs
}

func openLocalForTest(tb testing.TB) (Store, string) {
	tb.Helper()
	l, err := NewLocal(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	const bucket = "test-bucket"
	if err := l.EnsureBucket(tb.Context(), bucket); err != nil {
		tb.Fatal(err)
	}
	return l, bucket
}

// conformance lists the behaviours every Store must share. Each case gets a fresh bucket.
var conformance = []struct {
	name string
	run  func(t *testing.T, s Store, b string)
}{
	{"put get stat", testPutGetStat},
	{"missing objects and buckets", testMissing},
	{"overwrite", testOverwrite},
	{"list order and prefixes", testListPrefixes},
	{"list stops on error", testListStop},
	{"delete", testDelete},
	{"invalid uris are refused", testInvalidURIs},
	{"short reader fails and keeps old object", testShortReader},
	{"reader never sees a partial overwrite", testAtomicOverwrite},
	{"concurrent puts", testConcurrentPuts},
	{"large object streaming", testLargeObject},
	{"cancelled context", testCancelled},
	{"special characters in keys", testSpecialKeys},
	{"put a local file", testPutFile},
}

func TestStoreConformance(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) {
					s, b := be.open(t)
					c.run(t, s, b)
				})
			}
		})
	}
}

func put(t testing.TB, s Store, u URI, data string) {
	t.Helper()
	if err := s.Put(t.Context(), u, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", u, err)
	}
}

func get(t testing.TB, s Store, u URI) string {
	t.Helper()
	rc, err := s.Get(t.Context(), u)
	if err != nil {
		t.Fatalf("Get %s: %v", u, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return string(b)
}

func listKeys(t testing.TB, s Store, prefix URI) []string {
	t.Helper()
	var keys []string
	err := s.List(t.Context(), prefix, func(oi ObjectInfo) error {
		if oi.URI.Bucket != prefix.Bucket {
			t.Errorf("List %s reported %s in another bucket", prefix, oi.URI)
		}
		keys = append(keys, oi.URI.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", prefix, err)
	}
	return keys
}

func testPutGetStat(t *testing.T, s Store, b string) {
	tests := []struct {
		name string
		key  string
		data string
	}{
		{name: "top level", key: "hello.txt", data: "hello, world\n"},
		{name: "nested", key: "a/b/c/model.tar.gz", data: strings.Repeat("x", 70_000)},
		{name: "empty object", key: "empty", data: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := URI{Bucket: b, Key: tt.key}
			before := time.Now().Add(-2 * time.Second) // servers may truncate to seconds
			put(t, s, u, tt.data)
			if got := get(t, s, u); got != tt.data {
				t.Fatalf("Get = %d bytes, want %d", len(got), len(tt.data))
			}
			oi, err := s.Stat(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			if oi.URI != u || oi.Size != int64(len(tt.data)) {
				t.Fatalf("Stat = %+v, want uri %s size %d", oi, u, len(tt.data))
			}
			if oi.ModTime.Before(before) || oi.ModTime.After(time.Now().Add(2*time.Second)) {
				t.Fatalf("Stat ModTime = %v, want about now", oi.ModTime)
			}
		})
	}
	// Unknown size streams until EOF.
	u := URI{Bucket: b, Key: "unknown-size"}
	if err := s.Put(t.Context(), u, strings.NewReader("streamed"), -1); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, u); got != "streamed" {
		t.Fatalf("Get = %q", got)
	}
}

func testMissing(t *testing.T, s Store, b string) {
	ctx := t.Context()
	cases := []URI{
		{Bucket: b, Key: "nope"},
		{Bucket: b, Key: "no/such/deep/key"},
		{Bucket: "no-such-bucket-sluice", Key: "k"},
	}
	put(t, s, URI{Bucket: b, Key: "file"}, "x")
	put(t, s, URI{Bucket: b, Key: "dir/inner"}, "x")
	cases = append(cases,
		URI{Bucket: b, Key: "file/below-an-object"},
		URI{Bucket: b, Key: "dir"}, // a "folder" is not an object
	)
	for _, u := range cases {
		if _, err := s.Get(ctx, u); !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get %s: err = %v, want ErrNotExist", u, err)
		}
		if _, err := s.Stat(ctx, u); !errors.Is(err, ErrNotExist) {
			t.Errorf("Stat %s: err = %v, want ErrNotExist", u, err)
		}
	}
	err := s.List(ctx, URI{Bucket: "no-such-bucket-sluice"}, func(ObjectInfo) error { return nil })
	if !errors.Is(err, ErrNotExist) {
		t.Errorf("List of a missing bucket: err = %v, want ErrNotExist", err)
	}
	if keys := listKeys(t, s, URI{Bucket: b, Key: "nothing/here/"}); len(keys) != 0 {
		t.Errorf("List of an empty prefix = %v", keys)
	}
}

func testOverwrite(t *testing.T, s Store, b string) {
	u := URI{Bucket: b, Key: "model/model.tar.gz"}
	put(t, s, u, "first version, longer than the second")
	put(t, s, u, "second")
	if got := get(t, s, u); got != "second" {
		t.Fatalf("Get = %q, want the second version", got)
	}
	oi, err := s.Stat(t.Context(), u)
	if err != nil || oi.Size != int64(len("second")) {
		t.Fatalf("Stat = %+v, %v", oi, err)
	}
	if keys := listKeys(t, s, URI{Bucket: b}); !slices.Equal(keys, []string{u.Key}) {
		t.Fatalf("List = %v, want only %s (no temporary files)", keys, u.Key)
	}
}

func testListPrefixes(t *testing.T, s Store, b string) {
	// The keys are chosen so that a naive directory walk would get the order wrong: "a-b" and
	// "a.txt" sort before "a/…" because '-' and '.' are below '/'.
	keys := []string{
		"z", "a/b", "a.txt", "a/c/d", "a-b", "a/c.txt", "data/train.csv", "data/train/x.csv",
		"data/train/y/z.csv", "data/trainer", "data/test.csv", "é/1", "B-upper", "a0",
	}
	for i, k := range keys {
		put(t, s, URI{Bucket: b, Key: k}, strings.Repeat("v", i))
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	tests := []struct {
		prefix string
		want   []string
	}{
		{prefix: "", want: sorted},
		{prefix: "a", want: []string{"a-b", "a.txt", "a/b", "a/c.txt", "a/c/d", "a0"}},
		{prefix: "a/", want: []string{"a/b", "a/c.txt", "a/c/d"}},
		{prefix: "a/c", want: []string{"a/c.txt", "a/c/d"}},
		{prefix: "data/train", want: []string{"data/train.csv", "data/train/x.csv", "data/train/y/z.csv", "data/trainer"}},
		{prefix: "data/train/", want: []string{"data/train/x.csv", "data/train/y/z.csv"}},
		{prefix: "data/t", want: []string{"data/test.csv", "data/train.csv", "data/train/x.csv", "data/train/y/z.csv", "data/trainer"}},
		{prefix: "data/train.csv", want: []string{"data/train.csv"}},
		{prefix: "z", want: []string{"z"}},
		{prefix: "é", want: []string{"é/1"}},
		{prefix: "nope", want: nil},
		{prefix: "data/nope/", want: nil},
		{prefix: "z/", want: nil},
	}
	for _, tt := range tests {
		t.Run("prefix="+tt.prefix, func(t *testing.T) {
			got := listKeys(t, s, URI{Bucket: b, Key: tt.prefix})
			if !slices.Equal(got, tt.want) {
				t.Fatalf("List(%q) =\n  %q\nwant\n  %q", tt.prefix, got, tt.want)
			}
		})
	}
	// Sizes are reported.
	err := s.List(t.Context(), URI{Bucket: b}, func(oi ObjectInfo) error {
		i := slices.Index(keys, oi.URI.Key)
		if oi.Size != int64(i) {
			t.Errorf("List: %s has size %d, want %d", oi.URI.Key, oi.Size, i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListStop(t *testing.T, s Store, b string) {
	for i := range 5 {
		put(t, s, URI{Bucket: b, Key: fmt.Sprintf("k/%d", i)}, "x")
	}
	stop := errors.New("enough")
	calls := 0
	err := s.List(t.Context(), URI{Bucket: b, Key: "k/"}, func(ObjectInfo) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("List = %v after %d calls, want the callback's error after 2", err, calls)
	}
}

func testDelete(t *testing.T, s Store, b string) {
	ctx := t.Context()
	deep := URI{Bucket: b, Key: "x/y/z"}
	put(t, s, deep, "deep")
	put(t, s, URI{Bucket: b, Key: "x/keep"}, "keep")
	if err := s.Delete(ctx, deep); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, deep); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Stat after Delete: %v", err)
	}
	if keys := listKeys(t, s, URI{Bucket: b}); !slices.Equal(keys, []string{"x/keep"}) {
		t.Fatalf("List after Delete = %v", keys)
	}
	// Deleting again, or deleting a key that never existed, is fine.
	if err := s.Delete(ctx, deep); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if err := s.Delete(ctx, URI{Bucket: b, Key: "never/was"}); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	// With x/y/z gone, "x/y" can be an object (the local store prunes the empty folder).
	put(t, s, URI{Bucket: b, Key: "x/y"}, "now an object")
	if got := get(t, s, URI{Bucket: b, Key: "x/y"}); got != "now an object" {
		t.Fatalf("Get x/y = %q", got)
	}
}

func testInvalidURIs(t *testing.T, s Store, b string) {
	ctx := t.Context()
	bad := []URI{
		{Bucket: b, Key: "../../etc/passwd"},
		{Bucket: b, Key: "a/../../../outside"},
		{Bucket: b, Key: "a/./b"},
		{Bucket: b, Key: "/etc/passwd"},
		{Bucket: b, Key: "a//b"},
		{Bucket: b, Key: ""},
		{Bucket: b, Key: "folder/"},
		{Bucket: "..", Key: "etc/passwd"},
		{Bucket: "../" + b, Key: "k"},
		{Bucket: "", Key: "k"},
	}
	for _, u := range bad {
		if err := s.Put(ctx, u, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Put %+v: err = %v, want ErrInvalidURI", u, err)
		}
		if _, err := s.Get(ctx, u); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Get %+v: err = %v, want ErrInvalidURI", u, err)
		}
		if _, err := s.Stat(ctx, u); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Stat %+v: err = %v, want ErrInvalidURI", u, err)
		}
		if err := s.Delete(ctx, u); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Delete %+v: err = %v, want ErrInvalidURI", u, err)
		}
	}
	for _, p := range []URI{{Bucket: b, Key: "../"}, {Bucket: b, Key: "a/../"}, {Bucket: "..", Key: ""}} {
		if err := s.List(ctx, p, func(ObjectInfo) error { return nil }); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("List %+v: err = %v, want ErrInvalidURI", p, err)
		}
	}
	if keys := listKeys(t, s, URI{Bucket: b}); len(keys) != 0 {
		t.Fatalf("refused Puts left objects: %v", keys)
	}
}

// failingReader yields n bytes and then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	for i := range k {
		p[i] = 'n'
	}
	f.n -= k
	return k, nil
}

func testShortReader(t *testing.T, s Store, b string) {
	u := URI{Bucket: b, Key: "obj"}
	put(t, s, u, "old")
	err := s.Put(t.Context(), u, strings.NewReader("12345"), 10)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put with a short reader: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if err := s.Put(t.Context(), u, &failingReader{n: 100}, -1); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if err := s.Put(t.Context(), URI{Bucket: b, Key: "new"}, strings.NewReader("1"), 2); err == nil {
		t.Fatal("Put of a new object with a short reader succeeded")
	}
	if got := get(t, s, u); got != "old" {
		t.Fatalf("after failed Puts, Get = %q, want the old content", got)
	}
	if keys := listKeys(t, s, URI{Bucket: b}); !slices.Equal(keys, []string{"obj"}) {
		t.Fatalf("List = %v, want only obj", keys)
	}
}

func testAtomicOverwrite(t *testing.T, s Store, b string) {
	u := URI{Bucket: b, Key: "model.tar.gz"}
	const size = 1 << 20
	oldData := strings.Repeat("o", size)
	put(t, s, u, oldData)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Put(t.Context(), u, pr, size) }()
	if _, err := pw.Write(bytes.Repeat([]byte("n"), size/2)); err != nil {
		t.Fatal(err)
	}
	// Half of the new content has been handed to Put: readers still see the whole old object.
	for range 3 {
		if got := get(t, s, u); got != oldData {
			t.Fatalf("during the Put, Get returned %d bytes starting %q", len(got), got[:min(len(got), 8)])
		}
	}
	if _, err := pw.Write(bytes.Repeat([]byte("n"), size/2)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, u); got != strings.Repeat("n", size) {
		t.Fatal("after the Put, Get did not return the new content")
	}
}

func testConcurrentPuts(t *testing.T, s Store, b string) {
	ctx := t.Context()
	const writers = 8
	const size = 256 << 10
	same := URI{Bucket: b, Key: "shared/key"}
	var wg sync.WaitGroup
	errs := make(chan error, 4*writers)
	for i := range writers {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte('a' + i)}, size)
			if err := s.Put(ctx, same, bytes.NewReader(data), size); err != nil {
				errs <- err
			}
			own := URI{Bucket: b, Key: fmt.Sprintf("shared/own/%d/obj", i)}
			if err := s.Put(ctx, own, bytes.NewReader(data), size); err != nil {
				errs <- err
			}
		})
		// Readers run alongside and must only ever see one writer's whole object.
		wg.Go(func() {
			for range 5 {
				rc, err := s.Get(ctx, same)
				if errors.Is(err, ErrNotExist) {
					continue // no writer has finished yet
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- err
					return
				}
				if len(got) != size || bytes.Count(got, got[:1]) != size {
					errs <- fmt.Errorf("reader saw a mixed or partial object (%d bytes)", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := get(t, s, same)
	if len(got) != size || strings.Count(got, got[:1]) != size {
		t.Fatal("the final object mixes writers")
	}
	if keys := listKeys(t, s, URI{Bucket: b, Key: "shared/own/"}); len(keys) != writers {
		t.Fatalf("List = %v, want %d objects", keys, writers)
	}
}

// seeded returns a deterministic stream of n pseudo-random bytes, so that large objects need no
// memory in the test.
func seeded(seed byte, n int64) io.Reader {
	var s [32]byte
	s[0] = seed
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sha(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func testLargeObject(t *testing.T, s Store, b string) {
	size := int64(40 << 20) // over two S3 parts of 16 MiB
	if testing.Short() {
		size = 6 << 20
	}
	want := sha(t, seeded(7, size))
	for _, tc := range []struct {
		name string
		size int64
	}{{"known size", size}, {"unknown size", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			u := URI{Bucket: b, Key: "large/" + strings.ReplaceAll(tc.name, " ", "-")}
			if err := s.Put(t.Context(), u, seeded(7, size), tc.size); err != nil {
				t.Fatal(err)
			}
			oi, err := s.Stat(t.Context(), u)
			if err != nil || oi.Size != size {
				t.Fatalf("Stat = %+v, %v; want size %d", oi, err, size)
			}
			rc, err := s.Get(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got := sha(t, rc); got != want {
				t.Fatal("the object read back differs from what was written")
			}
		})
	}
}

func testCancelled(t *testing.T, s Store, b string) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	u := URI{Bucket: b, Key: "cancelled"}
	if err := s.Put(ctx, u, strings.NewReader("data"), 4); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := s.Get(ctx, u); err == nil {
		t.Fatal("Get with a cancelled context succeeded")
	}
	if err := s.List(ctx, URI{Bucket: b}, func(ObjectInfo) error { return nil }); err == nil {
		t.Fatal("List with a cancelled context succeeded")
	}
	if _, err := s.Stat(t.Context(), u); !errors.Is(err, ErrNotExist) {
		t.Fatalf("a cancelled Put left an object: %v", err)
	}
}

func testSpecialKeys(t *testing.T, s Store, b string) {
	keys := []string{"with space/a b.txt", "plus+equals=amp&.csv", "percent%20sign", "ünï/cødé.json", "q?hash#", "..dots../x..", ".hidden/.file"}
	for _, k := range keys {
		put(t, s, URI{Bucket: b, Key: k}, k)
	}
	for _, k := range keys {
		if got := get(t, s, URI{Bucket: b, Key: k}); got != k {
			t.Errorf("Get %q = %q", k, got)
		}
	}
	want := slices.Sorted(slices.Values(keys))
	if got := listKeys(t, s, URI{Bucket: b}); !slices.Equal(got, want) {
		t.Fatalf("List =\n  %q\nwant\n  %q", got, want)
	}
}

// testPutFile stores a finished local file, over an existing object and into a bucket's new
// folder, and lists no temporary file afterwards.
func testPutFile(t *testing.T, s Store, b string) {
	src := filepath.Join(t.TempDir(), "algo-1.log")
	if err := os.WriteFile(src, []byte("line 1\nline 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := URI{Bucket: b, Key: "processing-jobs/job-1/algo-1.log"}
	put(t, s, u, "an older, longer log that the file replaces")
	if err := PutFile(t.Context(), s, u, src); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if got := get(t, s, u); got != "line 1\nline 2\n" {
		t.Fatalf("Get = %q", got)
	}
	if keys := listKeys(t, s, URI{Bucket: b}); !slices.Equal(keys, []string{u.Key}) {
		t.Fatalf("List = %v, want only %s", keys, u.Key)
	}
	if err := PutFile(t.Context(), s, URI{Bucket: b, Key: "x"}, filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNotExist) {
		t.Fatalf("PutFile of a missing file: %v, want ErrNotExist", err)
	}
}
