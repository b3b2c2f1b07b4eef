package pipeline

import (
	"context"
	"errors"

	"github.com/sluice-ml/sluice/internal/hosting"
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
	m, err := models.DescribeModel(ctx, name)
	if errors.Is(err, hosting.ErrNotFound) {
		var in hosting.NewModel
		if err := decodeInto(args, &in); err != nil {
			return failed("step %q: %v", a.step.Name, err)
		}
		in.ModelName = name
		m, err = models.CreateModel(ctx, in)
		if errors.Is(err, hosting.ErrExists) {
			m, err = models.DescribeModel(ctx, name)
		}
	}
	var he *hosting.Error
	switch {
	case errors.As(err, &he) && !errors.Is(err, hosting.ErrNotFound):
		return failed("%s", he.Message)
	case err != nil:
		return faulted("Creating the model %s failed: %v", name, err)
	}
	o := succeeded(modelProperties(m), map[string]any{"Model": map[string]any{"Arn": m.ModelArn}})
	o.resource = m.ModelArn
	return o
}

// modelProperties is DescribeModel's response as a JSON value.
func modelProperties(m hosting.Model) map[string]any {
	p := toJSONMap(m)
	delete(p, "Resolved")
	p["CreationTime"] = epoch(m.CreationTime)
	return p
}

func (modelKind) check(context.Context, *attempt) outcome { return outcome{status: StepExecuting} }
func (modelKind) stop(context.Context, *attempt) error    { return nil }
