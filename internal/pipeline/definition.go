// Package pipeline reads SageMaker Model Building Pipeline definitions (format version
// 2020-12-01, as the SageMaker Python SDK emits them): it parses and validates them, evaluates
// their expressions and conditions, and derives the step graph that the engine runs.
package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Version is the definition format version; SageMaker defines no other.
const Version = "2020-12-01"

// Limits SageMaker applies to a definition.
const (
	maxParameters      = 200
	maxMetadataValue   = 1024
	maxDefinitionBytes = 1 << 20 // PipelineDefinition is at most 1,048,576 characters
)

// StepType is the JSON `Type` of a step.
type StepType string

// The step types Sluice runs.
const (
	StepProcessing    StepType = "Processing"
	StepTraining      StepType = "Training"
	StepTransform     StepType = "Transform"
	StepModel         StepType = "Model" // CreateModel; the JSON type is "Model", not "CreateModel"
	StepRegisterModel StepType = "RegisterModel"
	StepCondition     StepType = "Condition"
	StepFail          StepType = "Fail"
	StepCallback      StepType = "Callback"
	// Sluice's delivery steps (step_deploy.go, step_endpointtest.go, step_approval.go). The
	// "Sluice:" prefix keeps them apart from SageMaker's types, which never hold a colon.
	StepDeploy       StepType = "Sluice:Deploy"
	StepEndpointTest StepType = "Sluice:EndpointTest"
	StepApproval     StepType = "Sluice:Approval"
)

// StepTypes lists the supported step types, in the order messages name them.
var StepTypes = []StepType{
	StepProcessing, StepTraining, StepTransform, StepModel, StepRegisterModel,
	StepCondition, StepFail, StepCallback, StepDeploy, StepEndpointTest, StepApproval,
}

// unsupportedStepTypes are SageMaker step types that a definition may name but Sluice does not
// run; they get a clearer message than a misspelt type.
var unsupportedStepTypes = []string{
	"Tuning", "Lambda", "QualityCheck", "ClarifyCheck", "EMR", "EMRServerless", "AutoML",
	"Endpoint", "EndpointConfig",
}

// Definition is a parsed, validated pipeline definition.
type Definition struct {
	Version    string
	Metadata   map[string]string
	Parameters []Parameter
	// PipelineExperimentConfig is nil when the definition has none (JSON null or absent).
	PipelineExperimentConfig *ExperimentConfig
	// MlflowConfig is kept as given (SDK v3 only); Sluice does not act on it.
	MlflowConfig any
	// Steps are the top-level steps in definition order. Steps nested in a Condition's
	// branches are reached through Step.IfSteps and Step.ElseSteps, or AllSteps.
	Steps []*Step

	all    []*Step
	byName map[string]*Step
	graph  *Graph
}

// ExperimentConfig is the PipelineExperimentConfig: two expressions, usually
// `Get Execution.PipelineName` and `Get Execution.PipelineExecutionId`.
type ExperimentConfig struct {
	ExperimentName any
	TrialName      any
}

