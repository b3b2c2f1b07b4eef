package blob

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    URI
		wantErr string // substring of the error; empty means success
	}{
		{name: "object", in: "s3://my-bucket/data/train.csv", want: URI{"my-bucket", "data/train.csv"}},
		{name: "prefix", in: "s3://my-bucket/data/", want: URI{"my-bucket", "data/"}},
		{name: "bucket root with slash", in: "s3://my-bucket/", want: URI{"my-bucket", ""}},
		{name: "bucket root without slash", in: "s3://my-bucket", want: URI{"my-bucket", ""}},
		{name: "dots and digits in bucket", in: "s3://a.b-1/k", want: URI{"a.b-1", "k"}},
		{name: "unicode key", in: "s3://bkt/données/été.csv", want: URI{"bkt", "données/été.csv"}},
		{name: "spaces and symbols in key", in: "s3://bkt/a b/c+d=e&f.txt", want: URI{"bkt", "a b/c+d=e&f.txt"}},
		{name: "dot inside segment", in: "s3://bkt/a/..b/c..", want: URI{"bkt", "a/..b/c.."}},

		{name: "wrong scheme", in: "https://bkt/k", wantErr: "must start with s3://"},
		{name: "no scheme", in: "bkt/k", wantErr: "must start with s3://"},
		{name: "empty bucket", in: "s3:///k", wantErr: "bucket name is empty"},
		{name: "short bucket", in: "s3://ab/k", wantErr: "3 to 63"},
		{name: "long bucket", in: "s3://" + strings.Repeat("a", 64) + "/k", wantErr: "3 to 63"},
		{name: "uppercase bucket", in: "s3://MyBucket/k", wantErr: "lowercase"},
		{name: "underscore bucket", in: "s3://my_bucket/k", wantErr: "lowercase"},
		{name: "bucket starts with dash", in: "s3://-bucket/k", wantErr: "begin and end"},
		{name: "bucket ends with dot", in: "s3://bucket./k", wantErr: "begin and end"},
		{name: "adjacent periods", in: "s3://a..b/k", wantErr: "adjacent periods"},
		{name: "ip bucket", in: "s3://192.168.5.4/k", wantErr: "IP address"},
		{name: "xn prefix", in: "s3://xn--bucket/k", wantErr: "must not start"},
		{name: "s3alias suffix", in: "s3://bucket-s3alias/k", wantErr: "must not end"},
		{name: "parent traversal", in: "s3://bkt/../../etc/passwd", wantErr: `".." path segment`},
		{name: "inner parent segment", in: "s3://bkt/a/../b", wantErr: `".." path segment`},
		{name: "trailing parent segment", in: "s3://bkt/a/..", wantErr: `".." path segment`},
		{name: "dot segment", in: "s3://bkt/a/./b", wantErr: `"." path segment`},
		{name: "leading slash", in: "s3://bkt//etc/passwd", wantErr: "empty path segment"},
		{name: "double slash", in: "s3://bkt/a//b", wantErr: "empty path segment"},
		{name: "only slash key", in: "s3://bkt//", wantErr: "empty path segment"},
		{name: "nul byte", in: "s3://bkt/a\x00b", wantErr: "NUL"},
		{name: "invalid utf8", in: "s3://bkt/a\xffb", wantErr: "UTF-8"},
		{name: "key too long", in: "s3://bkt/" + strings.Repeat("k", 1025), wantErr: "limit is 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseURI(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseURI(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidURI) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURI(%q) error = %v, want ErrInvalidURI containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// Round trip, except that a bare bucket gains its slash.
			if again, err := ParseURI(got.String()); err != nil || again != got {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestURIJoinBase(t *testing.T) {
	tests := []struct {
		name     string
		uri      URI
		rel      string
		want     string
		wantBase string
	}{
		{name: "root", uri: URI{"bkt", ""}, rel: "a.txt", want: "s3://bkt/a.txt", wantBase: "a.txt"},
		{name: "folder", uri: URI{"bkt", "out/"}, rel: "a.txt", want: "s3://bkt/out/a.txt", wantBase: "a.txt"},
		{name: "no slash", uri: URI{"bkt", "out"}, rel: "sub/a.txt", want: "s3://bkt/out/sub/a.txt", wantBase: "a.txt"},
		{name: "rel with slash", uri: URI{"bkt", "out"}, rel: "/a", want: "s3://bkt/out/a", wantBase: "a"},
		{name: "rel folder", uri: URI{"bkt", "out"}, rel: "d/", want: "s3://bkt/out/d/", wantBase: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.uri.Join(tt.rel)
			if got.String() != tt.want {
				t.Fatalf("Join = %s, want %s", got, tt.want)
			}
			if got.Base() != tt.wantBase {
				t.Fatalf("Base = %q, want %q", got.Base(), tt.wantBase)
			}
		})
	}
}
