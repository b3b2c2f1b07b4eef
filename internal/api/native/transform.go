package native

import (
	"errors"
	"net/http"
	"time"

	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/transform"
)

func (a *API) registerTransform(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/transform-jobs/{name}/progress", handler(a.transformProgress, a.Log))
}

// transformProgress is how far a transform job has got: per input file and in all, with the
// rate since the job started transforming.
type transformProgress struct {
	Name          string         `json:"Name"`
	Status        string         `json:"Status"`
	FailureReason string         `json:"FailureReason,omitempty"`
	StartTime     *time.Time     `json:"StartTime,omitempty"`
	EndTime       *time.Time     `json:"EndTime,omitempty"`
	Files         int            `json:"Files"`
	FilesDone     int            `json:"FilesDone"`
	Records       int64          `json:"Records"`
	BytesRead     int64          `json:"BytesRead"`
	TotalBytes    int64          `json:"TotalBytes"`
	InputFiles    []progressFile `json:"InputFiles"`
}

type progressFile struct {
	Input     string `json:"Input"`
	Output    string `json:"Output"`
	Size      int64  `json:"Size"`
	Status    string `json:"Status"`
	Records   int64  `json:"Records"`
	BytesRead int64  `json:"BytesRead"`
	Error     string `json:"Error,omitempty"`
}

func (a *API) transformProgress(r *http.Request) (any, error) {
	if a.Transforms == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "batch transform is not enabled on this server"}
	}
	name := r.PathValue("name")
	p, err := a.Transforms.Progress(r.Context(), name)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil, NotFound("no transform job is named %q", name)
	}
	if err != nil {
		return nil, err
	}
	return progressView(p), nil
}

func progressView(p *transform.Progress) transformProgress {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	out := transformProgress{Name: p.Name, Status: p.Status, FailureReason: p.FailureReason, StartTime: opt(p.StartTime), EndTime: opt(p.EndTime),
		Files: len(p.Files), FilesDone: p.FilesDone, Records: p.Records, BytesRead: p.BytesRead, TotalBytes: p.TotalBytes,
		InputFiles: []progressFile{}}
	for _, f := range p.Files {
		out.InputFiles = append(out.InputFiles, progressFile{Input: f.Input, Output: f.Output, Size: f.Size, Status: f.Status,
			Records: f.Records, BytesRead: f.BytesRead, Error: f.Error})
	}
	return out
}
