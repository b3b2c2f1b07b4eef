package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// transferWorkers is how many objects the helpers move at once. A few in flight hide the
// per-request latency of S3 without flooding a small server or disk.
const transferWorkers = 4

// RelPath returns the relative file path under which an object listed under prefix is placed
// locally, following what SageMaker does with an S3Prefix input:
//
//   - prefix is the bucket root or ends in "/": the key minus the prefix
//     (s3://b/data/ + data/train/x.csv → train/x.csv);
//   - the key equals the prefix, which names one object: its last segment
//     (s3://b/code/preprocess.py → preprocess.py);
//   - the key continues the prefix after a "/", the prefix naming a folder without its slash:
//     the key minus the prefix and the slash (s3://b/out/test + out/test/test.csv → test.csv, as
//     in the SDK's pipelines where a step reads another step's output "folder");
//   - otherwise the prefix ends inside a name: the key minus the prefix's folder
//     (s3://b/data/train + data/train.csv → train.csv, data/trainer/a → trainer/a).
//
// The result uses "/" separators and never contains "..", so it is safe below a download folder.
func RelPath(prefix URI, key string) (string, error) {
	p := prefix.Key
	if !strings.HasPrefix(key, p) {
		return "", fmt.Errorf("blob: key %q is not under prefix %s", key, prefix)
	}
	var rel string
	switch {
	case p == "" || strings.HasSuffix(p, "/"):
		rel = key[len(p):]
	case key == p:
		rel = path.Base(key)
	case key[len(p)] == '/':
		rel = key[len(p)+1:]
	default:
		rel = key[strings.LastIndexByte(p, '/')+1:]
	}
	if rel == "" || strings.HasSuffix(rel, "/") || validKey(rel) != nil {
		return "", fmt.Errorf("blob: key %q under prefix %s does not map to a file name", key, prefix)
	}
	return rel, nil
}

// DownloadPrefix copies every object whose key starts with prefix.Key into dir, at the relative
// path RelPath gives (SageMaker's S3Prefix semantics: s3://b/data/train matches data/train.csv and
// data/train/x.csv). dir is created if needed; all writes go through os.Root, so no object can
// land outside it. progress, if not nil, is called with the number of bytes just copied, from one
// goroutine at a time. A prefix that matches nothing is an error wrapping ErrNotExist, as
// SageMaker fails a job whose input is empty. Two objects mapping to the same file are an error.
func DownloadPrefix(ctx context.Context, s Store, prefix URI, dir string, progress func(n int64)) error {
	if err := prefix.Validate(); err != nil {
		return fmt.Errorf("blob: download: %w", err)
	}
	root, err := openDir(dir)
	if err != nil {
		return fmt.Errorf("blob: download %s: %w", prefix, err)
	}
	defer root.Close()
	progress = serialized(progress)
	type item struct {
		u   URI
		rel string
	}
	seen := map[string]string{}
	err = parallel(ctx,
		func(ctx context.Context, yield func(item) bool) error {
			return s.List(ctx, prefix, func(oi ObjectInfo) error {
				rel, err := RelPath(prefix, oi.URI.Key)
				if err != nil {
					return err
				}
				if other, dup := seen[rel]; dup {
					return fmt.Errorf("blob: download %s: %s and %s would both be written to %s", prefix, other, oi.URI.Key, rel)
				}
				seen[rel] = oi.URI.Key
				if !yield(item{oi.URI, rel}) {
					return ctx.Err()
				}
				return nil
			})
		},
		func(ctx context.Context, it item) error {
			return downloadTo(ctx, s, it.u, root, it.rel, progress)
		})
	if err != nil {
		return err
	}
	if len(seen) == 0 {
		return fmt.Errorf("blob: download %s: no objects under the prefix: %w", prefix, ErrNotExist)
	}
	return nil
}

// openDir creates dir if needed and opens it as a root for path-safe writes.
func openDir(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}

// downloadTo copies object u to rel below root.
func downloadTo(ctx context.Context, s Store, u URI, root *os.Root, rel string, progress func(int64)) (err error) {
	name := filepath.FromSlash(rel)
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("blob: download %s: %w", u, err)
		}
	}
	rc, err := s.Get(ctx, u)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("blob: download %s: %w", u, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("blob: download %s: %w", u, cerr)
		}
		if err != nil {
			root.Remove(name)
		}
	}()
	if _, err := io.Copy(f, &progressReader{r: &ctxReader{ctx: ctx, r: rc}, fn: progress}); err != nil {
		return fmt.Errorf("blob: download %s: %w", u, err)
	}
	return nil
}

