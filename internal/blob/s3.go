package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config configures the S3 backend.
type S3Config struct {
	// Endpoint is the server's base URL, e.g. "http://127.0.0.1:7070" or
	// "https://s3.us-east-1.amazonaws.com". Without a scheme, https is assumed.
	Endpoint string
	// Region signs requests and places new buckets; empty means "us-east-1".
	Region string
	// AccessKey and SecretKey are static credentials; SessionToken is optional.
	AccessKey    string
	SecretKey    string
	SessionToken string
	// PathStyle addresses buckets as http://endpoint/bucket instead of http://bucket.endpoint,
	// as most self-hosted servers need. When false the client picks (virtual-host style on AWS).
	PathStyle bool
	// PartSize is the multipart upload part size in bytes for Puts of unknown size; each upload
	// buffers one part in memory. Zero means 16 MiB, which allows objects up to 160 GB.
	PartSize int64
}

// defaultPartSize bounds the memory of a streaming Put (one part is buffered at a time).
const defaultPartSize = 16 << 20

// Validate reports the first configuration problem, naming the field.
func (c S3Config) Validate() error {
	if c.Endpoint == "" {
		return errors.New("blob: s3 config: Endpoint is required")
	}
	if _, _, err := c.hostAndTLS(); err != nil {
		return err
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("blob: s3 config: AccessKey and SecretKey must be set together")
	}
	if c.PartSize != 0 && c.PartSize < 5<<20 {
		return fmt.Errorf("blob: s3 config: PartSize %d is below S3's minimum of 5 MiB", c.PartSize)
	}
	return nil
}

func (c S3Config) hostAndTLS() (host string, secure bool, err error) {
	if !strings.Contains(c.Endpoint, "://") {
		return c.Endpoint, true, nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return "", false, fmt.Errorf("blob: s3 config: Endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("blob: s3 config: Endpoint %q: scheme must be http or https", c.Endpoint)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("blob: s3 config: Endpoint %q must be a base URL without path, query or credentials", c.Endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// S3 is the backend for S3-compatible servers.
type S3 struct {
	client   *minio.Client
	region   string
	partSize uint64
}

// NewS3 builds a client for the configured server. It does not contact the server, so a server
// that starts after Sluice is not an error here; the first request reports it. ctx bounds future
// credential lookups and is currently unused.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, secure, _ := cfg.hostAndTLS()
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: s3 client: %w", err)
	}
	ps := uint64(defaultPartSize)
	if cfg.PartSize > 0 {
		ps = uint64(cfg.PartSize)
	}
	return &S3{client: client, region: region, partSize: ps}, nil
}

// s3Error maps a server error to ErrNotExist where it means a missing object or bucket.
func s3Error(op string, u URI, err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch {
		case er.Code == "NoSuchBucket":
			return fmt.Errorf("blob: %s %s: bucket %q does not exist: %w", op, u, u.Bucket, ErrNotExist)
		case er.Code == "NoSuchKey" || er.Code == "NotFound" || er.StatusCode == http.StatusNotFound:
			return fmt.Errorf("blob: %s %s: %w", op, u, ErrNotExist)
		}
	}
	return fmt.Errorf("blob: %s %s: %w", op, u, err)
}

// EnsureBucket creates the bucket if it does not exist.
func (s *S3) EnsureBucket(ctx context.Context, bucket string) error {
	if err := validBucket(bucket); err != nil {
		return fmt.Errorf("blob: ensure bucket: %w", err)
	}
	ok, err := s.client.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("blob: ensure bucket %q: %w", bucket, err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil {
		// Another process may have created it in the meantime.
		var er minio.ErrorResponse
		if errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists") {
			return nil
		}
		return fmt.Errorf("blob: ensure bucket %q: %w", bucket, err)
	}
	return nil
}

// Put implements Store. S3 commits an object only when the upload completes, which makes Put
// atomic; a stream of unknown size is uploaded in parts of S3Config.PartSize. Unlike Local, the
// bucket must exist (see EnsureBucket); a missing one yields an error wrapping ErrNotExist.
func (s *S3) Put(ctx context.Context, u URI, r io.Reader, size int64) error {
	if err := u.validObject(); err != nil {
		return fmt.Errorf("blob: put: %w", err)
	}
	opts := minio.PutObjectOptions{PartSize: s.partSize}
	var exact *exactReader
	if size >= 0 {
		// Hold the client to the promised size and recognise a short reader ourselves, so that
		// both backends report it the same way.
		exact = &exactReader{r: r, left: size}
		r = exact
	}
	_, err := s.client.PutObject(ctx, u.Bucket, u.Key, r, size, opts)
	if err != nil {
		if exact != nil && exact.short {
			return fmt.Errorf("blob: put %s: reader ended after %d of %d bytes: %w", u, size-exact.left, size, io.ErrUnexpectedEOF)
		}
		return s3Error("put", u, err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, u URI) (io.ReadCloser, error) {
	if err := u.validObject(); err != nil {
		return nil, fmt.Errorf("blob: get: %w", err)
	}
	// One GET streams one consistent version of the object. (minio.Client.GetObject would send a
	// HEAD first and then a GET conditional on the ETag, which fails while another writer
	// replaces the object.)
	body, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, u.Bucket, u.Key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error("get", u, err)
	}
	return body, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, u URI) (ObjectInfo, error) {
	if err := u.validObject(); err != nil {
		return ObjectInfo{}, fmt.Errorf("blob: stat: %w", err)
	}
	oi, err := s.client.StatObject(ctx, u.Bucket, u.Key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s3Error("stat", u, err)
	}
	return ObjectInfo{URI: u, Size: oi.Size, ModTime: oi.LastModified, ETag: strings.Trim(oi.ETag, `"`)}, nil
}

// List implements Store. Keys that no URI can address — folder markers ending in "/", keys with
// empty, "." or ".." segments written by other tools — are skipped, so everything List reports
// can be passed back to Get and downloaded safely.
func (s *S3) List(ctx context.Context, prefix URI, fn func(ObjectInfo) error) error {
	if err := prefix.Validate(); err != nil {
		return fmt.Errorf("blob: list: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the client's listing goroutine when fn ends the walk early
	for oi := range s.client.ListObjects(ctx, prefix.Bucket, minio.ListObjectsOptions{Prefix: prefix.Key, Recursive: true}) {
		if oi.Err != nil {
			return s3Error("list", prefix, oi.Err)
		}
		if strings.HasSuffix(oi.Key, "/") || validKey(oi.Key) != nil {
			continue
		}
		info := ObjectInfo{
			URI:     URI{Bucket: prefix.Bucket, Key: oi.Key},
			Size:    oi.Size,
			ModTime: oi.LastModified,
			ETag:    strings.Trim(oi.ETag, `"`),
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, u URI) error {
	if err := u.validObject(); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	if err := s.client.RemoveObject(ctx, u.Bucket, u.Key, minio.RemoveObjectOptions{}); err != nil {
		err = s3Error("delete", u, err)
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.Code == "NoSuchKey" {
			return nil // some servers report it; S3 itself does not
		}
		return err
	}
	return nil
}

// exactReader reads exactly left bytes from r and notes whether r ended before that.
type exactReader struct {
	r     io.Reader
	left  int64
	short bool
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		e.short = true
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
