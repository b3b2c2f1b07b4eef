package pipeline

import (
	"fmt"
	"slices"
	"strings"
)

// propertyShapes names, for each step type whose properties are a Describe* response, the
// response shape that `Steps.<name>.<path>` walks.
var propertyShapes = map[StepType]string{
	StepProcessing:    "DescribeProcessingJobResponse",
	StepTraining:      "DescribeTrainingJobResponse",
	StepTransform:     "DescribeTransformJobResponse",
	StepModel:         "DescribeModelOutput",
	StepRegisterModel: "DescribeModelPackageOutput",
}

// checkStepProperty checks that path names a property a step of target's type has. For job
// steps it follows the Describe* response shape; a Condition step has only Outcome; a Callback
// step has OutputParameters['<declared output>']; a Fail step has none. A name selection into
// a list the step writes out literally in its Arguments (Outputs['train'], InputDataConfig
// ['validation'], ProcessingInputs['code']) must name one of the elements it declares.
func checkStepProperty(target *Step, path PropertyPath) error {
	switch target.Type {
	case StepCondition:
		if len(path) == 1 && path[0].Kind == ElemField && path[0].Name == "Outcome" {
			return nil
		}
		return fmt.Errorf("a Condition step has only the property Outcome")
	case StepFail:
		return fmt.Errorf("a Fail step has no properties")
	case StepCallback:
		if len(path) == 2 && path[0].Kind == ElemField && path[0].Name == "OutputParameters" && path[1].Kind == ElemKey {
			name := path[1].Name
			if slices.ContainsFunc(target.OutputParameters, func(o OutputParameter) bool { return o.OutputName == name }) {
				return nil
			}
			return fmt.Errorf("callback step %q declares no output parameter %q%s", target.Name, name, declaredOutputs(target))
		}
		return fmt.Errorf("a Callback step has only the properties OutputParameters['<name>']")
	}
	if props, ok := deliveryProperties[target.Type]; ok {
		return checkDeliveryProperty(target, path, props)
	}
	root, ok := propertyShapes[target.Type]
	if !ok {
		return fmt.Errorf("a %s step has no known properties", target.Type)
	}
	if err := walkShape(apiShapes[root], path, target.Type); err != nil {
		return err
	}
	return checkListKeys(target, path)
}

// walkShape follows path through a response shape.
func walkShape(sh *apiShape, path PropertyPath, t StepType) error {
	for i, e := range path {
		here := path[:i].String()
		switch sh.kind {
		case shapeStruct:
			if e.Kind != ElemField {
				return fmt.Errorf("%s is an object: select a member with .Name", orRoot(here, t))
			}
			ms, ok := sh.members[e.Name]
			if !ok {
				return fmt.Errorf("%s has no property %q (it has %s)", orRoot(here, t), e.Name, memberList(sh))
			}
			sh = lookupShape(ms)
		case shapeList:
			el := lookupShape(sh.elem)
			switch e.Kind {
			case ElemIndex:
			case ElemKey:
				if el.kind != shapeStruct || !hasNameMember(el) {
					return fmt.Errorf("%s is a list without named elements: select with [index]", here)
				}
			default:
				return fmt.Errorf("%s is a list: select an element with [index] or ['name'] before .%s", here, e.Name)
			}
			sh = el
		case shapeMap:
			if e.Kind != ElemKey {
				return fmt.Errorf("%s is a map: select an entry with ['key']", here)
			}
			sh = lookupShape(sh.elem)
		default:
			return fmt.Errorf("%s is %s and has no members", here, sh.kind.noun())
		}
	}
	return nil
}

func orRoot(here string, t StepType) string {
	if here == "" {
		return "a " + string(t) + " step"
	}
	return here
}

func hasNameMember(sh *apiShape) bool {
	for _, n := range listNameMembers {
		if _, ok := sh.members[n]; ok {
			return true
		}
	}
	return false
}

func memberList(sh *apiShape) string {
	names := make([]string, 0, len(sh.members))
	for n := range sh.members {
		names = append(names, n)
	}
	slices.Sort(names)
	const most = 12
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(", ... %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// checkListKeys checks every ['name'] selection of path whose list the target step writes out
// literally in its Arguments at the same place.
func checkListKeys(target *Step, path PropertyPath) error {
	for i, e := range path {
		if e.Kind != ElemKey {
			continue
		}
		names, known := listNames(target.Arguments, path[:i])
		if known && !slices.Contains(names, e.Name) {
			return fmt.Errorf("step %q has no %s element named %q (it has %s)", target.Name, path[:i], e.Name, quoteList(names))
		}
	}
	return nil
}

func declaredOutputs(s *Step) string {
	if len(s.OutputParameters) == 0 {
		return " (it declares none)"
	}
	names := make([]string, len(s.OutputParameters))
	for i, o := range s.OutputParameters {
		names[i] = o.OutputName
	}
	return " (declared: " + strings.Join(names, ", ") + ")"
}
