package pipeline

import "context"

// failKind runs Fail steps: the step fails with its resolved ErrorMessage, which becomes the
// execution's FailureReason, and the execution ends Failed once running steps finish.
type failKind struct{}

func (failKind) launchesJob() bool { return false }

func (failKind) start(ctx context.Context, a *attempt) outcome {
	msg := ""
	if m := a.step.ErrorMessage(); m != nil {
		v, err := Resolve(m, a.env(ctx))
		if err != nil {
			return failed("Resolving the Fail step's ErrorMessage failed: %v", err)
		}
		if v != nil {
			s, err := FormatValue(v)
			if err != nil {
				return failed("Resolving the Fail step's ErrorMessage failed: %v", err)
			}
			msg = s
		}
	}
	o := failed("%s", msg)
	o.metadata = map[string]any{"Fail": map[string]any{"ErrorMessage": msg}}
	return o
}

func (failKind) check(context.Context, *attempt) outcome { return outcome{status: StepExecuting} }
func (failKind) stop(context.Context, *attempt) error    { return nil }
