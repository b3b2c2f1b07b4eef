package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// approvalKind runs Sluice:Approval steps: a manual gate. Starting one issues a token (listed
// in the step's Metadata.Approval and in its status-change event) and the step waits until a
// person approves or rejects it through DecideApproval — the native API's approvals, `sluice
// approvals approve|reject`, or SendPipelineExecutionStepSuccess/Failure with the token. An
// approval succeeds the step, with who decided, when and their comment as its properties; a
// rejection fails it, and so the execution. With TimeoutInSeconds the gate fails once that
// long has passed without a decision.
type approvalKind struct{}

// approvalMetadata is Metadata.Approval of a gate.
type approvalMetadata struct {
	Token     string    `json:"Token"`
	Message   string    `json:"Message,omitempty"`
	Deadline  time.Time `json:"Deadline,omitzero"`
	Decision  string    `json:"Decision,omitempty"`
	DecidedBy string    `json:"DecidedBy,omitempty"`
	DecidedAt time.Time `json:"DecidedAt,omitzero"`
	Comment   string    `json:"Comment,omitempty"`
}

// Approval decisions.
const (
	ApprovalApproved = "Approved"
	ApprovalRejected = "Rejected"
)

// launchesJob is true so that the engine re-checks the gate (for its deadline) like a step
// waiting on a resource; the gate's resource is the execution itself.
func (approvalKind) launchesJob() bool { return true }

func (approvalKind) start(ctx context.Context, a *attempt) outcome {
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	md := approvalMetadata{Token: callbackToken()}
	md.Message, _ = args["Message"].(string)
	if t, ok := args["TimeoutInSeconds"]; ok {
		secs, ok := argFloat(t)
		if !ok || secs <= 0 {
			return failed("step %q: Arguments.TimeoutInSeconds: want a positive number of seconds, got %v", a.step.Name, t)
		}
		md.Deadline = a.d.e.now().Add(time.Duration(secs * float64(time.Second)))
	}
	o := running(a.d.exec.ARN, map[string]any{"Approval": md})
	o.token = md.Token
	o.event = map[string]any{"approval": map[string]any{"token": md.Token, "pipelineExecutionArn": a.d.exec.ARN, "message": md.Message, "status": StepExecuting}}
	return o
}

func (approvalKind) check(_ context.Context, a *attempt) outcome {
	var md struct{ Approval approvalMetadata }
	json.Unmarshal(a.row.Metadata, &md)
	if a.row.Status == StepStopping {
		return outcome{status: StepStopped, reason: "The execution was stopped while the approval gate waited for a decision."}
	}
	if d := md.Approval.Deadline; !d.IsZero() && !a.d.e.now().Before(d) {
		o := failed("Approval gate %s timed out at %s without a decision.", a.step.Name, d.UTC().Format(time.RFC3339))
		o.metadata = map[string]any{"Approval": md.Approval}
		return o
	}
	return outcome{status: StepExecuting}
}

// stop lets check end the gate as Stopped: nobody is left to wait for.
func (approvalKind) stop(context.Context, *attempt) error { return nil }

// pollAfter re-checks a gate with a deadline when it passes (and every few seconds before, so
// a changed clock is noticed); a gate without one waits for a decision only.
func (approvalKind) pollAfter(r *store.PipelineStep, now time.Time) time.Duration {
	var md struct{ Approval approvalMetadata }
	if json.Unmarshal(r.Metadata, &md) != nil || md.Approval.Deadline.IsZero() {
		return 0
	}
	return min(max(md.Approval.Deadline.Sub(now), 10*time.Millisecond), 5*time.Second)
}

// ApprovalDecision is a person's answer to an approval gate.
type ApprovalDecision struct {
	Approve bool
	// By is who decided (the caller's key owner); Comment is theirs.
	By      string
	Comment string
}

// DecideApproval answers the approval gate waiting with token and returns the execution's ARN.
// Deciding again the same way is not an error; the opposite decision after one was made is
// ErrConflict.
func (e *Engine) DecideApproval(ctx context.Context, token string, dec ApprovalDecision) (string, error) {
	want := StepSucceeded
	if !dec.Approve {
		want = StepFailed
	}
	return e.answer(ctx, token, func(step *Step, r *store.PipelineStep) error {
		if step.Type != StepApproval {
			return errorf(ErrConflict, "Step %s is a %s step, not an approval gate.", r.Name, step.Type)
		}
		var md struct{ Approval approvalMetadata }
		json.Unmarshal(r.Metadata, &md)
		ap := md.Approval
		ap.DecidedBy, ap.Comment, ap.DecidedAt = dec.By, dec.Comment, e.now()
		if dec.Approve {
			ap.Decision = ApprovalApproved
			r.Status = StepSucceeded
			r.Properties = encodeJSON(map[string]any{"Decision": ap.Decision, "DecidedBy": ap.DecidedBy, "Comment": ap.Comment,
				"DecidedAt": ap.DecidedAt.Format(time.RFC3339Nano)})
		} else {
			ap.Decision = ApprovalRejected
			r.Status = StepFailed
			r.FailureReason = strings.TrimSpace(fmt.Sprintf("Rejected by %s at %s. %s", orSomeone(dec.By), ap.DecidedAt.Format(time.RFC3339), dec.Comment))
		}
		r.Metadata = encodeJSON(map[string]any{"Approval": ap})
		return nil
	}, want)
}

func orSomeone(s string) string {
	if s == "" {
		return "an unnamed caller"
	}
	return s
}
