package pipeline

import (
	"context"
	"crypto/rand"
)

// callbackKind runs Callback steps. Starting one issues a CallbackToken, listed in the step's
// Metadata and announced, with the resolved arguments, in the step's status-change event (the
// message SageMaker would put on the SQS queue). The step then waits until someone calls
// SendPipelineExecutionStepSuccess (its OutputParameters become the step's properties) or
// SendPipelineExecutionStepFailure. A stop does not end it: as on SageMaker, the execution
// stops once the callback has been answered.
type callbackKind struct{}

func (callbackKind) launchesJob() bool { return false }

func (callbackKind) start(ctx context.Context, a *attempt) outcome {
	args, err := a.arguments(ctx)
	if err != nil {
		return failed("%v", err)
	}
	if args == nil {
		args = map[string]any{}
	}
	token := callbackToken()
	o := running("", map[string]any{"Callback": map[string]any{"CallbackToken": token, "SqsQueueUrl": a.step.SQSQueueURL}})
	o.token = token
	o.event = map[string]any{"callback": map[string]any{
		"token":                token,
		"pipelineExecutionArn": a.d.exec.ARN,
		"sqsQueueUrl":          a.step.SQSQueueURL,
		"arguments":            args,
		"status":               StepExecuting,
	}}
	return o
}

func (callbackKind) check(context.Context, *attempt) outcome { return outcome{status: StepExecuting} }
func (callbackKind) stop(context.Context, *attempt) error    { return nil }

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// callbackToken is a fresh 10-character CallbackToken, as SageMaker issues.
func callbackToken() string {
	var b [10]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b[:])
}
