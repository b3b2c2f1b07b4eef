package pipeline

import "context"

// conditionKind runs Condition steps: the conditions are evaluated (AND-ed), the outcome is the
// step's Metadata (Condition.Outcome "True" or "False") and its property Outcome, and the steps
// of the branch not taken never start.
type conditionKind struct{}

func (conditionKind) launchesJob() bool { return false }

func (conditionKind) start(ctx context.Context, a *attempt) outcome {
	ok, err := EvaluateConditions(a.step.Conditions, a.env(ctx))
	if err != nil {
		return failed("Evaluating the conditions failed: %v", err)
	}
	word := "False"
	if ok {
		word = "True"
	}
	return succeeded(ConditionProperties(ok), map[string]any{"Condition": map[string]any{"Outcome": word}})
}

func (conditionKind) check(context.Context, *attempt) outcome { return outcome{status: StepExecuting} }
func (conditionKind) stop(context.Context, *attempt) error    { return nil }
