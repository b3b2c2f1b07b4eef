package pipeline

import "context"

// transformKind stands for Transform steps until batch transform runs on this server: the
// definition is accepted (SDK definitions such as the abalone example carry one), and a
// Transform step that is reached fails with a message that says why.
type transformKind struct{}

func (transformKind) launchesJob() bool { return false }

func (transformKind) start(context.Context, *attempt) outcome {
	return failed("Transform steps need batch transform, which this server does not run yet.")
}

func (transformKind) check(context.Context, *attempt) outcome { return outcome{status: StepExecuting} }
func (transformKind) stop(context.Context, *attempt) error    { return nil }
