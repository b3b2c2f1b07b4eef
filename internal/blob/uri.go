package blob

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// ErrInvalidURI is wrapped by every error about a malformed s3:// URI, an invalid bucket name or
// a key that cannot be stored safely (for example one with a ".." segment).
var ErrInvalidURI = errors.New("invalid s3 uri")

// maxKeyLen is S3's limit on the UTF-8 length of an object key.
const maxKeyLen = 1024

// URI addresses an object or a key prefix as s3://Bucket/Key.
//
// A Key that is empty or ends in "/" names a prefix (a "folder"); any other Key names an object
// when used with Put, Get, Stat and Delete, and a key-name prefix when used with List.
type URI struct {
	Bucket string
	Key    string
}

// ParseURI parses s3://bucket/key. The bucket must follow S3's general-purpose bucket naming
// rules. The key may be empty (the root of the bucket). Keys must be valid UTF-8, at most 1024
// bytes, and are refused when a segment is empty ("a//b", a leading "/"), "." or "..", because such
// keys cannot be mapped to files without ambiguity or escape; only a final "/" is allowed.
func ParseURI(s string) (URI, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return URI{}, fmt.Errorf("blob: parse %q: %w: must start with s3://", s, ErrInvalidURI)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	u := URI{Bucket: bucket, Key: key}
	if err := u.Validate(); err != nil {
		return URI{}, fmt.Errorf("blob: parse %q: %w", s, err)
	}
	return u, nil
}

// MustParseURI is ParseURI for constants in tests and examples; it panics on error.
func MustParseURI(s string) URI {
	u, err := ParseURI(s)
	if err != nil {
		panic(err)
	}
	return u
}

// String returns the URI as s3://bucket/key.
func (u URI) String() string {
	return "s3://" + u.Bucket + "/" + u.Key
}

// IsPrefix reports whether the URI names a prefix: the bucket root or a key ending in "/".
func (u URI) IsPrefix() bool {
	return u.Key == "" || strings.HasSuffix(u.Key, "/")
}

// Join returns the URI with rel appended to the key, separated by exactly one "/" (none when the
// key is empty or already ends in "/"). The result is not validated; stores validate on use.
func (u URI) Join(rel string) URI {
	rel = strings.TrimPrefix(rel, "/")
	switch {
	case u.Key == "" || strings.HasSuffix(u.Key, "/"):
		u.Key += rel
	default:
		u.Key += "/" + rel
	}
	return u
}

// Base returns the last segment of the key ("" for a prefix).
func (u URI) Base() string {
	return u.Key[strings.LastIndexByte(u.Key, '/')+1:]
}

// Validate checks the bucket name and the key as ParseURI does. It lets callers that build a URI
// as a struct literal check it before use; stores call it on every operation.
func (u URI) Validate() error {
	if err := validBucket(u.Bucket); err != nil {
		return err
	}
	return validKey(u.Key)
}

// validObject checks that u names an object, not a prefix.
func (u URI) validObject() error {
	if err := u.Validate(); err != nil {
		return err
	}
	if u.IsPrefix() {
		return fmt.Errorf("%w: %s names a prefix, not an object (the key is empty or ends in /)", ErrInvalidURI, u)
	}
	return nil
}

// validBucket applies S3's rules for general-purpose bucket names. The local backend relies on
// them too: a valid name is always a single, harmless folder name.
func validBucket(b string) error {
	if b == "" {
		return fmt.Errorf("%w: the bucket name is empty", ErrInvalidURI)
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%w: bucket name %q must be 3 to 63 characters long", ErrInvalidURI, b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("%w: bucket name %q may contain only lowercase letters, digits, '.' and '-'", ErrInvalidURI, b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("%w: bucket name %q must begin and end with a letter or digit", ErrInvalidURI, b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("%w: bucket name %q must not contain two adjacent periods", ErrInvalidURI, b)
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return fmt.Errorf("%w: bucket name %q must not be an IP address", ErrInvalidURI, b)
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return fmt.Errorf("%w: bucket name %q must not start with %q", ErrInvalidURI, b, p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return fmt.Errorf("%w: bucket name %q must not end with %q", ErrInvalidURI, b, s)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validKey checks a key or key prefix. S3 itself accepts ".." and empty segments, but every key we
// accept must map to exactly one relative file path on the local backend and in downloads.
func validKey(k string) error {
	if len(k) > maxKeyLen {
		return fmt.Errorf("%w: key is %d bytes long, the limit is %d", ErrInvalidURI, len(k), maxKeyLen)
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("%w: key %q is not valid UTF-8", ErrInvalidURI, k)
	}
	if strings.IndexByte(k, 0) >= 0 {
		return fmt.Errorf("%w: key %q contains a NUL byte", ErrInvalidURI, k)
	}
	if k == "" {
		return nil
	}
	segs := strings.Split(strings.TrimSuffix(k, "/"), "/")
	for _, s := range segs {
		switch s {
		case "":
			return fmt.Errorf("%w: key %q has an empty path segment (a leading or doubled /)", ErrInvalidURI, k)
		case ".", "..":
			return fmt.Errorf("%w: key %q has a %q path segment", ErrInvalidURI, k, s)
		}
	}
	return nil
}