// UploadDir uploads every regular file below dir to prefix, keeping relative paths: dir/a/b.csv
// goes to prefix/a/b.csv (a "/" is added after a prefix that lacks one). Symbolic links and special
// files are skipped, as SageMaker does for job outputs; an empty dir uploads nothing. Existing
// objects are overwritten, others under the prefix are left alone. progress is as for
// DownloadPrefix.
func UploadDir(ctx context.Context, s Store, dir string, prefix URI, progress func(n int64)) error {
	if err := prefix.Validate(); err != nil {
		return fmt.Errorf("blob: upload: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("blob: upload %s: %w", dir, err)
	}
	defer root.Close()
	progress = serialized(progress)
	return parallel(ctx,
		func(ctx context.Context, yield func(string) bool) error {
			return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return fmt.Errorf("blob: upload %s: %w", dir, err)
				}
				if !d.Type().IsRegular() {
					return nil // folders are walked; links and special files are skipped
				}
				if !yield(p) {
					return ctx.Err()
				}
				return nil
			})
		},
		func(ctx context.Context, rel string) error {
			return uploadFrom(ctx, s, root, rel, prefix.Join(rel), progress)
		})
}

// uploadFrom puts the file rel below root (an fs.FS path) at u.
func uploadFrom(ctx context.Context, s Store, root *os.Root, rel string, u URI, progress func(int64)) error {
	if err := u.validObject(); err != nil {
		return fmt.Errorf("blob: upload %s: %w", rel, err)
	}
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return fmt.Errorf("blob: upload %s: %w", rel, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob: upload %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil // replaced by something else since the walk
	}
	return s.Put(ctx, u, &progressReader{r: f, fn: progress}, fi.Size())
}

// ParseManifest reads a SageMaker manifest file: a JSON array whose first element is
// {"prefix": "s3://bucket/some/prefix/"} and whose other elements are suffixes appended to the
// prefix, each naming one object. Duplicates are dropped, order is kept.
func ParseManifest(r io.Reader) (prefix URI, objects []URI, err error) {
	var raw []json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return URI{}, nil, fmt.Errorf("blob: manifest: not a JSON array: %w", err)
	}
	if len(raw) == 0 {
		return URI{}, nil, errors.New(`blob: manifest: empty; the first element must be {"prefix": "s3://…"}`)
	}
	var head struct {
		Prefix *string `json:"prefix"`
	}
	if err := json.Unmarshal(raw[0], &head); err != nil || head.Prefix == nil {
		return URI{}, nil, errors.New(`blob: manifest: the first element must be {"prefix": "s3://…"}`)
	}
	prefix, err = ParseURI(*head.Prefix)
	if err != nil {
		return URI{}, nil, fmt.Errorf("blob: manifest: prefix: %w", err)
	}
	seen := map[string]bool{}
	for i, m := range raw[1:] {
		var suffix string
		if err := json.Unmarshal(m, &suffix); err != nil {
			return URI{}, nil, fmt.Errorf("blob: manifest: element %d is not a string", i+1)
		}
		u := URI{Bucket: prefix.Bucket, Key: prefix.Key + suffix}
		if err := u.validObject(); err != nil {
			return URI{}, nil, fmt.Errorf("blob: manifest: element %d (%q): %w", i+1, suffix, err)
		}
		if !seen[u.Key] {
			seen[u.Key] = true
			objects = append(objects, u)
		}
	}
	if len(objects) == 0 {
		return URI{}, nil, errors.New("blob: manifest: lists no objects")
	}
	return prefix, objects, nil
}

// DownloadManifest reads the manifest object at manifest (see ParseManifest) and copies each
// object it lists into dir, at the path RelPath gives relative to the manifest's prefix (for the
// usual prefix ending in "/", the suffix itself). progress is as for DownloadPrefix.
func DownloadManifest(ctx context.Context, s Store, manifest URI, dir string, progress func(n int64)) error {
	rc, err := s.Get(ctx, manifest)
	if err != nil {
		return err
	}
	prefix, objects, err := ParseManifest(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("%w (in %s)", err, manifest)
	}
	type item struct {
		u   URI
		rel string
	}
	items := make([]item, 0, len(objects))
	seen := map[string]bool{}
	for _, u := range objects {
		rel, err := RelPath(prefix, u.Key)
		if err != nil {
			return fmt.Errorf("blob: manifest %s: %w", manifest, err)
		}
		if seen[rel] {
			return fmt.Errorf("blob: manifest %s: two objects would both be written to %s", manifest, rel)
		}
		seen[rel] = true
		items = append(items, item{u, rel})
	}
	root, err := openDir(dir)
	if err != nil {
		return fmt.Errorf("blob: download manifest %s: %w", manifest, err)
	}
	defer root.Close()
	progress = serialized(progress)
	return parallel(ctx,
		func(ctx context.Context, yield func(item) bool) error {
			for _, it := range items {
				if !yield(it) {
					return ctx.Err()
				}
			}
			return nil
		},
		func(ctx context.Context, it item) error {
			return downloadTo(ctx, s, it.u, root, it.rel, progress)
		})
}

