package blob

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestRelPath(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		key     string
		want    string
		wantErr bool
	}{
		{name: "bucket root", prefix: "s3://b0b/", key: "a/b.csv", want: "a/b.csv"},
		{name: "folder prefix", prefix: "s3://b0b/data/", key: "data/train/x.csv", want: "train/x.csv"},
		{name: "exact object", prefix: "s3://b0b/code/preprocess.py", key: "code/preprocess.py", want: "preprocess.py"},
		{name: "folder without slash", prefix: "s3://b0b/out/test", key: "out/test/test.csv", want: "test.csv"},
		{name: "deep under folder without slash", prefix: "s3://b0b/out/test", key: "out/test/a/b.csv", want: "a/b.csv"},
		{name: "partial name", prefix: "s3://b0b/data/train", key: "data/train.csv", want: "train.csv"},
		{name: "partial name folder", prefix: "s3://b0b/data/train", key: "data/trainer/a", want: "trainer/a"},
		{name: "partial name at top", prefix: "s3://b0b/tr", key: "train.csv", want: "train.csv"},
		{name: "exact object at top", prefix: "s3://b0b/model.tar.gz", key: "model.tar.gz", want: "model.tar.gz"},
		{name: "not under prefix", prefix: "s3://b0b/data/", key: "other/x", wantErr: true},
		{name: "folder marker", prefix: "s3://b0b/data/", key: "data/sub/", wantErr: true},
		{name: "prefix itself as folder", prefix: "s3://b0b/data/", key: "data/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RelPath(MustParseURI(tt.prefix), tt.key)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("RelPath = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("RelPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// readTree returns the regular files below dir as relative slash path → content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sumSizes(files map[string]string) int64 {
	var n int64
	for _, c := range files {
		n += int64(len(c))
	}
	return n
}

func TestTransfers(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Store, b string)
	}{
		{"download prefix", testDownloadPrefix},
		{"upload dir", testUploadDir},
		{"download manifest", testDownloadManifest},
		{"copy to and from the store", testCopy},
	}
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s, b := be.open(t)
					c.run(t, s, b)
				})
			}
		})
	}
}

func testDownloadPrefix(t *testing.T, s Store, b string) {
	objects := map[string]string{
		"data/train.csv":          "train csv",
		"data/train/part-0.csv":   "part 0",
		"data/train/sub/part.csv": "deep part",
		"data/trainer/a":          "trainer a",
		"data/test.csv":           "test",
		"code/preprocess.py":      "print('hi')",
		"out/test/test.csv":       "step output",
		"clash/x/x.csv":           "one",
		"clash/x.csv":             "two",
	}
	for k, v := range objects {
		put(t, s, URI{Bucket: b, Key: k}, v)
	}
	tests := []struct {
		name    string
		prefix  string
		want    map[string]string
		wantErr error
	}{
		{name: "folder prefix", prefix: "data/train/", want: map[string]string{"part-0.csv": "part 0", "sub/part.csv": "deep part"}},
		{name: "folder without slash", prefix: "out/test", want: map[string]string{"test.csv": "step output"}},
		{name: "single object", prefix: "code/preprocess.py", want: map[string]string{"preprocess.py": "print('hi')"}},
		{name: "partial name matches siblings", prefix: "data/train", want: map[string]string{
			"train.csv": "train csv", "part-0.csv": "part 0", "sub/part.csv": "deep part", "trainer/a": "trainer a",
		}},
		{name: "whole bucket", prefix: "", want: nil /* checked by count below */},
		{name: "nothing matches", prefix: "nope/", wantErr: ErrNotExist},
		{name: "two objects map to one file", prefix: "clash/x", wantErr: errors.New("would both be written")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "dir")
			var total int64
			err := DownloadPrefix(t.Context(), s, URI{Bucket: b, Key: tt.prefix}, dir, func(n int64) { total += n })
			if tt.wantErr != nil {
				if err == nil || !errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error()) {
					t.Fatalf("DownloadPrefix = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := readTree(t, dir)
			if tt.want == nil {
				if len(got) != len(objects) {
					t.Fatalf("downloaded %d files, want %d: %v", len(got), len(objects), got)
				}
				tt.want = got
			} else if !maps.Equal(got, tt.want) {
				t.Fatalf("downloaded %v, want %v", got, tt.want)
			}
			if total != sumSizes(tt.want) {
				t.Fatalf("progress reported %d bytes, want %d", total, sumSizes(tt.want))
			}
		})
	}
}

