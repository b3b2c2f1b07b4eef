package awsapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxClockSkew is how far a request's X-Amz-Date may be from the server's clock.
const MaxClockSkew = 15 * time.Minute

// ErrUnknownKey is returned by a KeyLookup for an access key it does not hold.
var ErrUnknownKey = errors.New("unknown access key")

// Principal is the authenticated caller of a request.
type Principal struct {
	AccessKeyID string
	// Name is the human-readable owner of the key, recorded as CreatedBy and approver.
	Name string
}

// KeyLookup finds the secret of an access key.
type KeyLookup interface {
	LookupKey(ctx context.Context, accessKeyID string) (secret string, p Principal, err error)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller recorded by the authenticator, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Verifier checks AWS Signature Version 4 on incoming requests.
type Verifier struct {
	Keys KeyLookup
	// Services are the signing names accepted (e.g. "sagemaker", "monitoring").
	Services []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger

	// signingKeys caches derived signing keys: deriving one costs four HMACs, and a client
	// signs every request of a day with the same one.
	keyMu       sync.Mutex
	signingKeys map[signingKeyID]*signingMAC
}

// signingMAC is a derived signing key with HMACs keyed by it, kept for reuse.
type signingMAC struct {
	key  []byte
	macs sync.Pool // hash.Hash
}

// sign returns HMAC-SHA256(key, data) into out.
func (m *signingMAC) sign(data []byte, out *[sha256.Size]byte) {
	h, _ := m.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, m.key)
	}
	h.Reset()
	h.Write(data)
	h.Sum(out[:0])
	m.macs.Put(h)
}

// signingKeyID names a derived signing key.
type signingKeyID struct{ secret, date, region, service string }

// maxSigningKeys bounds the cache; past it the cache starts over.
const maxSigningKeys = 4096

func (v *Verifier) signingKey(secret, date, region, service string) *signingMAC {
	id := signingKeyID{secret, date, region, service}
	v.keyMu.Lock()
	m, ok := v.signingKeys[id]
	v.keyMu.Unlock()
	if ok {
		return m
	}
	m = &signingMAC{key: signingKey(secret, date, region, service)}
	v.keyMu.Lock()
	if v.signingKeys == nil || len(v.signingKeys) >= maxSigningKeys {
		v.signingKeys = map[signingKeyID]*signingMAC{}
	}
	v.signingKeys[id] = m
	v.keyMu.Unlock()
	return m
}

