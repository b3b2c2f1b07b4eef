package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// tempPrefix starts the name of every file that a Put is still writing. List skips such files and
// keys with a segment that starts with it are refused, so a half-written file is never visible.
const tempPrefix = ".sluice-tmp-"

// Local is the filesystem backend: bucket b is the folder <root>/b and key k the file
// <root>/b/k (a "/" in the key is a folder separator).
//
// Buckets are created implicitly by the first Put into them (or by EnsureBucket). Every path is
// resolved through os.Root, so neither keys nor symbolic links can reach outside the root. Puts
// write a temporary file next to the target, fsync it, and rename it into place, so concurrent
// readers see either the old or the new content and concurrent writers of one key never mix their
// bytes (the last rename wins).
//
// Differences from S3, all inherent to a filesystem:
//   - an object "a" and an object "a/b" cannot coexist (the Put that would need both fails);
//   - a key segment is limited by the filesystem's name length (255 bytes on common systems);
//   - keys whose segments start with ".sluice-tmp-" are reserved for temporary files;
//   - a crash during Put can leave a ".sluice-tmp-*" file behind; it is never listed.
type Local struct {
	root *os.Root
}

// NewLocal opens (creating it if needed) the folder that holds the buckets.
func NewLocal(root string) (*Local, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("blob: local root: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("blob: local root: %w", err)
	}
	return &Local{root: r}, nil
}

// Close releases the root folder handle.
func (l *Local) Close() error { return l.root.Close() }

// Dir returns the folder that holds the buckets.
func (l *Local) Dir() string { return l.root.Name() }

// EnsureBucket creates the bucket's folder if it does not exist.
func (l *Local) EnsureBucket(ctx context.Context, bucket string) error {
	if err := validBucket(bucket); err != nil {
		return fmt.Errorf("blob: ensure bucket: %w", err)
	}
	if err := l.root.Mkdir(bucket, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blob: ensure bucket %q: %w", bucket, err)
	}
	return nil
}

// checkLocal validates an object URI and the local backend's extra rule.
func checkLocal(u URI) error {
	if err := u.validObject(); err != nil {
		return err
	}
	for _, s := range strings.Split(u.Key, "/") {
		if strings.HasPrefix(s, tempPrefix) {
			return fmt.Errorf("%w: key %q: names starting with %q are reserved by the local store", ErrInvalidURI, u.Key, tempPrefix)
		}
	}
	return nil
}

// name is the root-relative file name of an object. The bucket and key have been validated, so
// the result has no "..", "." or empty segments.
func name(u URI) string { return u.Bucket + "/" + u.Key }

// notFound reports whether err means that the path does not exist, including the case where a
// parent is a file ("a/b" when "a" is an object).
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, u URI, r io.Reader, size int64) (err error) {
	if err := checkLocal(u); err != nil {
		return fmt.Errorf("blob: put: %w", err)
	}
	dst := name(u)
	dir := path.Dir(dst)
	var f *os.File
	var tmp string
	// A concurrent Delete may remove the empty parent folders between MkdirAll and the create;
	// trying again a few times settles that race.
	for attempt := 0; ; attempt++ {
		if err := l.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("blob: put %s: %w", u, conflict(err))
		}
		tmp = dir + "/" + tempPrefix + randomHex()
		f, err = l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return fmt.Errorf("blob: put %s: %w", u, err)
		}
	}
	defer func() {
		if err != nil {
			f.Close()
			l.root.Remove(tmp)
		}
	}()
	src := &ctxReader{ctx: ctx, r: r}
	if size >= 0 {
		var n int64
		n, err = io.CopyN(f, src, size)
		if err == io.EOF {
			err = fmt.Errorf("reader ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
		}
	} else {
		_, err = io.Copy(f, src)
	}
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	if err = l.root.Rename(tmp, dst); err != nil {
		return fmt.Errorf("blob: put %s: %w", u, conflict(err))
	}
	// Make the rename itself durable before reporting success.
	if d, err := l.root.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// PutFile stores the local file at path as the object u by linking it into place, so that
// neither a copy nor a new file is made; where the file cannot be linked (another filesystem,
// or a platform without links) it is copied as Put does. The file is synced first, and must not
// change afterwards.
func (l *Local) PutFile(ctx context.Context, u URI, src string) error {
	if err := checkLocal(u); err != nil {
		return fmt.Errorf("blob: put: %w", err)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	dst := name(u)
	dir := path.Dir(dst)
	if err := l.root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("blob: put %s: %w", u, conflict(err))
	}
	d, err := l.root.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	defer d.Close()
	// Stored already (a retry after a crash): a rename onto the same file would do nothing and
	// leave the temporary name behind.
	if fi, err := f.Stat(); err == nil {
		if cur, err := l.root.Lstat(dst); err == nil && os.SameFile(fi, cur) {
			return nil
		}
	}
	tmp := tempPrefix + randomHex()
	if err := linkInto(src, d, tmp); err != nil {
		// Not linkable here: copy it.
		fi, serr := f.Stat()
		if serr != nil {
			return fmt.Errorf("blob: put %s: %w", u, serr)
		}
		return l.Put(ctx, u, f, fi.Size())
	}
	if err := l.root.Rename(dir+"/"+tmp, dst); err != nil {
		l.root.Remove(dir + "/" + tmp)
		return fmt.Errorf("blob: put %s: %w", u, conflict(err))
	}
	// Make the new name durable before reporting success.
	d.Sync()
	return nil
}

// conflict explains the filesystem errors that arise when a key needs a folder where an object
// is, or the reverse, which S3 allows but a filesystem cannot represent.
func conflict(err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrExist) ||
		errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("the local store cannot hold both an object and objects under it as a folder: %w", err)
	}
	return err
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, u URI) (io.ReadCloser, error) {
	if err := checkLocal(u); err != nil {
		return nil, fmt.Errorf("blob: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", u, err)
	}
	f, err := l.root.Open(name(u))
	if err != nil {
		return nil, l.missing("get", u, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: get %s: %w", u, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob: get %s: %w", u, ErrNotExist)
	}
	return f, nil
}