func testUploadDir(t *testing.T, s Store, b string) {
	dir := t.TempDir()
	files := map[string]string{
		"model.bin":          "weights",
		"metrics/eval.json":  `{"mse": 4.2}`,
		"a/b/c/deep.txt":     "deep",
		"with space/ünï.txt": "unicode",
		"empty":              "",
	}
	writeTree(t, dir, files)
	// Links and special files are skipped, as for SageMaker job outputs.
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("model.bin", filepath.Join(dir, "inside-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "etc-dir")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty-folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, s, URI{Bucket: b, Key: "out/job/stale.txt"}, "kept")

	var total int64
	if err := UploadDir(t.Context(), s, dir, URI{Bucket: b, Key: "out/job"}, func(n int64) { total += n }); err != nil {
		t.Fatal(err)
	}
	if total != sumSizes(files) {
		t.Fatalf("progress reported %d bytes, want %d", total, sumSizes(files))
	}
	var want []string
	for k := range files {
		want = append(want, "out/job/"+k)
	}
	want = append(want, "out/job/stale.txt")
	got := listKeys(t, s, URI{Bucket: b, Key: "out/job/"})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("uploaded keys %q, want %q", got, want)
	}
	// Round trip.
	back := t.TempDir()
	if err := DownloadPrefix(t.Context(), s, URI{Bucket: b, Key: "out/job/"}, back, nil); err != nil {
		t.Fatal(err)
	}
	files["stale.txt"] = "kept"
	if got := readTree(t, back); !maps.Equal(got, files) {
		t.Fatalf("round trip = %v, want %v", got, files)
	}
	// An empty folder uploads nothing and is not an error.
	if err := UploadDir(t.Context(), s, t.TempDir(), URI{Bucket: b, Key: "nothing/"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := UploadDir(t.Context(), s, filepath.Join(dir, "missing"), URI{Bucket: b}, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("UploadDir of a missing folder = %v", err)
	}
}

func testDownloadManifest(t *testing.T, s Store, b string) {
	for k, v := range map[string]string{
		"some/prefix/relative/path/to/custdata-1": "one",
		"some/prefix/relative/path/custdata-2":    "two",
		"some/prefix/not-listed":                  "no",
	} {
		put(t, s, URI{Bucket: b, Key: k}, v)
	}
	manifest := `[{"prefix": "s3://` + b + `/some/prefix/"}, "relative/path/to/custdata-1", "relative/path/custdata-2", "relative/path/custdata-2"]`
	mu := URI{Bucket: b, Key: "manifests/train.manifest"}
	put(t, s, mu, manifest)
	dir := t.TempDir()
	var total int64
	if err := DownloadManifest(t.Context(), s, mu, dir, func(n int64) { total += n }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"relative/path/to/custdata-1": "one", "relative/path/custdata-2": "two"}
	if got := readTree(t, dir); !maps.Equal(got, want) {
		t.Fatalf("downloaded %v, want %v", got, want)
	}
	if total != 6 {
		t.Fatalf("progress = %d, want 6", total)
	}
	// A listed object that does not exist fails the download.
	put(t, s, mu, `[{"prefix": "s3://`+b+`/some/prefix/"}, "missing"]`)
	if err := DownloadManifest(t.Context(), s, mu, t.TempDir(), nil); !errors.Is(err, ErrNotExist) {
		t.Fatalf("DownloadManifest with a missing object = %v, want ErrNotExist", err)
	}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "valid", in: `[{"prefix":"s3://bkt/p/"},"a","b/c","a"]`, want: []string{"s3://bkt/p/a", "s3://bkt/p/b/c"}},
		{name: "prefix without slash", in: `[{"prefix":"s3://bkt/p-"},"1.csv"]`, want: []string{"s3://bkt/p-1.csv"}},
		{name: "not json", in: `nope`, wantErr: "not a JSON array"},
		{name: "empty", in: `[]`, wantErr: "empty"},
		{name: "no prefix", in: `["a"]`, wantErr: "first element"},
		{name: "bad prefix", in: `[{"prefix":"http://x/"},"a"]`, wantErr: "s3://"},
		{name: "no objects", in: `[{"prefix":"s3://bkt/p/"}]`, wantErr: "lists no objects"},
		{name: "non-string element", in: `[{"prefix":"s3://bkt/p/"},1]`, wantErr: "not a string"},
		{name: "traversal", in: `[{"prefix":"s3://bkt/p/"},"../../etc/passwd"]`, wantErr: `".."`},
		{name: "folder", in: `[{"prefix":"s3://bkt/p/"},"dir/"]`, wantErr: "names a prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, objs, err := ParseManifest(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseManifest = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range objs {
				got = append(got, u.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("objects = %v, want %v", got, tt.want)
			}
		})
	}
}

