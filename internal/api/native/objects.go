package native

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
)

// The objects API serves the artifact store over HTTP, so that `sluice cp` and `sluice ls` work
// the same against a local or a remote server and whichever backend it uses:
//
//	GET    /api/v1/objects/{bucket}?prefix=P&after=K&limit=N   list keys after K under P
//	GET    /api/v1/objects/{bucket}/{key...}                   read an object (HEAD: describe it)
//	PUT    /api/v1/objects/{bucket}/{key...}                   write an object (atomically)
//	DELETE /api/v1/objects/{bucket}/{key...}                   delete an object
//
// A PUT whose X-Amz-Content-Sha256 header holds a digest is checked against the body as it
// streams in; a body that does not match is refused and the old object stays.

func (a *API) registerObjects(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/objects/{bucket}", handler(a.listObjects, a.Log))
	mux.HandleFunc("GET /api/v1/objects/{bucket}/{key...}", a.getObject)
	mux.Handle("PUT /api/v1/objects/{bucket}/{key...}", handler(a.putObject, a.Log))
	mux.Handle("DELETE /api/v1/objects/{bucket}/{key...}", handler(a.deleteObject, a.Log))
}

// ObjectInfo describes one object in API answers.
type ObjectInfo struct {
	URI      string    `json:"uri"`
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	ETag     string    `json:"etag,omitempty"`
}

// ObjectPage is one page of a listing; Next, when set, is the `after` of the next page.
type ObjectPage struct {
	Objects []ObjectInfo `json:"objects"`
	Next    string       `json:"next,omitempty"`
}

func objectInfo(o blob.ObjectInfo) ObjectInfo {
	return ObjectInfo{URI: o.URI.String(), Key: o.URI.Key, Size: o.Size, Modified: o.ModTime.UTC(), ETag: o.ETag}
}

// blobError maps artifact store errors to API errors.
func blobError(err error) error {
	switch {
	case errors.Is(err, blob.ErrInvalidURI):
		return BadRequest("%s", strings.TrimPrefix(err.Error(), "blob: "))
	case errors.Is(err, blob.ErrNotExist):
		return NotFound("%s", strings.TrimPrefix(err.Error(), "blob: "))
	}
	return err
}

func (a *API) objectURI(r *http.Request) (blob.URI, error) {
	if a.Blob == nil {
		return blob.URI{}, &Error{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "the artifact store is not enabled on this server"}
	}
	u := blob.URI{Bucket: r.PathValue("bucket"), Key: r.PathValue("key")}
	if err := u.Validate(); err != nil {
		return u, blobError(err)
	}
	if u.IsPrefix() {
		return u, BadRequest("%s names a prefix, not an object; list it with GET /api/v1/objects/%s?prefix=%s", u, u.Bucket, u.Key)
	}
	return u, nil
}

// errPageFull ends a listing once a page is full.
var errPageFull = errors.New("page full")

func (a *API) listObjects(r *http.Request) (any, error) {
	if a.Blob == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "the artifact store is not enabled on this server"}
	}
	q := r.URL.Query()
	prefix := blob.URI{Bucket: r.PathValue("bucket"), Key: q.Get("prefix")}
	if err := prefix.Validate(); err != nil {
		return nil, blobError(err)
	}
	limit, err := intParam(r, "limit", 1000, 1, 10000)
	if err != nil {
		return nil, err
	}
	after := q.Get("after")
	page := ObjectPage{Objects: []ObjectInfo{}}
	err = a.Blob.List(r.Context(), prefix, func(o blob.ObjectInfo) error {
		if after != "" && o.URI.Key <= after {
			return nil
		}
		if int64(len(page.Objects)) == limit {
			page.Next = page.Objects[len(page.Objects)-1].Key
			return errPageFull
		}
		page.Objects = append(page.Objects, objectInfo(o))
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, blobError(err)
	}
	return page, nil
}

func (a *API) getObject(w http.ResponseWriter, r *http.Request) {
	u, err := a.objectURI(r)
	if err != nil {
		WriteError(w, err, a.Log)
		return
	}
	info, err := a.Blob.Stat(r.Context(), u)
	if err != nil {
		WriteError(w, blobError(err), a.Log)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	if info.ETag != "" {
		h.Set("ETag", `"`+info.ETag+`"`)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	rc, err := a.Blob.Get(r.Context(), u)
	if err != nil {
		h.Del("Content-Length")
		WriteError(w, blobError(err), a.Log)
		return
	}
	defer rc.Close()
	w.WriteHeader(http.StatusOK)
	io.Copy(w, rc)
}

// checkedBody passes a request body through and, at its end (its declared length, or EOF),
// compares its SHA-256 with the digest the client signed; a mismatch fails the read, and with
// it the Put, before the object is replaced.
type checkedBody struct {
	r    io.Reader
	h    hash.Hash
	want string
	// left is the number of bytes still expected, or -1 when the length is unknown.
	left    int64
	checked bool
}

// Read implements io.Reader.
func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if c.left >= 0 {
		c.left -= int64(n)
	}
	if (err == io.EOF || c.left == 0) && !c.checked {
		c.checked = true
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			// The last bytes are withheld: a copy that got all the bytes it was told to expect
			// would otherwise succeed and never see the error.
			return 0, fmt.Errorf("the body's SHA-256 %s does not match X-Amz-Content-Sha256 %s", got, c.want)
		}
	}
	return n, err
}

func (a *API) putObject(r *http.Request) (any, error) {
	u, err := a.objectURI(r)
	if err != nil {
		return nil, err
	}
	var body io.Reader = r.Body
	if want := strings.ToLower(r.Header.Get("X-Amz-Content-Sha256")); len(want) == 64 {
		if _, err := hex.DecodeString(want); err == nil {
			body = &checkedBody{r: r.Body, h: sha256.New(), want: want, left: r.ContentLength}
		}
	}
	if err := blob.EnsureBucket(r.Context(), a.Blob, u.Bucket); err != nil {
		return nil, blobError(err)
	}
	if err := a.Blob.Put(r.Context(), u, body, r.ContentLength); err != nil {
		if _, ok := body.(*checkedBody); ok && strings.Contains(err.Error(), "does not match X-Amz-Content-Sha256") {
			return nil, BadRequest("upload of %s refused: %v", u, err)
		}
		return nil, blobError(err)
	}
	info, err := a.Blob.Stat(r.Context(), u)
	if err != nil {
		return nil, blobError(err)
	}
	return objectInfo(info), nil
}

func (a *API) deleteObject(r *http.Request) (any, error) {
	u, err := a.objectURI(r)
	if err != nil {
		return nil, err
	}
	if err := a.Blob.Delete(r.Context(), u); err != nil {
		return nil, blobError(err)
	}
	return map[string]string{"deleted": u.String()}, nil
}
