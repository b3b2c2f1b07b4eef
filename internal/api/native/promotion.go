package native

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/promotion"
)

// Environments, approval gates, releases and triggers:
//
//	GET    /api/v1/environments                    list environments (secrets redacted)
//	GET    /api/v1/environments/{name}             describe one
//	PUT    /api/v1/environments/{name}             create or replace one (body: its configuration)
//	DELETE /api/v1/environments/{name}             delete one
//	GET    /api/v1/approvals?all=true              approval gates (waiting ones unless all)
//	POST   /api/v1/approvals/{id}/approve          approve a gate   (body: {"Comment": "…"})
//	POST   /api/v1/approvals/{id}/reject           reject a gate    (body: {"Comment": "…"})
//	GET    /api/v1/releases?environment=E&history=N  per environment: live, in progress, history
//	GET    /api/v1/triggers                        list triggers with their latest firings
//	POST   /api/v1/triggers                        create a trigger (a webhook's token is returned once)
//	DELETE /api/v1/triggers/{name}                 delete one
//	POST   /api/v1/webhooks/{trigger}              start a webhook trigger's pipeline; authenticated
//	                                               by the trigger's token, not SigV4 (WebhookHandler)

func (a *API) registerPromotion(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/environments", handler(a.listEnvironments, a.Log))
	mux.Handle("GET /api/v1/environments/{name}", handler(a.getEnvironment, a.Log))
	mux.Handle("PUT /api/v1/environments/{name}", handler(a.putEnvironment, a.Log))
	mux.Handle("DELETE /api/v1/environments/{name}", handler(a.deleteEnvironment, a.Log))
	mux.Handle("GET /api/v1/approvals", handler(a.listApprovals, a.Log))
	mux.Handle("POST /api/v1/approvals/{id}/approve", handler(func(r *http.Request) (any, error) { return a.decide(r, true) }, a.Log))
	mux.Handle("POST /api/v1/approvals/{id}/reject", handler(func(r *http.Request) (any, error) { return a.decide(r, false) }, a.Log))
	mux.Handle("GET /api/v1/releases", handler(a.listReleases, a.Log))
	mux.Handle("GET /api/v1/triggers", handler(a.listTriggers, a.Log))
	mux.Handle("POST /api/v1/triggers", handler(a.createTrigger, a.Log))
	mux.Handle("DELETE /api/v1/triggers/{name}", handler(a.deleteTrigger, a.Log))
}

// promotionError maps promotion errors to API errors.
func promotionError(err error) error {
	var pe *promotion.Error
	if !errors.As(err, &pe) {
		return err
	}
	e := &Error{Status: http.StatusBadRequest, Code: "BadRequest", Message: pe.Message}
	switch {
	case errors.Is(err, promotion.ErrNotFound):
		e.Status, e.Code = http.StatusNotFound, "NotFound"
	case errors.Is(err, promotion.ErrExists), errors.Is(err, promotion.ErrConflict):
		e.Status, e.Code = http.StatusConflict, "Conflict"
	case errors.Is(err, promotion.ErrForbidden):
		e.Status, e.Code = http.StatusForbidden, "Forbidden"
	}
	return e
}

func (a *API) promotion() (*promotion.Service, error) {
	if a.Promotion == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "environments and promotion are not enabled on this server"}
	}
	return a.Promotion, nil
}

// readJSON decodes a small JSON request body; an empty body leaves v as it is.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return BadRequest("reading the request body: %v", err)
	}
	if len(b) > 1<<20 {
		return BadRequest("the request body is larger than 1 MiB")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return BadRequest("the request body is not the expected JSON: %v", err)
	}
	return nil
}

func (a *API) listEnvironments(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	envs, err := p.Environments(r.Context())
	if err != nil {
		return nil, promotionError(err)
	}
	out := make([]promotion.Environment, len(envs))
	for i, e := range envs {
		out[i] = e.Redacted()
	}
	return map[string]any{"Environments": out}, nil
}

func (a *API) getEnvironment(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	e, err := p.Environment(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, promotionError(err)
	}
	return e.Redacted(), nil
}

