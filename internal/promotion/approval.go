package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sluice-ml/sluice/internal/pipeline"
)

// Approval is a manual gate of a deploy pipeline (a Sluice:Approval step).
type Approval struct {
	// ID is the gate's token, which approve and reject take.
	ID                   string     `json:"ApprovalId"`
	PipelineName         string     `json:"PipelineName"`
	PipelineExecutionArn string     `json:"PipelineExecutionArn"`
	StepName             string     `json:"StepName"`
	Message              string     `json:"Message,omitempty"`
	Status               string     `json:"Status"`
	RequestedAt          time.Time  `json:"RequestedAt"`
	Deadline             *time.Time `json:"Deadline,omitempty"`
	DecidedBy            string     `json:"DecidedBy,omitempty"`
	DecidedAt            *time.Time `json:"DecidedAt,omitempty"`
	Comment              string     `json:"Comment,omitempty"`
	FailureReason        string     `json:"FailureReason,omitempty"`
}

// Approval statuses as listed.
const (
	ApprovalPending  = "Pending"
	ApprovalApproved = pipeline.ApprovalApproved
	ApprovalRejected = pipeline.ApprovalRejected
	// ApprovalExpired is a gate that timed out or whose execution stopped.
	ApprovalExpired = "Expired"
)

// Approvals lists approval gates, newest first: only those waiting unless all is set.
func (s *Service) Approvals(ctx context.Context, all bool) ([]Approval, error) {
	rows, err := s.cfg.Store.GateSteps(ctx, string(pipeline.StepApproval), !all, 200)
	if err != nil {
		return nil, wrap(err, "list approvals")
	}
	out := make([]Approval, 0, len(rows))
	for _, r := range rows {
		var md struct {
			Approval struct {
				Token, Message, Decision, DecidedBy, Comment string
				Deadline, DecidedAt                          time.Time
			}
		}
		json.Unmarshal(r.Metadata, &md)
		ap := md.Approval
		a := Approval{ID: r.CallbackToken, PipelineName: r.PipelineName, PipelineExecutionArn: r.ExecutionARN, StepName: r.Name,
			Message: ap.Message, RequestedAt: r.StartedAt, DecidedBy: ap.DecidedBy, Comment: ap.Comment, FailureReason: r.FailureReason}
		if a.ID == "" {
			a.ID = ap.Token
		}
		if !ap.Deadline.IsZero() {
			a.Deadline = &ap.Deadline
		}
		if !ap.DecidedAt.IsZero() {
			a.DecidedAt = &ap.DecidedAt
		}
		switch {
		case ap.Decision != "":
			a.Status = ap.Decision
		case r.Status == pipeline.StepExecuting || r.Status == pipeline.StepStarting:
			a.Status = ApprovalPending
		default:
			a.Status = ApprovalExpired
		}
		out = append(out, a)
	}
	return out, nil
}

// Decide approves or rejects the gate with this ID; by is the caller.
func (s *Service) Decide(ctx context.Context, id string, approve bool, by, comment string) (Approval, error) {
	if s.cfg.Pipelines == nil {
		return Approval{}, errorf(ErrInvalid, "This server runs without pipelines.")
	}
	if len(comment) > 1024 {
		return Approval{}, errorf(ErrInvalid, "The comment has %d characters; at most 1024 are kept.", len(comment))
	}
	_, err := s.cfg.Pipelines.DecideApproval(ctx, id, pipeline.ApprovalDecision{Approve: approve, By: by, Comment: comment})
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			switch {
			case errors.Is(err, pipeline.ErrNotFound):
				return Approval{}, errorf(ErrNotFound, "No approval gate has ID %q; list them with `sluice approvals list`.", id)
			case errors.Is(err, pipeline.ErrConflict):
				return Approval{}, errorf(ErrConflict, "%s", pe.Message)
			}
			return Approval{}, errorf(ErrInvalid, "%s", pe.Message)
		}
		return Approval{}, wrap(err, "decide approval")
	}
	all, err := s.Approvals(ctx, true)
	if err != nil {
		return Approval{}, err
	}
	for _, a := range all {
		if a.ID == id {
			return a, nil
		}
	}
	return Approval{ID: id}, nil
}