// missing turns a lookup error into one that wraps ErrNotExist when the object is absent, saying
// whether the bucket is missing too.
func (l *Local) missing(op string, u URI, err error) error {
	if !notFound(err) {
		return fmt.Errorf("blob: %s %s: %w", op, u, err)
	}
	if _, berr := l.root.Stat(u.Bucket); berr != nil {
		return fmt.Errorf("blob: %s %s: bucket %q does not exist: %w", op, u, u.Bucket, ErrNotExist)
	}
	return fmt.Errorf("blob: %s %s: %w", op, u, ErrNotExist)
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, u URI) (ObjectInfo, error) {
	if err := checkLocal(u); err != nil {
		return ObjectInfo{}, fmt.Errorf("blob: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("blob: stat %s: %w", u, err)
	}
	fi, err := l.root.Stat(name(u))
	if err != nil {
		return ObjectInfo{}, l.missing("stat", u, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("blob: stat %s: %w", u, ErrNotExist)
	}
	return ObjectInfo{URI: u, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements Store. Folders left empty are removed, so that they neither show up as
// "prefixes" nor block a later Put of an object with the folder's name.
func (l *Local) Delete(ctx context.Context, u URI) error {
	if err := checkLocal(u); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete %s: %w", u, err)
	}
	n := name(u)
	fi, err := l.root.Lstat(n)
	if notFound(err) || err == nil && fi.IsDir() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", u, err)
	}
	if err := l.root.Remove(n); err != nil && !notFound(err) {
		return fmt.Errorf("blob: delete %s: %w", u, err)
	}
	for d := path.Dir(u.Key); d != "."; d = path.Dir(d) {
		// Remove fails on a folder that is not empty, which ends the pruning.
		if l.root.Remove(u.Bucket+"/"+d) != nil {
			break
		}
	}
	return nil
}

// List implements Store. It walks only the folders that can hold matching keys, reading each
// folder once and visiting entries in key order: a folder "d" sorts as "d/", so "a.txt" comes
// before everything under "a/", exactly as S3 orders the keys.
func (l *Local) List(ctx context.Context, prefix URI, fn func(ObjectInfo) error) error {
	if err := prefix.Validate(); err != nil {
		return fmt.Errorf("blob: list: %w", err)
	}
	if fi, err := l.root.Stat(prefix.Bucket); err != nil || !fi.IsDir() {
		return fmt.Errorf("blob: list %s: bucket %q does not exist: %w", prefix, prefix.Bucket, ErrNotExist)
	}
	dir, base := "", prefix.Key
	if i := strings.LastIndexByte(prefix.Key, '/'); i >= 0 {
		dir, base = prefix.Key[:i+1], prefix.Key[i+1:]
	}
	return l.walk(ctx, prefix.Bucket, dir, base, fn)
}

// walk lists folder dir (a key prefix ending in "/" or empty) of the bucket, visiting entries
// whose names start with base, recursively.
func (l *Local) walk(ctx context.Context, bucket, dir, base string, fn func(ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: list: %w", err)
	}
	f, err := l.root.Open(bucket + "/" + strings.TrimSuffix(dir, "/"))
	if err != nil {
		if notFound(err) {
			return nil // nothing under this prefix (or it vanished under a concurrent Delete)
		}
		return fmt.Errorf("blob: list s3://%s/%s: %w", bucket, dir, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("blob: list s3://%s/%s: %w", bucket, dir, err)
	}
	type entry struct {
		sortKey string
		de      fs.DirEntry
	}
	var keep []entry
	for _, de := range entries {
		n := de.Name()
		if !strings.HasPrefix(n, base) || strings.HasPrefix(n, tempPrefix) || validKey(n) != nil {
			continue
		}
		switch {
		case de.IsDir():
			keep = append(keep, entry{n + "/", de})
		case de.Type().IsRegular():
			keep = append(keep, entry{n, de})
		}
		// Symbolic links and special files are never created by the store and are ignored.
	}
	slices.SortFunc(keep, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	for _, e := range keep {
		key := dir + e.sortKey
		if e.de.IsDir() {
			if err := l.walk(ctx, bucket, key, "", fn); err != nil {
				return err
			}
			continue
		}
		fi, err := e.de.Info()
		if notFound(err) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return fmt.Errorf("blob: list s3://%s/%s: %w", bucket, key, err)
		}
		if err := fn(ObjectInfo{URI: URI{Bucket: bucket, Key: key}, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// ctxReader stops a copy when the context is cancelled, so a Put of a slow or endless stream can
// be abandoned.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func randomHex() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