func (a *API) putEnvironment(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	var e promotion.Environment
	if err := readJSON(r, &e); err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	if e.Name != "" && e.Name != name {
		return nil, BadRequest("the body names environment %q but the path names %q", e.Name, name)
	}
	e.Name = name
	out, created, err := p.PutEnvironment(r.Context(), e)
	if err != nil {
		return nil, promotionError(err)
	}
	return map[string]any{"Environment": out.Redacted(), "Created": created}, nil
}

func (a *API) deleteEnvironment(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	if err := p.DeleteEnvironment(r.Context(), r.PathValue("name")); err != nil {
		return nil, promotionError(err)
	}
	return map[string]string{"Deleted": r.PathValue("name")}, nil
}

func (a *API) listApprovals(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	all, _ := strconv.ParseBool(r.URL.Query().Get("all"))
	list, err := p.Approvals(r.Context(), all)
	if err != nil {
		return nil, promotionError(err)
	}
	return map[string]any{"Approvals": list}, nil
}

func (a *API) decide(r *http.Request, approve bool) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	var body struct{ Comment string }
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	by := "unknown"
	if pr, ok := awsapi.PrincipalFrom(r.Context()); ok {
		by = pr.Name
		if by == "" {
			by = pr.AccessKeyID
		}
	}
	ap, err := p.Decide(r.Context(), r.PathValue("id"), approve, by, body.Comment)
	if err != nil {
		return nil, promotionError(err)
	}
	return ap, nil
}

func (a *API) listReleases(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	history, err := intParam(r, "history", 0, 0, 500)
	if err != nil {
		return nil, err
	}
	out, err := p.Releases(r.Context(), promotion.ReleaseQuery{Environment: r.URL.Query().Get("environment"), History: int(history)})
	if err != nil {
		return nil, promotionError(err)
	}
	return map[string]any{"Environments": out}, nil
}

func (a *API) listTriggers(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	out, err := p.Triggers(r.Context())
	if err != nil {
		return nil, promotionError(err)
	}
	return map[string]any{"Triggers": out}, nil
}

func (a *API) createTrigger(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	var t promotion.Trigger
	if err := readJSON(r, &t); err != nil {
		return nil, err
	}
	out, err := p.CreateTrigger(r.Context(), t)
	if err != nil {
		return nil, promotionError(err)
	}
	return out, nil
}

func (a *API) deleteTrigger(r *http.Request) (any, error) {
	p, err := a.promotion()
	if err != nil {
		return nil, err
	}
	if err := p.DeleteTrigger(r.Context(), r.PathValue("name")); err != nil {
		return nil, promotionError(err)
	}
	return map[string]string{"Deleted": r.PathValue("name")}, nil
}

// WebhookHandler serves POST /api/v1/webhooks/{trigger}. It is mounted outside the SigV4
// verifier: the caller proves itself with the trigger's token, in `Authorization: Bearer TOKEN`
// or `X-Sluice-Token`. A delivery id (X-Sluice-Delivery, or a CI system's own: X-GitHub-Delivery,
// X-Gitlab-Event-UUID, Idempotency-Key) makes retries start one execution. An optional JSON
// body {"Parameters": {"Name": "value"}} sets pipeline parameters the pipeline declares.
func (a *API) WebhookHandler() http.Handler {
	return handler(func(r *http.Request) (any, error) {
		p, err := a.promotion()
		if err != nil {
			return nil, err
		}
		token := r.Header.Get("X-Sluice-Token")
		if h := r.Header.Get("Authorization"); token == "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			token = strings.TrimSpace(h[7:])
		}
		delivery := ""
		for _, h := range []string{"X-Sluice-Delivery", "X-GitHub-Delivery", "X-Gitlab-Event-UUID", "Idempotency-Key"} {
			if delivery = r.Header.Get(h); delivery != "" {
				break
			}
		}
		var body struct{ Parameters map[string]string }
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			if err := readJSON(r, &body); err != nil {
				return nil, err
			}
		}
		f, err := p.Webhook(r.Context(), r.PathValue("trigger"), token, delivery, body.Parameters)
		if err != nil {
			return nil, promotionError(err)
		}
		return f, nil
	}, a.Log)
}