// Middleware authenticates every request before next sees it; a request that fails gets an
// AWS-shaped error and never reaches next.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := v.Verify(r)
		if err != nil {
			WriteError(w, err, v.Log)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Authenticate is Middleware for handlers that do not use the caller's identity: the request
// goes on as it came, without a copy that carries the principal. The runtime's hot path uses it.
func (v *Verifier) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Verify(r); err != nil {
			WriteError(w, err, v.Log)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func authError(code, format string, args ...any) *Error {
	status := http.StatusForbidden
	return NewError(code, status, format, args...)
}

// Verify checks r's signature. It reads and restores the body when the payload hash is not
// given in X-Amz-Content-Sha256.
func (v *Verifier) Verify(r *http.Request) (Principal, error) {
	auth := r.Header.Get("Authorization")
	var q url.Values
	if auth == "" {
		q = r.URL.Query() // only a presigned URL carries its signature in the query
	}
	presigned := auth == "" && q.Get("X-Amz-Algorithm") != ""
	var (
		cred, signedHeaders, signature, amzDate string
	)
	switch {
	case presigned:
		if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
			return Principal{}, authError(CodeInvalidSignature, "Unsupported signing algorithm %q; use AWS4-HMAC-SHA256.", q.Get("X-Amz-Algorithm"))
		}
		cred, signedHeaders, signature, amzDate = q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"), q.Get("X-Amz-Date")
	case auth == "":
		return Principal{}, authError(CodeMissingAuthToken, "Missing Authentication Token: sign requests with AWS Signature Version 4 using a Sluice access key (see the credentials file in the server's data directory).")
	default:
		alg, rest, _ := strings.Cut(auth, " ")
		if alg != "AWS4-HMAC-SHA256" {
			return Principal{}, authError(CodeInvalidSignature, "Unsupported Authorization scheme %q; use AWS4-HMAC-SHA256.", alg)
		}
		for rest != "" {
			var part string
			part, rest, _ = strings.Cut(rest, ",")
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				cred = val
			case "SignedHeaders":
				signedHeaders = val
			case "Signature":
				signature = val
			}
		}
		amzDate = r.Header.Get("X-Amz-Date")
	}
	if cred == "" || signedHeaders == "" || signature == "" {
		return Principal{}, authError(CodeInvalidSignature, "Authorization header requires Credential, SignedHeaders and Signature.")
	}
	akid, scope, _ := strings.Cut(cred, "/")
	date, rest, _ := strings.Cut(scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")
	if akid == "" || date == "" || region == "" || service == "" || term != "aws4_request" {
		return Principal{}, authError(CodeInvalidSignature, "Credential %q should be AKID/yyyymmdd/region/service/aws4_request.", cred)
	}
	if !v.serviceOK(service) {
		return Principal{}, authError(CodeInvalidSignature, "Credential should be scoped to a valid service: %q is not one of %s.", service, strings.Join(v.Services, ", "))
	}
	if amzDate == "" {
		return Principal{}, authError(CodeMissingAuthToken, "Missing X-Amz-Date: signed requests must carry their signing time.")
	}
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return Principal{}, authError(CodeInvalidSignature, "X-Amz-Date %q is not in the form yyyymmddThhmmssZ.", amzDate)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if skew := now().Sub(t); skew > MaxClockSkew || skew < -MaxClockSkew {
		return Principal{}, authError(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.) or later than %s; check the client's clock.",
			amzDate, now().UTC().Add(-MaxClockSkew).Format("20060102T150405Z"), now().UTC().Format("20060102T150405Z"), now().UTC().Add(MaxClockSkew).Format("20060102T150405Z"))
	}
	if date != amzDate[:8] {
		return Principal{}, authError(CodeInvalidSignature, "Credential date %s does not match X-Amz-Date %s.", date, amzDate)
	}
	secret, p, err := v.Keys.LookupKey(r.Context(), akid)
	if errors.Is(err, ErrUnknownKey) {
		return Principal{}, authError(CodeUnrecognizedClient, "The security token included in the request is invalid: access key %q is not known to this server.", akid)
	}
	if err != nil {
		return Principal{}, err
	}

	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if presigned {
		payloadHash = "UNSIGNED-PAYLOAD"
	}
	if payloadHash == "" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return Principal{}, NewError(CodeSerialization, http.StatusBadRequest, "Cannot read request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	buf := canonicalBufs.Get().(*[]byte)
	*buf = appendCanonicalRequest((*buf)[:0], r, signedHeaders, payloadHash, presigned)
	sum := sha256.Sum256(*buf)
	canonicalBufs.Put(buf)
	// The string to sign: algorithm, time, scope and the canonical request's digest.
	var stsBuf [256]byte
	sts := append(stsBuf[:0], "AWS4-HMAC-SHA256\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum[:])
	var mac [sha256.Size]byte
	var want [2 * sha256.Size]byte
	v.signingKey(secret, date, region, service).sign(sts, &mac)
	hex.Encode(want[:], mac[:])
	if !equalConstantTime(want[:], signature) {
		return Principal{}, authError(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return p, nil
}

// equalConstantTime compares a computed signature with the one sent, in time that does not
// depend on where they differ.
func equalConstantTime(want []byte, got string) bool {
	if len(want) != len(got) {
		return false
	}
	var d byte
	for i := range want {
		d |= want[i] ^ got[i]
	}
	return d == 0
}

func (v *Verifier) serviceOK(s string) bool {
	for _, x := range v.Services {
		if x == s {
			return true
		}
	}
	return false
}

// signingKey derives the SigV4 signing key.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// appendCanonicalRequest appends the canonical request to b, which callers reuse, so that
// building it allocates nothing in the usual case.
func appendCanonicalRequest(b []byte, r *http.Request, signedHeaders, payloadHash string, presigned bool) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, canonicalPath(r.URL)...)
	b = append(b, '\n')
	if r.URL.RawQuery != "" {
		b = append(b, canonicalQuery(r.URL.Query(), presigned)...)
	}
	b = append(b, '\n')
	for rest := signedHeaders; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		b = append(b, h...)
		b = append(b, ':')
		if h == "host" {
			b = append(b, r.Host...)
			b = append(b, '\n')
			continue
		}
		vals := headerValues(r.Header, h)
		if h == "content-length" && len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{itoa(r.ContentLength)}
		}
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			if trimmed(v) {
				b = append(b, v...)
			} else {
				b = append(b, strings.Join(strings.Fields(v), " ")...)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	return append(b, payloadHash...)
}

// canonicalBufs are the buffers canonical requests are built in.
var canonicalBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// headerValues looks up a signed header, named in lower case, without allocating its
// canonical form.
func headerValues(h http.Header, lower string) []string {
	var buf [64]byte
	if len(lower) > len(buf) {
		return h.Values(lower)
	}
	upper := true
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[i] = c
		upper = c == '-'
	}
	return h[string(buf[:len(lower)])]
}

// trimmed reports whether a header value is already in canonical form: no leading, trailing
// or repeated spaces and no other whitespace, which is what clients almost always send.
func trimmed(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ':
			if i == 0 || i == len(v)-1 || v[i-1] == ' ' {
				return false
			}
		case c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c >= 0x80:
			return false
		}
	}
	return true
}

// unreservedPath reports whether an escaped path holds only unreserved characters and slashes,
// so escaping its segments again would change nothing.
func unreservedPath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			return false
		}
	}
	return true
}

// canonicalPath is the URI path as AWS SDKs sign it for services other than S3: each segment of
// the already-escaped path is escaped once more.
func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	if unreservedPath(p) {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(q url.Values, presigned bool) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

// uriEncode escapes everything but RFC 3986 unreserved characters.
func uriEncode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// CheckPayloadHash compares a body with the digest the client signed in X-Amz-Content-Sha256.
// The signature covers the header, not the body, so without this check a body could be swapped
// after signing. Headers that are not a digest (absent, UNSIGNED-PAYLOAD, streaming) are left to
// Verify, which hashes the body itself when the header is absent.
func CheckPayloadHash(r *http.Request, sum [sha256.Size]byte) error {
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if len(declared) != 2*sha256.Size {
		return nil
	}
	want, err := hex.DecodeString(declared)
	if err != nil {
		return Validation("X-Amz-Content-Sha256 %q is not a hex SHA-256 digest.", declared)
	}
	if !hmac.Equal(want, sum[:]) {
		return NewError(CodeInvalidSignature, http.StatusForbidden, "The payload does not match its X-Amz-Content-Sha256 digest; it was changed after signing.")
	}
	return nil
}