// Resolve evaluates the experiment configuration; the result is what Env.Experiment holds and
// what DescribePipelineExecution reports.
func (c *ExperimentConfig) Resolve(env Env) (map[string]any, error) {
	out := map[string]any{}
	for name, v := range map[string]any{"ExperimentName": c.ExperimentName, "TrialName": c.TrialName} {
		if v == nil {
			continue
		}
		r, err := resolve(v, env, "PipelineExperimentConfig."+name)
		if err != nil {
			return nil, err
		}
		s, err := FormatValue(r)
		if err != nil {
			return nil, fmt.Errorf("PipelineExperimentConfig.%s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// Branch says which branch of its Condition step holds a step.
type Branch string

// The two branches of a Condition step, named by their JSON keys.
const (
	BranchIf   Branch = "IfSteps"
	BranchElse Branch = "ElseSteps"
)

// Step is one step of a definition.
type Step struct {
	Name        string
	Type        StepType
	DisplayName string
	Description string
	DependsOn   []string
	// Arguments is the step's Arguments as a JSON-like tree (numbers are json.Number), with
	// expressions in place. For Processing, Training, Transform, Model and RegisterModel it
	// mirrors the Create* request; Resolve turns it into the request to send.
	Arguments     any
	RetryPolicies []RetryPolicy
	CacheConfig   *CacheConfig
	// PropertyFiles are declared on Processing steps.
	PropertyFiles []PropertyFile
	// SQSQueueURL and OutputParameters are the top-level fields of a Callback step.
	SQSQueueURL      string
	OutputParameters []OutputParameter
	// Conditions, IfSteps and ElseSteps come from a Condition step's Arguments.
	Conditions []Condition
	IfSteps    []*Step
	ElseSteps  []*Step
	// Parent is the Condition step whose branch holds this step ("" at top level), and
	// Branch is which of its branches.
	Parent string
	Branch Branch
}

// PropertyFile is a JSON file a Processing step writes to one of its outputs; Std:JsonGet
// reads values from it.
type PropertyFile struct {
	PropertyFileName string
	OutputName       string
	FilePath         string
}

// OutputParameter is a typed output of a Callback step.
type OutputParameter struct {
	OutputName string
	OutputType ParameterType
}

// PropertyFile returns the property file the step declares under name.
func (s *Step) PropertyFile(name string) (PropertyFile, bool) {
	for _, pf := range s.PropertyFiles {
		if pf.PropertyFileName == name {
			return pf, true
		}
	}
	return PropertyFile{}, false
}

// ErrorMessage returns a Fail step's Arguments.ErrorMessage (a literal or an expression, to
// resolve with Resolve), or nil.
func (s *Step) ErrorMessage() any {
	if m, ok := s.Arguments.(map[string]any); ok {
		return m["ErrorMessage"]
	}
	return nil
}

// Step returns the step with the given name, wherever it is nested.
func (d *Definition) Step(name string) (*Step, bool) {
	s, ok := d.byName[name]
	return s, ok
}

// AllSteps returns every step, branches included, in definition order (a Condition step comes
// before the steps of its IfSteps, then its ElseSteps).
func (d *Definition) AllSteps() []*Step { return d.all }

// Parameter returns the parameter declared under name.
func (d *Definition) Parameter(name string) (Parameter, bool) {
	for _, p := range d.Parameters {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

// Graph returns the step graph computed by Validate.
func (d *Definition) Graph() *Graph { return d.graph }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9\-_]+$`)

// validName reports whether s is a SageMaker name: letters, digits, '-' and '_', 1 to max long.
func validName(s string, max int) bool {
	return len(s) >= 1 && len(s) <= max && nameRE.MatchString(s)
}

// Parse reads a definition and validates it. A definition with any problem is refused: the
// result is nil and the error is a ValidationErrors listing every problem found, each one
// naming the step and the field.
func Parse(data []byte) (*Definition, error) {
	if len(data) > maxDefinitionBytes {
		return nil, ValidationErrors{{Msg: fmt.Sprintf("definition is %d bytes; the limit is %d", len(data), maxDefinitionBytes)}}
	}
	root, err := decodeJSON(data)
	if err != nil {
		return nil, ValidationErrors{{Msg: "not valid JSON: " + jsonErrorWithPosition(data, err)}}
	}
	p := &parser{}
	d := p.definition(root)
	if d == nil {
		return nil, p.errs
	}
	// Validate even when the parser found problems, so that one round trip reports them all;
	// a field the parser already complained about is not reported twice.
	errs := p.errs
	var verrs ValidationErrors
	if errors.As(d.Validate(), &verrs) {
		seen := map[[2]string]bool{}
		for _, e := range errs {
			seen[[2]string{e.Step, e.Field}] = true
		}
		for _, e := range verrs {
			if !seen[[2]string{e.Step, e.Field}] {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// parser turns the JSON tree into typed structures, collecting every error of JSON type or
// shape; Validate then checks meaning.
type parser struct {
	errs ValidationErrors
}

func (p *parser) add(step, field string, format string, args ...any) {
	p.errs = append(p.errs, &ValidationError{Step: step, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) addErr(step, field string, err error) {
	path, msg := splitLoc(err)
	p.errs = append(p.errs, &ValidationError{Step: step, Field: joinPath(field, path), Msg: msg})
}

// object, str, list read one member of a JSON object with a type check; absent members give
// ok=false and no error.
func (p *parser) str(m map[string]any, key, step, field string) (string, bool) {
	v, present := m[key]
	if !present || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		p.add(step, joinPath(field, key), "want a string, got %s", describeKind(v))
		return "", false
	}
	return s, true
}

func (p *parser) list(m map[string]any, key, step, field string) ([]any, bool) {
	v, present := m[key]
	if !present || v == nil {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		p.add(step, joinPath(field, key), "want a list, got %s", describeKind(v))
		return nil, false
	}
	return l, true
}

func (p *parser) object(m map[string]any, key, step, field string) (map[string]any, bool) {
	v, present := m[key]
	if !present || v == nil {
		return nil, false
	}
	o, ok := v.(map[string]any)
	if !ok {
		p.add(step, joinPath(field, key), "want an object, got %s", describeKind(v))
		return nil, false
	}
	return o, true
}

func (p *parser) definition(root any) *Definition {
	m, ok := root.(map[string]any)
	if !ok {
		p.add("", "", "a definition is a JSON object, got %s", describeKind(root))
		return nil
	}
	d := &Definition{}
	d.Version, _ = p.str(m, "Version", "", "")
	if md, ok := p.object(m, "Metadata", "", ""); ok {
		d.Metadata = make(map[string]string, len(md))
		for _, k := range sortedKeys(md) {
			s, ok := md[k].(string)
			if !ok {
				p.add("", "Metadata."+k, "want a string, got %s", describeKind(md[k]))
				continue
			}
			d.Metadata[k] = s
		}
	}
	if params, ok := p.list(m, "Parameters", "", ""); ok {
		for i, v := range params {
			if prm, ok := p.parameter(v, fmt.Sprintf("Parameters[%d]", i)); ok {
				d.Parameters = append(d.Parameters, prm)
			}
		}
	}
	if ec, ok := p.object(m, "PipelineExperimentConfig", "", ""); ok {
		d.PipelineExperimentConfig = &ExperimentConfig{
			ExperimentName: ec["ExperimentName"],
			TrialName:      ec["TrialName"],
		}
	}
	d.MlflowConfig = m["MlflowConfig"]
	steps, ok := p.list(m, "Steps", "", "")
	if !ok {
		if _, present := m["Steps"]; !present {
			p.add("", "Steps", "required")
		}
	}
	for i, v := range steps {
		if s := p.step(v, fmt.Sprintf("Steps[%d]", i), "", ""); s != nil {
			d.Steps = append(d.Steps, s)
		}
	}
	return d
}

func (p *parser) parameter(v any, at string) (Parameter, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.add("", at, "want a parameter object, got %s", describeKind(v))
		return Parameter{}, false
	}
	var prm Parameter
	name, ok := p.str(m, "Name", "", at)
	if !ok {
		if _, present := m["Name"]; !present {
			p.add("", at+".Name", "required")
		}
		return Parameter{}, false
	}
	prm.Name = name
	at = fmt.Sprintf("Parameters['%s']", name)
	t, _ := p.str(m, "Type", "", at)
	prm.Type = ParameterType(t)
	if dv, present := m["DefaultValue"]; present && dv != nil {
		prm.DefaultValue = dv
		if typed, err := castDefault(prm.effectiveType(), dv); err == nil {
			prm.DefaultValue = typed
		}
	}
	if ev, ok := p.list(m, "EnumValues", "", at); ok {
		for i, e := range ev {
			s, ok := e.(string)
			if !ok {
				p.add("", fmt.Sprintf("%s.EnumValues[%d]", at, i), "want a string, got %s", describeKind(e))
				continue
			}
			prm.EnumValues = append(prm.EnumValues, s)
		}
	}
	return prm, true
}

func (p *parser) step(v any, at, parent string, branch Branch) *Step {
	m, ok := v.(map[string]any)
	if !ok {
		if s, isStr := v.(string); isStr {
			p.add(parent, at, "want a step object, got the string %q (branches hold complete step definitions, as the SDK emits them)", s)
		} else {
			p.add(parent, at, "want a step object, got %s", describeKind(v))
		}
		return nil
	}
	name, ok := p.str(m, "Name", parent, at)
	if !ok {
		if _, present := m["Name"]; !present {
			p.add(parent, at+".Name", "required")
		}
		return nil
	}
	s := &Step{Name: name, Parent: parent, Branch: branch}
	t, ok := p.str(m, "Type", name, "")
	if !ok {
		if _, present := m["Type"]; !present {
			p.add(name, "Type", "required")
		}
	}
	s.Type = StepType(t)
	s.DisplayName, _ = p.str(m, "DisplayName", name, "")
	s.Description, _ = p.str(m, "Description", name, "")
	if deps, ok := p.list(m, "DependsOn", name, ""); ok {
		for i, d := range deps {
			ds, ok := d.(string)
			if !ok {
				p.add(name, fmt.Sprintf("DependsOn[%d]", i), "want a step name, got %s", describeKind(d))
				continue
			}
			s.DependsOn = append(s.DependsOn, ds)
		}
	}
	s.Arguments = m["Arguments"]
	if rps, ok := p.list(m, "RetryPolicies", name, ""); ok {
		for i, rv := range rps {
			rp, err := parseRetryPolicy(rv)
			if err != nil {
				p.addErr(name, fmt.Sprintf("RetryPolicies[%d]", i), err)
				continue
			}
			s.RetryPolicies = append(s.RetryPolicies, rp)
		}
	}
	if cc, ok := p.object(m, "CacheConfig", name, ""); ok {
		c, err := parseCacheConfig(cc)
		if err != nil {
			p.addErr(name, "CacheConfig", err)
		} else {
			s.CacheConfig = &c
		}
	}
	if pfs, ok := p.list(m, "PropertyFiles", name, ""); ok {
		for i, pv := range pfs {
			field := fmt.Sprintf("PropertyFiles[%d]", i)
			pm, ok := pv.(map[string]any)
			if !ok {
				p.add(name, field, "want an object, got %s", describeKind(pv))
				continue
			}
			var pf PropertyFile
			pf.PropertyFileName, _ = p.str(pm, "PropertyFileName", name, field)
			pf.OutputName, _ = p.str(pm, "OutputName", name, field)
			pf.FilePath, _ = p.str(pm, "FilePath", name, field)
			s.PropertyFiles = append(s.PropertyFiles, pf)
		}
	}
	s.SQSQueueURL, _ = p.str(m, "SqsQueueUrl", name, "")
	if ops, ok := p.list(m, "OutputParameters", name, ""); ok {
		for i, ov := range ops {
			field := fmt.Sprintf("OutputParameters[%d]", i)
			om, ok := ov.(map[string]any)
			if !ok {
				p.add(name, field, "want an object, got %s", describeKind(ov))
				continue
			}
			var op OutputParameter
			op.OutputName, _ = p.str(om, "OutputName", name, field)
			ot, _ := p.str(om, "OutputType", name, field)
			op.OutputType = ParameterType(ot)
			if op.OutputType == "" {
				op.OutputType = ParamString
			}
			s.OutputParameters = append(s.OutputParameters, op)
		}
	}
	if s.Type == StepCondition {
		p.conditionArgs(s)
	}
	return s
}

func (p *parser) conditionArgs(s *Step) {
	args, ok := s.Arguments.(map[string]any)
	if !ok {
		if s.Arguments == nil {
			p.add(s.Name, "Arguments", "required (Conditions, IfSteps, ElseSteps)")
		} else {
			p.add(s.Name, "Arguments", "want an object, got %s", describeKind(s.Arguments))
		}
		return
	}
	if cv, present := args["Conditions"]; !present {
		p.add(s.Name, "Arguments.Conditions", "required")
	} else if cs, err := ParseConditions(cv); err != nil {
		p.addErr(s.Name, "Arguments.Conditions", err)
	} else {
		s.Conditions = cs
	}
	for _, br := range []Branch{BranchIf, BranchElse} {
		l, _ := p.list(args, string(br), s.Name, "Arguments")
		for i, v := range l {
			child := p.step(v, fmt.Sprintf("Arguments.%s[%d]", br, i), s.Name, br)
			if child == nil {
				continue
			}
			if br == BranchIf {
				s.IfSteps = append(s.IfSteps, child)
			} else {
				s.ElseSteps = append(s.ElseSteps, child)
			}
		}
	}
}

// jsonErrorWithPosition adds a line and column to a JSON syntax error.
func jsonErrorWithPosition(data []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err.Error()
	}
	// Offset counts the bytes read, the offending one included.
	before := string(data[:max(0, min(int(se.Offset)-1, len(data)))])
	line := 1 + strings.Count(before, "\n")
	col := len(before) - strings.LastIndex(before, "\n")
	return fmt.Sprintf("%v (line %d, column %d)", err, line, col)
}