func testCopy(t *testing.T, s Store, b string) {
	ctx := t.Context()
	src := t.TempDir()
	writeTree(t, src, map[string]string{"model.tar.gz": "model", "dir/a.txt": "a", "dir/sub/b.txt": "b"})

	// Local → store.
	steps := []struct {
		name string
		src  string
		dst  string
		want map[string]string // key → content, checked after the step
	}{
		{name: "file to key", src: "model.tar.gz", dst: "m/renamed.tar.gz", want: map[string]string{"m/renamed.tar.gz": "model"}},
		{name: "file to prefix", src: "model.tar.gz", dst: "m/", want: map[string]string{"m/model.tar.gz": "model"}},
		{name: "folder", src: "dir", dst: "d", want: map[string]string{"d/a.txt": "a", "d/sub/b.txt": "b"}},
	}
	for _, st := range steps {
		var total int64
		if err := CopyToStore(ctx, s, filepath.Join(src, st.src), URI{Bucket: b, Key: st.dst}, func(n int64) { total += n }); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for k, v := range st.want {
			if got := get(t, s, URI{Bucket: b, Key: k}); got != v {
				t.Fatalf("%s: %s = %q, want %q", st.name, k, got, v)
			}
		}
		if total != sumSizes(st.want) {
			t.Fatalf("%s: progress %d, want %d", st.name, total, sumSizes(st.want))
		}
	}
	if err := CopyToStore(ctx, s, filepath.Join(src, "missing"), URI{Bucket: b, Key: "x"}, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("copy of a missing file = %v", err)
	}

	// Store → local.
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "existing"), 0o755); err != nil {
		t.Fatal(err)
	}
	back := []struct {
		name     string
		src      string
		dst      string
		wantFile string // relative to out
		want     string
	}{
		{name: "object to file", src: "m/model.tar.gz", dst: "file.bin", wantFile: "file.bin", want: "model"},
		{name: "object over a file", src: "m/renamed.tar.gz", dst: "file.bin", wantFile: "file.bin", want: "model"},
		{name: "object into existing folder", src: "m/model.tar.gz", dst: "existing", wantFile: "existing/model.tar.gz", want: "model"},
		{name: "object into new folder by separator", src: "m/model.tar.gz", dst: "new/", wantFile: "new/model.tar.gz", want: "model"},
		{name: "prefix without slash", src: "d", dst: "tree", wantFile: "tree/sub/b.txt", want: "b"},
		{name: "prefix with slash", src: "d/", dst: "tree2", wantFile: "tree2/a.txt", want: "a"},
	}
	for _, st := range back {
		dst := filepath.Join(out, st.dst)
		if strings.HasSuffix(st.dst, "/") {
			dst += string(filepath.Separator) // Join drops it
		}
		if err := CopyFromStore(ctx, s, URI{Bucket: b, Key: st.src}, dst, nil); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(st.wantFile)))
		if err != nil || string(got) != st.want {
			t.Fatalf("%s: %s = %q, %v; want %q", st.name, st.wantFile, got, err, st.want)
		}
	}
	if err := CopyFromStore(ctx, s, URI{Bucket: b, Key: "no/such"}, filepath.Join(out, "x"), nil); !errors.Is(err, ErrNotExist) {
		t.Fatalf("copy of a missing object = %v, want ErrNotExist", err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.Contains(e.Name(), "sluice-cp") {
			t.Fatalf("left a temporary file %s", e.Name())
		}
	}
}
