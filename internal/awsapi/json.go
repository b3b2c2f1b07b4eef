package awsapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// maxRequestBody bounds a control-plane request; SageMaker's largest documents (pipeline
// definitions) are under 1 MB.
const maxRequestBody = 8 << 20

// Handler serves one operation: it receives the raw JSON body and returns the value to encode as
// the response, or an error.
type Handler func(ctx context.Context, body []byte) (any, error)

// Op adapts a typed function to a Handler: the body is decoded into Req (a malformed body is a
// SerializationException) and Resp is encoded as the response.
func Op[Req any, Resp any](fn func(ctx context.Context, req *Req) (Resp, error)) Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		req := new(Req)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, req); err != nil {
				return nil, decodeError(err)
			}
		}
		return fn(ctx, req)
	}
}

func decodeError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return NewError(CodeSerialization, http.StatusBadRequest, "Cannot read field %s: expected a JSON %s, got %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return NewError(CodeSerialization, http.StatusBadRequest, "Request body is not valid JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int32", "int64", "float32", "float64":
		return "number"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	case "bool":
		return "boolean"
	}
	return k
}

// Observer is told about every operation served, for metrics.
type Observer func(op string, code string, d time.Duration)

// Mux dispatches JSON 1.1 requests (POST / with X-Amz-Target: <prefix>.<Operation>) to
// registered operations.
type Mux struct {
	prefix  string
	ops     map[string]Handler
	log     *slog.Logger
	observe Observer
}

// NewMux returns a Mux for the target prefix, e.g. "SageMaker".
func NewMux(prefix string, log *slog.Logger, observe Observer) *Mux {
	if observe == nil {
		observe = func(string, string, time.Duration) {}
	}
	return &Mux{prefix: prefix, ops: map[string]Handler{}, log: log, observe: observe}
}

// Handle registers an operation. Registering one twice is a programming error.
func (m *Mux) Handle(op string, h Handler) {
	if _, dup := m.ops[op]; dup {
		panic("awsapi: operation registered twice: " + op)
	}
	m.ops[op] = h
}

// ServeHTTP implements the protocol: decode, dispatch, encode, and map errors to AWS shapes.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, m.prefix+".")
	if r.Method != http.MethodPost {
		m.fail(w, r, "", NewError(CodeUnknownOperation, http.StatusNotFound, "Only POST is accepted at this path; send %s operations as POST / with X-Amz-Target.", m.prefix), start)
		return
	}
	h := m.ops[op]
	if !ok || h == nil {
		if target == "" {
			m.fail(w, r, "", NewError(CodeUnknownOperation, http.StatusBadRequest, "Missing X-Amz-Target header; expected %s.<Operation>.", m.prefix), start)
		} else {
			m.fail(w, r, "", NewError(CodeUnknownOperation, http.StatusBadRequest, "Operation %q is not supported by this server.", target), start)
		}
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		m.fail(w, r, op, NewError(CodeSerialization, http.StatusRequestEntityTooLarge, "Request body exceeds %d bytes.", maxRequestBody), start)
		return
	}
	if err := CheckPayloadHash(r, sha256.Sum256(body)); err != nil {
		m.fail(w, r, op, err, start)
		return
	}
	resp, err := h(r.Context(), body)
	if err != nil {
		m.fail(w, r, op, err, start)
		return
	}
	out, err := marshalResponse(resp)
	if err != nil {
		m.fail(w, r, op, fmt.Errorf("encode %s response: %w", op, err), start)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(out)
	m.observe(op, "OK", time.Since(start))
}

func marshalResponse(resp any) ([]byte, error) {
	if resp == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(resp)
}

func (m *Mux) fail(w http.ResponseWriter, r *http.Request, op string, err error, start time.Time) {
	e := WriteError(w, err, m.log.With("operation", op))
	if op == "" {
		op = "unknown"
	}
	m.observe(op, e.Code, time.Since(start))
}

// WriteError writes err in the AWS JSON error shape and returns the client-visible error. An
// error that is not an *Error is logged and reported as InternalFailure without its cause.
func WriteError(w http.ResponseWriter, err error, log *slog.Logger) *Error {
	e, ok := AsError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			e = NewError(CodeInternalFailure, 499, "The request was cancelled by the client.")
		} else {
			log.Error("request failed", slog.Any("error", err))
			e = NewError(CodeInternalFailure, http.StatusInternalServerError, "The server encountered an internal error; the cause has been logged.")
		}
	}
	body := map[string]any{"__type": e.Code, "message": e.Message}
	for k, v := range e.Extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	w.Write(b)
	return e
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
