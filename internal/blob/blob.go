// Package blob is Sluice's artifact store. Every artifact is addressed by an s3://bucket/key URI,
// whichever backend holds it:
//
//   - Local (the default) keeps bucket b as the folder <root>/b and key k as the file <root>/b/k.
//     All access goes through os.Root, so no key can reach outside the root, and writes are
//     atomic (temporary file, fsync, rename).
//   - S3 talks to any S3-compatible server (AWS S3, MinIO, Ceph, versitygw).
//
// Both implement Store. The helpers in this package (DownloadPrefix, UploadDir, DownloadManifest,
// CopyToStore, CopyFromStore, PackDir, UnpackTarGz) work on any Store and implement the
// SageMaker conventions that jobs, pipelines and the CLI need.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// ErrNotExist is wrapped by errors for a missing object or bucket. It is fs.ErrNotExist, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, os.ErrNotExist) hold as well.
var ErrNotExist = fs.ErrNotExist

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	URI     URI
	Size    int64
	ModTime time.Time
	// ETag is the server's entity tag on S3 (without quotes); the local backend leaves it empty
	// because computing it would mean reading the whole file.
	ETag string
}

// Store is an artifact store. Both backends behave the same way, which the conformance tests
// check; where a backend cannot (see Local), its documentation says so.
type Store interface {
	// Put stores the object atomically: readers see the old content or the whole new content,
	// never a part. size is the exact number of bytes to read from r, or -1 if unknown; a reader
	// that ends early fails the Put and leaves the old object in place.
	Put(ctx context.Context, u URI, r io.Reader, size int64) error
	// Get opens the object for reading. A missing object or bucket yields an error wrapping
	// ErrNotExist.
	Get(ctx context.Context, u URI) (io.ReadCloser, error)
	// Stat describes the object; a missing object or bucket yields an error wrapping ErrNotExist.
	Stat(ctx context.Context, u URI) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix.Key, recursively and in
	// lexicographic (byte) key order, like S3 ListObjectsV2 with a prefix and no delimiter. So
	// s3://b/data/train lists data/train.csv as well as data/train/x.csv. List stops at the first
	// error from fn and returns it. A missing bucket yields an error wrapping ErrNotExist.
	List(ctx context.Context, prefix URI, fn func(ObjectInfo) error) error
	// Delete removes the object. Deleting a missing object is not an error, as on S3.
	Delete(ctx context.Context, u URI) error
}

// BucketEnsurer is implemented by stores that can create buckets (both backends do). Use
// EnsureBucket rather than asserting it yourself.
type BucketEnsurer interface {
	EnsureBucket(ctx context.Context, bucket string) error
}

// FilePutter is implemented by stores that can take a finished local file more cheaply than
// by reading it through Put: the local backend links the file into place instead of copying
// it. Use PutFile rather than asserting it yourself.
type FilePutter interface {
	PutFile(ctx context.Context, u URI, path string) error
}

// PutFile stores the local file at path as the object u, as Put would. The file must not change
// afterwards: a store may keep the file itself rather than a copy.
func PutFile(ctx context.Context, s Store, u URI, path string) error {
	if fp, ok := s.(FilePutter); ok {
		return fp.PutFile(ctx, u, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", u, err)
	}
	return s.Put(ctx, u, f, fi.Size())
}

// EnsureBucket creates the bucket if the store supports it and it does not exist yet.
func EnsureBucket(ctx context.Context, s Store, bucket string) error {
	be, ok := s.(BucketEnsurer)
	if !ok {
		return fmt.Errorf("blob: ensure bucket %q: the store cannot create buckets", bucket)
	}
	return be.EnsureBucket(ctx, bucket)
}

// Backend names accepted in Config.Backend.
const (
	BackendLocal = "local"
	BackendS3    = "s3"
)

// Config selects and configures the artifact store backend.
type Config struct {
	// Backend is "local" (the default when empty) or "s3".
	Backend string
	// LocalRoot is the folder that holds one subfolder per bucket, e.g. <datadir>/blobs.
	LocalRoot string
	// S3 configures the S3 backend.
	S3 S3Config
	// Buckets are created at Open if missing, e.g. the default artifact bucket.
	Buckets []string
}

// Validate reports the first configuration problem, naming the field.
func (c Config) Validate() error {
	switch c.Backend {
	case "", BackendLocal:
		if c.LocalRoot == "" {
			return errors.New("blob: config: LocalRoot is required for the local backend")
		}
	case BackendS3:
		if err := c.S3.Validate(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("blob: config: Backend %q is not one of %q, %q", c.Backend, BackendLocal, BackendS3)
	}
	for _, b := range c.Buckets {
		if err := validBucket(b); err != nil {
			return fmt.Errorf("blob: config: Buckets: %w", err)
		}
	}
	return nil
}

// Open builds the configured store and makes sure cfg.Buckets exist. The returned store may
// implement io.Closer (Local does); callers that own it should close it when done.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var s Store
	switch cfg.Backend {
	case BackendS3:
		s3, err := NewS3(ctx, cfg.S3)
		if err != nil {
			return nil, err
		}
		s = s3
	default:
		l, err := NewLocal(cfg.LocalRoot)
		if err != nil {
			return nil, err
		}
		s = l
	}
	for _, b := range cfg.Buckets {
		if err := EnsureBucket(ctx, s, b); err != nil {
			if c, ok := s.(io.Closer); ok {
				c.Close()
			}
			return nil, err
		}
	}
	return s, nil
}
