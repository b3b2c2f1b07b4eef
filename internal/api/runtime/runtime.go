// Package runtime serves SageMaker's runtime API (sagemaker-runtime, rest-json):
// InvokeEndpoint at POST /endpoints/{name}/invocations. It reads the request, asks the router,
// and writes the model's answer or one of the runtime's error shapes. It holds no business rules.
package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/serving"
)

// Error codes of the runtime API.
const (
	CodeValidation       = "ValidationError"
	CodeModelError       = "ModelError"
	CodeModelNotReady    = "ModelNotReadyException"
	CodeServiceUnavail   = "ServiceUnavailable"
	CodeInternalFailure  = "InternalFailure"
	maxCustomAttributes  = 1024
	maxInferenceIDLength = 64
)

// Endpoints tells whether an endpoint exists when the router does not serve it;
// *hosting.Service is the implementation.
type Endpoints interface {
	DescribeEndpoint(ctx context.Context, name string) (hosting.Endpoint, error)
}

// Handler serves InvokeEndpoint.
type Handler struct {
	Router    *serving.Router
	Endpoints Endpoints
	Region    string
	AccountID string
	Log       *slog.Logger

	pool sync.Pool // *invocation
}

// invocation holds the buffers of one request, reused across requests.
type invocation struct {
	req  serving.Request
	resp serving.Response
	in   []byte
}

// maxPooledBuffer keeps a rare large payload from pinning its memory in the pool.
const maxPooledBuffer = 1 << 20

// Register mounts InvokeEndpoint on mux behind auth (SigV4 verification). Oversized payloads are
// refused before auth reads them.
func (h *Handler) Register(mux *http.ServeMux, auth func(http.Handler) http.Handler) {
	mux.Handle("POST /endpoints/{name}/invocations", h.limit(auth(h)))
}

// limit refuses a declared payload over 6 MB at once and caps what an undeclared one may send.
func (h *Handler) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > serving.MaxPayload {
			writeError(w, tooLarge(r.ContentLength), h.Log)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, serving.MaxPayload)
		next.ServeHTTP(w, r)
	})
}

func tooLarge(n int64) *awsapi.Error {
	return awsapi.NewError(CodeValidation, http.StatusRequestEntityTooLarge,
		"Received a payload of %d bytes; InvokeEndpoint accepts at most %d bytes (6 MB). Split the request into smaller batches.", n, serving.MaxPayload)
}

// header reads a header by its canonical name without canonicalising it again.
func header(r *http.Request, canonical string) string {
	if v := r.Header[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Response header values the native model server uses, shared so that setting them costs no
// allocation.
var (
	ctCSV       = []string{"text/csv"}
	ctJSON      = []string{"application/json"}
	ctJSONLines = []string{"application/jsonlines"}
	ctOctets    = []string{"application/octet-stream"}
)

func contentTypeHeader(ct string) []string {
	switch ct {
	case "text/csv":
		return ctCSV
	case "application/json":
		return ctJSON
	case "application/jsonlines":
		return ctJSONLines
	case "":
		return ctOctets
	}
	return []string{ct}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	inv, _ := h.pool.Get().(*invocation)
	if inv == nil {
		inv = &invocation{}
	}
	defer h.put(inv)

	var err error
	inv.in, err = readAll(inv.in[:0], r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, tooLarge(mbe.Limit+1), h.Log)
			return
		}
		writeError(w, awsapi.NewError(CodeValidation, http.StatusBadRequest, "Cannot read the request payload: %v", err), h.Log)
		return
	}
	if err := checkPayloadHash(header(r, "X-Amz-Content-Sha256"), inv.in); err != nil {
		writeError(w, err, h.Log)
		return
	}
	req := &inv.req
	*req = serving.Request{
		Body:             inv.in,
		ContentType:      header(r, "Content-Type"),
		Accept:           header(r, "Accept"),
		CustomAttributes: header(r, "X-Amzn-Sagemaker-Custom-Attributes"),
		InferenceID:      header(r, "X-Amzn-Sagemaker-Inference-Id"),
		TargetVariant:    header(r, "X-Amzn-Sagemaker-Target-Variant"),
	}
	if err := validate(req); err != nil {
		writeError(w, err, h.Log)
		return
	}
	resp := &inv.resp
	resp.Reset()
	call, err := h.Router.Invoke(r.Context(), name, req, resp)
	if err != nil {
		writeError(w, h.invokeError(r.Context(), name, req, err), h.Log)
		call.Finish(time.Since(start))
		return
	}
	if !resp.OK() {
		writeError(w, h.modelError(name, call.Variant(), resp), h.Log)
		call.Finish(time.Since(start))
		return
	}
	hd := w.Header()
	hd["Content-Type"] = contentTypeHeader(resp.ContentType)
	hd["X-Amzn-Invoked-Production-Variant"] = call.VariantHeader()
	if resp.CustomAttributes != "" {
		hd["X-Amzn-Sagemaker-Custom-Attributes"] = []string{resp.CustomAttributes}
	}
	w.Write(resp.Body)
	call.Finish(time.Since(start))
}

func (h *Handler) put(inv *invocation) {
	if cap(inv.in) > maxPooledBuffer || cap(inv.resp.Body) > maxPooledBuffer {
		return
	}
	inv.req = serving.Request{}
	h.pool.Put(inv)
}

