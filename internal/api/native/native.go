// Package native serves Sluice's own API under /api/v1: what SageMaker's API has no place for,
// such as the event stream, job logs, metrics and releases.
package native

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/promotion"
	"github.com/sluice-ml/sluice/internal/transform"
)

// API is the /api/v1 handler set.
type API struct {
	Events *events.Log
	// Jobs serves job logs; Blob serves the artifact store's objects.
	Jobs *jobs.Runner
	Blob blob.Store
	// Transforms serves the progress of transform jobs.
	Transforms *transform.Service
	// Promotion serves environments, approvals, releases and triggers.
	Promotion *promotion.Service
	Log       *slog.Logger
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/events", handler(a.listEvents, a.Log))
	mux.HandleFunc("GET /api/v1/events/stream", a.streamEvents)
	a.registerJobs(mux)
	a.registerObjects(mux)
	a.registerTransform(mux)
	a.registerPromotion(mux)
}

// Error is a native API error: an HTTP status and a message; the body is
// {"error": {"code": …, "message": …}}.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// BadRequest builds a 400 error naming what was wrong.
func BadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "BadRequest", Message: fmt.Sprintf(format, args...)}
}

// NotFound builds a 404 error.
func NotFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf(format, args...)}
}

// handler adapts a function returning a value or an error into an http.Handler writing JSON.
func handler(fn func(r *http.Request) (any, error), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			WriteError(w, err, log)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	})
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// WriteError writes err; causes of errors that are not *Error are logged, not shown.
func WriteError(w http.ResponseWriter, err error, log *slog.Logger) {
	e, ok := err.(*Error)
	if !ok {
		log.Error("native api request failed", slog.Any("error", err))
		e = &Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "internal error; the cause has been logged"}
	}
	WriteJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

func intParam(r *http.Request, name string, def, min, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, BadRequest("query parameter %s=%q: expected an integer from %d to %d", name, s, min, max)
	}
	return n, nil
}

type eventPage struct {
	Events []events.Envelope `json:"events"`
	// Next is the cursor to pass as `after` for the following page.
	Next int64 `json:"next"`
}

func (a *API) listEvents(r *http.Request) (any, error) {
	after, err := intParam(r, "after", 0, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return nil, err
	}
	evs, err := a.Events.After(r.Context(), after, int(limit))
	if err != nil {
		return nil, err
	}
	next := after
	if len(evs) > 0 {
		next = evs[len(evs)-1].Cursor
	}
	if evs == nil {
		evs = []events.Envelope{}
	}
	return eventPage{Events: evs, Next: next}, nil
}

// streamEvents sends events as Server-Sent Events, resuming after `after` or Last-Event-ID.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) {
	after, err := intParam(r, "after", 0, 0, 1<<62)
	if err != nil {
		WriteError(w, err, a.Log)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			after = n
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		WriteError(w, fmt.Errorf("streaming unsupported by the connection"), a.Log)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": sluice event stream\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	errc := make(chan error, 1)
	evc := make(chan events.Envelope)
	go func() {
		errc <- a.Events.Follow(r.Context(), after, time.Second, func(ev events.Envelope) error {
			select {
			case evc <- ev:
				return nil
			case <-r.Context().Done():
				return r.Context().Err()
			}
		})
	}()
	for {
		select {
		case ev := <-evc:
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Cursor, ev.DetailType, b)
			flusher.Flush()
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		case <-errc:
			return
		}
	}
}
