package native

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sluice-ml/sluice/internal/jobs"
)

func (a *API) registerJobs(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/jobs/{name}/logs", a.jobLogs)
}

// resolveJob finds the kind of the job a logs request names: the kind query parameter, or the
// only kind that has a job of that name.
func (a *API) resolveJob(r *http.Request) (jobs.Kind, string, error) {
	if a.Jobs == nil {
		return "", "", &Error{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "jobs are not enabled on this server"}
	}
	name := r.PathValue("name")
	kind := jobs.Kind(r.URL.Query().Get("kind"))
	switch kind {
	case "", jobs.KindProcessing, jobs.KindTraining, jobs.KindTransform:
	default:
		return "", "", BadRequest("query parameter kind=%q: expected processing, training or transform", kind)
	}
	found, err := a.Jobs.Lookup(r.Context(), name)
	if err != nil {
		return "", "", err
	}
	var kinds []jobs.Kind
	canonical := name
	for _, s := range found {
		if kind == "" || s.Kind == kind {
			kinds = append(kinds, s.Kind)
			canonical = s.Name
		}
	}
	switch len(kinds) {
	case 0:
		if kind != "" {
			return "", "", NotFound("no %s job is named %q", kind, name)
		}
		return "", "", NotFound("no processing or training job is named %q", name)
	case 1:
		return kinds[0], canonical, nil
	}
	return "", "", BadRequest("both a processing and a training job are named %q; pass kind=processing or kind=training", name)
}

// jobLogs streams a job's log as text: everything so far, or with follow=1 everything until
// the job ends. offset=N starts at byte N.
func (a *API) jobLogs(w http.ResponseWriter, r *http.Request) {
	kind, name, err := a.resolveJob(r)
	if err != nil {
		WriteError(w, err, a.Log)
		return
	}
	offset, err := intParam(r, "offset", 0, 0, 1<<62)
	if err != nil {
		WriteError(w, err, a.Log)
		return
	}
	follow := false
	switch strings.ToLower(r.URL.Query().Get("follow")) {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		WriteError(w, BadRequest("query parameter follow=%q: expected 1 or 0", r.URL.Query().Get("follow")), a.Log)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Sluice-Job-Kind", string(kind))
	w.Header().Set("X-Sluice-Job-Name", name)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	err = a.Jobs.StreamLog(r.Context(), kind, name, offset, follow, w, flush)
	if err != nil && !errors.Is(err, r.Context().Err()) {
		// The status line is gone; the client sees the stream end early.
		a.Log.Warn("streaming a job log", "job", name, slog.Any("error", err))
	}
}
