package pipeline

import (
	"context"
	"encoding/json"
	"errors"
)

// modelKind runs Model steps (the SDK's CreateModelStep, JSON type "Model"): the Arguments are
// a CreateModel request without ModelName, sent to hosting under a name derived from the
// execution, the step and the attempt; a model that already has that name is this attempt's,
// created before a restart. The properties are the DescribeModel response (ModelName,
// ModelArn, …).
type modelKind struct{}

func (modelKind) launchesJob() bool { return false }

func (modelKind) start(ctx context.Context, a *attempt) outcome {
	models := a.d.e.cfg.Models
	if models == nil {
		return failed("Model steps need hosting, and this server runs without it.")
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	name := a.name()
	desc, err := models.DescribeModel(ctx, name)
	if errors.Is(err, ErrModelNotFound) {
		args["ModelName"] = name
		req, merr := json.Marshal(args)
		if merr != nil {
			return failed("step %q: %v", a.step.Name, merr)
		}
		if _, err = models.CreateModel(ctx, req); err != nil {
			var pe *Error
			if errors.As(err, &pe) && errors.Is(err, ErrInvalid) {
				return failed("%s", pe.Message)
			}
			return faulted("Creating the model %s failed: %v", name, err)
		}
		desc, err = models.DescribeModel(ctx, name)
	}
	if err != nil {
		return faulted("Describing the model %s failed: %v", name, err)
	}
	props, err := decodeJSON(desc)
	if err != nil {
		return faulted("Describing the model %s returned bad JSON: %v", name, err)
	}
	arn, _ := props.(map[string]any)["ModelArn"].(string)
	o := succeeded(props, map[string]any{"Model": map[string]any{"Arn": arn}})
	o.resource = arn
	return o
}

func (modelKind) check(context.Context, *attempt) outcome { return outcome{status: StepExecuting} }
func (modelKind) stop(context.Context, *attempt) error    { return nil }
