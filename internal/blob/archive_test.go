package blob

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPackUnpackRoundTrip(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"xgboost-model":       "booster bytes",
		"code/inference.py":   "def model_fn(d): pass\n",
		"code/lib/util.py":    "",
		"deep/a/b/c/d.bin":    strings.Repeat("\x00\x01", 5000),
		"with space/ünï.json": "{}",
	}
	writeTree(t, src, files)
	if err := os.Chmod(filepath.Join(src, "code/inference.py"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := PackDir(src, &buf); err != nil {
		t.Fatal(err)
	}
	// Names are relative with no "./", as SageMaker's model.tar.gz has them; links are skipped.
	names := tarNames(t, buf.Bytes())
	for _, want := range []string{"xgboost-model", "code/", "code/inference.py", "empty-dir/"} {
		if !slices.Contains(names, want) {
			t.Errorf("archive lacks %q; has %q", want, names)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "./") || strings.HasPrefix(n, "/") || n == "link" {
			t.Errorf("unexpected archive entry %q", n)
		}
	}

	dst := filepath.Join(t.TempDir(), "model")
	if err := UnpackTarGz(bytes.NewReader(buf.Bytes()), dst); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dst); !maps.Equal(got, files) {
		t.Fatalf("unpacked %v, want %v", got, files)
	}
	fi, err := os.Stat(filepath.Join(dst, "code/inference.py"))
	if err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("the executable bit was lost: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "empty-dir")); err != nil || !fi.IsDir() {
		t.Fatalf("empty folder not restored: %v", err)
	}
	// Unpacking again over the same folder replaces the files.
	if err := UnpackTarGz(bytes.NewReader(buf.Bytes()), dst); err != nil {
		t.Fatalf("second unpack: %v", err)
	}
}

func tarNames(t *testing.T, gz []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// entry is one crafted archive member.
type entry struct {
	name, link string
	typ        byte
	body       string
	mode       int64
}

func buildTar(t *testing.T, entries []entry, compress bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if compress {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestUnpackRefusesMaliciousEntries(t *testing.T) {
	file := func(name string) entry { return entry{name: name, typ: tar.TypeReg, body: "pwned"} }
	link := func(name, target string) entry { return entry{name: name, link: target, typ: tar.TypeSymlink} }
	tests := []struct {
		name    string
		entries []entry
	}{
		{name: "parent traversal", entries: []entry{file("../evil")}},
		{name: "deep traversal", entries: []entry{file("a/../../evil")}},
		{name: "dotdot in the middle", entries: []entry{file("a/../b")}},
		{name: "absolute name", entries: []entry{file("/tmp/evil")}},
		{name: "backslash name", entries: []entry{file(`..\evil`)}},
		{name: "absolute symlink", entries: []entry{link("l", "/etc/passwd")}},
		{name: "symlink climbing out", entries: []entry{link("l", "../evil")}},
		{name: "nested symlink climbing out", entries: []entry{link("a/l", "../../evil")}},
		{name: "symlink climbing after descending", entries: []entry{link("sub/s", ".."), link("t", "sub/s/../..")}},
		{name: "write through a symlink", entries: []entry{link("l", "."), file("l/x")}},
		{name: "symlink through a symlink", entries: []entry{link("l", "sub"), entry{name: "sub/", typ: tar.TypeDir}, link("l/up", "..")}},
		{name: "hard link outside", entries: []entry{{name: "h", link: "../evil", typ: tar.TypeLink}}},
		{name: "hard link to absolute", entries: []entry{{name: "h", link: "/etc/passwd", typ: tar.TypeLink}}},
		{name: "hard link to a symlink", entries: []entry{link("a/b/l", "../../x"), {name: "h", link: "a/b/l", typ: tar.TypeLink}}},
		{name: "character device", entries: []entry{{name: "dev", typ: tar.TypeChar}}},
		{name: "fifo", entries: []entry{{name: "fifo", typ: tar.TypeFifo}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "x", "out")
			err := UnpackTarGz(bytes.NewReader(buildTar(t, tt.entries, true)), dst)
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("UnpackTarGz = %v, want ErrUnsafeArchive", err)
			}
			// Nothing appeared outside dst.
			for _, p := range []string{filepath.Join(parent, "evil"), filepath.Join(parent, "x", "evil"), "/tmp/evil"} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("%s was created", p)
				}
			}
		})
	}
}

func TestUnpackAcceptsSafeLinksAndPlainTar(t *testing.T) {
	entries := []entry{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./lib/libx.so.1", typ: tar.TypeReg, body: "elf", mode: 0o755},
		{name: "lib/libx.so", link: "libx.so.1", typ: tar.TypeSymlink},
		{name: "bin/tool", link: "../lib/libx.so.1", typ: tar.TypeSymlink},
		{name: "lib/hard", link: "lib/libx.so.1", typ: tar.TypeLink},
		{name: "setuid", typ: tar.TypeReg, body: "s", mode: 0o4755},
	}
	for _, compress := range []bool{true, false} {
		dst := t.TempDir()
		if err := UnpackTarGz(bytes.NewReader(buildTar(t, entries, compress)), dst); err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		for _, p := range []string{"lib/libx.so", "bin/tool", "lib/hard"} {
			b, err := os.ReadFile(filepath.Join(dst, p))
			if err != nil || string(b) != "elf" {
				t.Fatalf("compress=%v: %s = %q, %v", compress, p, b, err)
			}
		}
		fi, err := os.Stat(filepath.Join(dst, "setuid"))
		if err != nil || fi.Mode()&os.ModeSetuid != 0 {
			t.Fatalf("setuid bit kept: %v %v", fi.Mode(), err)
		}
	}
}

func TestUnpackRejectsCorruptInput(t *testing.T) {
	good := buildTar(t, []entry{{name: "a", typ: tar.TypeReg, body: strings.Repeat("a", 10000)}}, true)
	for name, in := range map[string][]byte{
		"truncated gzip": good[:len(good)/2],
		"not a tar":      []byte("just some text that is long enough to not be a tar header........"),
	} {
		t.Run(name, func(t *testing.T) {
			if err := UnpackTarGz(bytes.NewReader(in), t.TempDir()); err == nil {
				t.Fatal("UnpackTarGz succeeded")
			}
		})
	}
}

func TestMaybeGunzip(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "a,b\n1,2\n")
	zw.Close()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "gzip", in: gz.Bytes(), want: "a,b\n1,2\n"},
		{name: "plain", in: []byte("a,b\n1,2\n"), want: "a,b\n1,2\n"},
		{name: "one byte", in: []byte{0x1f}, want: "\x1f"},
		{name: "empty", in: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := MaybeGunzip(bytes.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tt.want {
				t.Fatalf("read %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