// readAll appends r to buf, reusing its capacity.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// checkPayloadHash holds the payload to the digest it was signed with. The SigV4 verifier signs
// over X-Amz-Content-Sha256 when a client sends it, without reading the body, so the body must be
// checked against it here.
func checkPayloadHash(declared string, body []byte) error {
	if len(declared) != 2*sha256.Size {
		return nil // absent (the verifier hashed the body itself) or UNSIGNED-PAYLOAD
	}
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], []byte(declared)); err != nil {
		return awsapi.NewError(CodeValidation, http.StatusBadRequest, "X-Amz-Content-Sha256 %q is not a hex SHA-256 digest.", declared)
	}
	if sha256.Sum256(body) != want {
		return awsapi.NewError(awsapi.CodeInvalidSignature, http.StatusForbidden, "The payload does not match its X-Amz-Content-Sha256 digest; it was changed after signing.")
	}
	return nil
}

func validate(req *serving.Request) error {
	var v awsapi.Validator
	v.Length("customAttributes", req.CustomAttributes, 0, maxCustomAttributes)
	v.Length("targetVariant", req.TargetVariant, 0, 63)
	v.Length("inferenceId", req.InferenceID, 0, maxInferenceIDLength)
	if err := v.Err(); err != nil {
		e, _ := awsapi.AsError(err)
		e.Code = CodeValidation
		return e
	}
	return nil
}

// invokeError explains why the router could not get an answer.
func (h *Handler) invokeError(ctx context.Context, name string, req *serving.Request, err error) error {
	switch {
	case errors.Is(err, serving.ErrNoEndpoint):
		return h.notServed(ctx, name)
	case errors.Is(err, serving.ErrNoVariant):
		return awsapi.NewError(CodeValidation, http.StatusBadRequest, "The variant %q is not part of endpoint %s; name one of its production variants in TargetVariant.", req.TargetVariant, name)
	case errors.Is(err, serving.ErrModelTimeout):
		return awsapi.NewError(CodeModelError, http.StatusFailedDependency,
			"Your invocation timed out while waiting for a response from container primary (%s). Review the model's latency, or send smaller requests.", trimCause(err))
	case errors.Is(err, serving.ErrResponseTooLarge):
		return awsapi.NewError(CodeModelError, http.StatusFailedDependency, "The model's response exceeds %d bytes (6 MB), the largest InvokeEndpoint returns.", serving.MaxPayload)
	case errors.Is(err, serving.ErrOverloaded):
		return awsapi.NewError(CodeServiceUnavail, http.StatusServiceUnavailable, "Endpoint %s is at capacity: %s. Retry later, or add instances with UpdateEndpointWeightsAndCapacities.", name, trimCause(err))
	case errors.Is(err, serving.ErrUnavailable):
		return awsapi.NewError(CodeServiceUnavail, http.StatusServiceUnavailable, "Endpoint %s cannot take the request now: %s. Retry later.", name, trimCause(err))
	case errors.Is(err, context.Canceled):
		return err
	}
	return err
}

// notServed tells a missing endpoint (ValidationError, as SageMaker answers) from one that
// exists but is not taking traffic.
func (h *Handler) notServed(ctx context.Context, name string) error {
	e, err := h.Endpoints.DescribeEndpoint(ctx, name)
	if errors.Is(err, hosting.ErrNotFound) {
		return awsapi.NewError(CodeValidation, http.StatusBadRequest, "Endpoint %s of account %s not found.", name, h.AccountID)
	}
	if err != nil {
		return err
	}
	switch e.EndpointStatus {
	case hosting.StatusInService, hosting.StatusUpdating:
		return awsapi.NewError(CodeServiceUnavail, http.StatusServiceUnavailable, "Endpoint %s is starting its model servers; retry in a moment.", name)
	}
	return awsapi.NewError(CodeValidation, http.StatusBadRequest, "Endpoint %s is %s; it takes requests once it is InService.", name, e.EndpointStatus)
}

// modelError reports a model's own error status as SageMaker's ModelError.
func (h *Handler) modelError(name, variant string, resp *serving.Response) error {
	kind := "client"
	if resp.Status >= 500 {
		kind = "server"
	}
	body := string(resp.Body)
	return &awsapi.Error{
		Code:   CodeModelError,
		Status: http.StatusFailedDependency,
		Message: fmt.Sprintf("Received %s error (%d) from primary with message %q. See the logs of endpoint %s, variant %s, for more information.",
			kind, resp.Status, body, name, variant),
		Extra: map[string]any{
			"OriginalStatusCode": resp.Status,
			"OriginalMessage":    body,
			"LogStreamArn":       fmt.Sprintf("arn:aws:logs:%s:%s:log-group:/aws/sagemaker/Endpoints/%s", h.Region, h.AccountID, name),
		},
	}
}

// trimCause keeps the part of a serving error after its package prefix.
func trimCause(err error) string {
	s := err.Error()
	const p = "serving: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// writeError writes err in the runtime's rest-json error shape: the code in X-Amzn-ErrorType
// and in the body, with a ModelError's extra members. Errors that are not *awsapi.Error are
// logged and reported as InternalFailure.
func writeError(w http.ResponseWriter, err error, log *slog.Logger) {
	e, ok := awsapi.AsError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			return
		}
		log.Error("invocation failed", slog.Any("error", err))
		e = awsapi.NewError(CodeInternalFailure, http.StatusInternalServerError, "The server encountered an internal error; the cause has been logged.")
	}
	body := map[string]any{"code": e.Code, "message": e.Message}
	for k, v := range e.Extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.Code)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	w.Write(b)
}