// CopyToStore copies a local file or folder to the store, as `sluice cp` does:
//   - a file goes to dst itself, or to dst/<file name> when dst is a prefix (the bucket root or a
//     key ending in "/");
//   - a folder is uploaded recursively with UploadDir (dst is treated as a folder).
//
// progress is as for DownloadPrefix.
func CopyToStore(ctx context.Context, s Store, src string, dst URI, progress func(n int64)) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("blob: copy: %w", err)
	}
	if fi.IsDir() {
		return UploadDir(ctx, s, src, dst, progress)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("blob: copy %s: not a regular file or folder", src)
	}
	if dst.IsPrefix() {
		dst = dst.Join(filepath.Base(src))
	}
	if err := dst.validObject(); err != nil {
		return fmt.Errorf("blob: copy %s: %w", src, err)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("blob: copy: %w", err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return fmt.Errorf("blob: copy: %w", err)
	}
	return s.Put(ctx, dst, &progressReader{r: f, fn: serialized(progress)}, fi.Size())
}

// CopyFromStore copies from the store to the local filesystem, as `sluice cp` does:
//   - when src names an existing object, it is written to dst, or into dst when dst is an
//     existing folder or ends in a path separator; the file is replaced atomically;
//   - otherwise src is a prefix and DownloadPrefix copies everything under it into the folder
//     dst (so s3://b/models/ or s3://b/models both put models/a.bin at dst/a.bin).
//
// progress is as for DownloadPrefix.
func CopyFromStore(ctx context.Context, s Store, src URI, dst string, progress func(n int64)) error {
	if !src.IsPrefix() {
		_, err := s.Stat(ctx, src)
		switch {
		case err == nil:
			return copyObjectToFile(ctx, s, src, dst, serialized(progress))
		case !errors.Is(err, ErrNotExist) || errors.Is(err, ErrInvalidURI):
			return err
		}
	}
	return DownloadPrefix(ctx, s, src, dst, progress)
}

func copyObjectToFile(ctx context.Context, s Store, src URI, dst string, progress func(int64)) (err error) {
	if strings.HasSuffix(dst, string(filepath.Separator)) || strings.HasSuffix(dst, "/") {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("blob: copy %s: %w", src, err)
		}
	}
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, src.Base())
	}
	rc, err := s.Get(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Write next to the target and rename, so that a failed copy never leaves a truncated file
	// where a good one was.
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".sluice-cp-*")
	if err != nil {
		return fmt.Errorf("blob: copy %s: %w", src, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, &progressReader{r: &ctxReader{ctx: ctx, r: rc}, fn: progress}); err != nil {
		return fmt.Errorf("blob: copy %s: %w", src, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("blob: copy %s: %w", src, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("blob: copy %s: %w", src, err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("blob: copy %s: %w", src, err)
	}
	return nil
}

// progressReader reports each successful read to fn.
type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.fn(int64(n))
	}
	return n, err
}

// serialized makes a progress callback safe to call from the transfer workers, so callers can
// update a progress bar without locking.
func serialized(fn func(int64)) func(int64) {
	if fn == nil {
		return nil
	}
	var mu sync.Mutex
	return func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		fn(n)
	}
}

// parallel runs work on every item that produce yields, with transferWorkers goroutines. The
// first error cancels the rest and is returned; yield reports false once that has happened.
func parallel[T any](ctx context.Context, produce func(ctx context.Context, yield func(T) bool) error, work func(ctx context.Context, item T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	items := make(chan T)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() {
			firstErr = err
			cancel(err)
		})
	}
	for range transferWorkers {
		wg.Go(func() {
			for it := range items {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				if err := work(ctx, it); err != nil {
					fail(err)
				}
			}
		})
	}
	perr := produce(ctx, func(it T) bool {
		select {
		case items <- it:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(items)
	wg.Wait()
	if perr != nil {
		fail(perr)
	}
	if firstErr == nil {
		// The caller's context may have ended without any step noticing.
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return firstErr
}
