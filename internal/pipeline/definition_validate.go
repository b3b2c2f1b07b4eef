package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var metadataKeyRE = regexp.MustCompile(`^[A-Za-z0-9\-_]{1,128}$`)

// Which optional step fields each step type takes (reference: SageMaker's step types).
var (
	retryStepTypes = []StepType{StepProcessing, StepTraining, StepTransform, StepModel, StepRegisterModel}
	cacheStepTypes = []StepType{StepProcessing, StepTraining, StepTransform}
)

// validator collects every problem of one definition.
type validator struct {
	d    *Definition
	errs ValidationErrors
	// where tells, for each step name, where it was first defined (for duplicate messages).
	where map[string]string
}

func (v *validator) add(step, field, format string, args ...any) {
	v.errs = append(v.errs, &ValidationError{Step: step, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) addErr(step, field string, err error) {
	path, msg := splitLoc(err)
	v.errs = append(v.errs, &ValidationError{Step: step, Field: joinPath(field, path), Msg: msg})
}

// Validate checks the whole definition and, when it is valid, computes its step graph (see
// Graph). It reports every problem found as a ValidationErrors. Parse calls it; call it again
// after changing a Definition by hand. It also rewrites the bare-name form of a Std:JsonGet
// PropertyFile into the `Get Steps.<Step>.PropertyFiles.<Name>` form, once the step is known.
func (d *Definition) Validate() error {
	v := &validator{d: d, where: map[string]string{}}
	d.graph = nil
	v.topLevel()
	v.indexSteps()
	refs := make([][]string, len(d.all))
	for i, s := range d.all {
		refs[i] = v.step(s)
	}
	v.experimentConfig()
	g, cycles := newGraph(d.all, refs)
	for _, c := range cycles {
		v.add(c[0], "", "dependency cycle: %s", strings.Join(c, " -> "))
	}
	if len(cycles) == 0 {
		v.unreachable(g)
	}
	if len(v.errs) > 0 {
		return v.errs
	}
	d.graph = g
	return nil
}

func (v *validator) topLevel() {
	d := v.d
	switch d.Version {
	case Version:
	case "":
		v.add("", "Version", "required (%q)", Version)
	default:
		v.add("", "Version", "%q is not supported (want %q)", d.Version, Version)
	}
	for _, k := range sortedStringKeys(d.Metadata) {
		if !metadataKeyRE.MatchString(k) {
			v.add("", "Metadata", "key %q must be 1 to 128 letters, digits, '-' or '_'", k)
		}
		if len(d.Metadata[k]) > maxMetadataValue {
			v.add("", "Metadata."+k, "value is longer than %d characters", maxMetadataValue)
		}
	}
	if len(d.Parameters) > maxParameters {
		v.add("", "Parameters", "%d parameters; at most %d are allowed", len(d.Parameters), maxParameters)
	}
	seen := map[string]bool{}
	for i, p := range d.Parameters {
		at := fmt.Sprintf("Parameters[%d]", i)
		if p.Name != "" {
			at = fmt.Sprintf("Parameters['%s']", p.Name)
		}
		if seen[p.Name] {
			v.add("", at, "duplicate parameter name")
		}
		seen[p.Name] = true
		for _, err := range p.validate() {
			v.addErr("", at, err)
		}
	}
	if len(d.Steps) == 0 {
		v.add("", "Steps", "a pipeline needs at least one step")
	}
}

// indexSteps flattens the steps (a Condition step, then its IfSteps, then its ElseSteps),
// records each one's parent, and reports duplicate names.
func (v *validator) indexSteps() {
	d := v.d
	d.all = nil
	d.byName = map[string]*Step{}
	var visit func(steps []*Step, parent *Step, br Branch)
	visit = func(steps []*Step, parent *Step, br Branch) {
		for i, s := range steps {
			where := fmt.Sprintf("at Steps[%d]", i)
			if parent != nil {
				s.Parent, s.Branch = parent.Name, br
				where = fmt.Sprintf("in the %s of %q", br, parent.Name)
			} else {
				s.Parent, s.Branch = "", ""
			}
			if first, dup := v.where[s.Name]; dup {
				v.add(s.Name, "Name", "duplicate step name: defined %s and %s (names are unique across the definition, branches included)", first, where)
			} else {
				v.where[s.Name] = where
				d.byName[s.Name] = s
			}
			d.all = append(d.all, s)
			if s.Type == StepCondition {
				visit(s.IfSteps, s, BranchIf)
				visit(s.ElseSteps, s, BranchElse)
			}
		}
	}
	visit(d.Steps, nil, "")
}

// step checks one step and returns the names of the steps it reads data from.
func (v *validator) step(s *Step) []string {
	if !validName(s.Name, 64) {
		v.add(s.Name, "Name", "must be 1 to 64 letters, digits, '-' or '_'")
	}
	switch {
	case slices.Contains(StepTypes, s.Type):
	case s.Type == "":
		// reported by the parser when absent; a programmatic Step may leave it empty
		v.add(s.Name, "Type", "required")
	case slices.Contains(unsupportedStepTypes, string(s.Type)):
		v.add(s.Name, "Type", "step type %q is not supported (supported: %s)", s.Type, stepTypeList())
	default:
		v.add(s.Name, "Type", "unknown step type %q (supported: %s)", s.Type, stepTypeList())
	}
	for i, dep := range s.DependsOn {
		field := fmt.Sprintf("DependsOn[%d]", i)
		switch _, ok := v.d.byName[dep]; {
		case dep == s.Name:
			v.add(s.Name, field, "a step cannot depend on itself")
		case !ok:
			v.add(s.Name, field, "unknown step %q", dep)
		}
	}
	if len(s.RetryPolicies) > 0 && !slices.Contains(retryStepTypes, s.Type) {
		v.add(s.Name, "RetryPolicies", "not allowed on a %s step (only on %s)", s.Type, typeList(retryStepTypes))
	} else {
		for i, p := range s.RetryPolicies {
			if err := validateRetryPolicy(p, s.Type); err != nil {
				v.addErr(s.Name, fmt.Sprintf("RetryPolicies[%d]", i), err)
			}
		}
	}
	if s.CacheConfig != nil {
		if !slices.Contains(cacheStepTypes, s.Type) {
			v.add(s.Name, "CacheConfig", "not allowed on a %s step (only on %s)", s.Type, typeList(cacheStepTypes))
		} else if s.CacheConfig.ExpireAfter != "" {
			if _, err := ParseISODuration(s.CacheConfig.ExpireAfter); err != nil {
				v.add(s.Name, "CacheConfig.ExpireAfter", "%v", err)
			}
		}
	}
	v.propertyFiles(s)
	if s.Type == StepCallback {
		v.callback(s)
	}
	v.arguments(s)
	return v.references(s)
}

func (v *validator) propertyFiles(s *Step) {
	if len(s.PropertyFiles) == 0 {
		return
	}
	if s.Type != StepProcessing {
		v.add(s.Name, "PropertyFiles", "only Processing steps declare property files")
		return
	}
	outputs, known := listNames(s.Arguments, PropertyPath{{Kind: ElemField, Name: "ProcessingOutputConfig"}, {Kind: ElemField, Name: "Outputs"}})
	seen := map[string]bool{}
	for i, pf := range s.PropertyFiles {
		at := fmt.Sprintf("PropertyFiles[%d]", i)
		switch {
		case pf.PropertyFileName == "":
			v.add(s.Name, at+".PropertyFileName", "required")
		case seen[pf.PropertyFileName]:
			v.add(s.Name, at+".PropertyFileName", "duplicate property file %q", pf.PropertyFileName)
		case !validName(pf.PropertyFileName, 256):
			v.add(s.Name, at+".PropertyFileName", "%q must be letters, digits, '-' or '_'", pf.PropertyFileName)
		}
		seen[pf.PropertyFileName] = true
		switch {
		case pf.OutputName == "":
			v.add(s.Name, at+".OutputName", "required")
		case known && !slices.Contains(outputs, pf.OutputName):
			v.add(s.Name, at+".OutputName", "the step has no output named %q (outputs: %s)", pf.OutputName, quoteList(outputs))
		}
		if pf.FilePath == "" {
			v.add(s.Name, at+".FilePath", "required")
		}
	}
}

func (v *validator) callback(s *Step) {
	if s.SQSQueueURL == "" {
		v.add(s.Name, "SqsQueueUrl", "required for a Callback step")
	}
	seen := map[string]bool{}
	for i, o := range s.OutputParameters {
		at := fmt.Sprintf("OutputParameters[%d]", i)
		switch {
		case o.OutputName == "":
			v.add(s.Name, at+".OutputName", "required")
		case seen[o.OutputName]:
			v.add(s.Name, at+".OutputName", "duplicate output %q", o.OutputName)
		}
		seen[o.OutputName] = true
		if !o.OutputType.valid() {
			v.add(s.Name, at+".OutputType", "unknown type %q (want String, Integer, Float or Boolean)", o.OutputType)
		}
	}
}

// stepExprs calls fn for every expression of a step, nested ones included, with its field.
func stepExprs(s *Step, fn func(at string, e Expr, err error)) {
	if s.Type == StepCondition {
		for i, c := range s.Conditions {
			conditionExprs(c, fmt.Sprintf("Arguments.Conditions[%d]", i), fn)
		}
		return
	}
	walkAllExprs(s.Arguments, "Arguments", fn)
}

func conditionExprs(c Condition, at string, fn func(at string, e Expr, err error)) {
	walk := func(v any, field string) { walkAllExprs(v, joinPath(at, field), fn) }
	switch {
	case c.Type.binary():
		walk(c.Left, "LeftValue")
		walk(c.Right, "RightValue")
	case c.Type == CondIn:
		walk(c.Query, "QueryValue")
		for i, x := range c.Values {
			walk(x, fmt.Sprintf("Values[%d]", i))
		}
	case c.Type == CondNot && c.Operand != nil:
		conditionExprs(*c.Operand, joinPath(at, "Condition"), fn)
	case c.Type == CondOr:
		for i, inner := range c.Conditions {
			conditionExprs(inner, joinPath(at, fmt.Sprintf("Conditions[%d]", i)), fn)
		}
	}
}

// references checks every expression of a step and returns the steps it reads from.
func (v *validator) references(s *Step) []string {
	var from []string
	stepExprs(s, func(at string, e Expr, err error) {
		if err != nil {
			v.addErr(s.Name, at, err)
			return
		}
		switch t := e.(type) {
		case *Get:
			if name, ok := v.reference(s, at, t.Ref); ok {
				from = append(from, name)
			}
		case *JSONGet:
			if t.FileName != "" {
				v.resolveBareFile(s, at, t)
			}
			if t.File != nil {
				if name, ok := v.reference(s, at, *t.File); ok {
					from = append(from, name)
				}
			}
		}
	})
	return from
}

// reference checks one reference made by step s and returns the step it reads from, if any.
func (v *validator) reference(s *Step, at string, r Reference) (string, bool) {
	d := v.d
	switch r.Kind {
	case RefParameter:
		if _, ok := d.Parameter(r.Name); !ok {
			v.add(s.Name, at, "Get %s: unknown parameter %q%s", r, r.Name, declaredParams(d))
		}
	case RefExperiment:
		if d.PipelineExperimentConfig == nil {
			v.add(s.Name, at, "Get %s: the definition has no PipelineExperimentConfig", r)
		}
	case RefStep, RefPropertyFile:
		target, ok := d.byName[r.Name]
		switch {
		case !ok:
			v.add(s.Name, at, "Get %s: unknown step %q", r, r.Name)
			return "", false
		case target == s:
			v.add(s.Name, at, "Get %s: a step cannot refer to its own properties", r)
			return "", false
		}
		if r.Kind == RefPropertyFile {
			if target.Type != StepProcessing {
				v.add(s.Name, at, "Get %s: step %q is a %s step; only Processing steps have property files", r, target.Name, target.Type)
			} else if _, ok := target.PropertyFile(r.File); !ok {
				v.add(s.Name, at, "Get %s: step %q declares no property file %q%s", r, target.Name, r.File, declaredFiles(target))
			}
		} else if err := checkStepProperty(target, r.Path); err != nil {
			v.add(s.Name, at, "Get %s: %v", r, err)
		}
		return target.Name, true
	}
	return "", false
}

// resolveBareFile finds the one Processing step that declares the property file named by a
// bare-name Std:JsonGet and rewrites the expression to name the step.
func (v *validator) resolveBareFile(s *Step, at string, j *JSONGet) {
	var owners []*Step
	for _, o := range v.d.all {
		if _, ok := o.PropertyFile(j.FileName); ok && o.Type == StepProcessing {
			owners = append(owners, o)
		}
	}
	switch len(owners) {
	case 0:
		v.add(s.Name, at, "Std:JsonGet: no step declares property file %q", j.FileName)
		return
	case 1:
	default:
		v.add(s.Name, at, `Std:JsonGet: several steps declare property file %q: name one with {"Get": "Steps.<Step>.PropertyFiles.%s"}`, j.FileName, j.FileName)
		return
	}
	ref := Reference{Kind: RefPropertyFile, Name: owners[0].Name, File: j.FileName}
	j.File = &ref
	rewriteBareFile(s.Arguments, j.FileName, ref)
	for i := range s.Conditions {
		rewriteConditionFiles(&s.Conditions[i], j.FileName, ref)
	}
}

func rewriteConditionFiles(c *Condition, name string, ref Reference) {
	for _, x := range []any{c.Left, c.Right, c.Query} {
		rewriteBareFile(x, name, ref)
	}
	for _, x := range c.Values {
		rewriteBareFile(x, name, ref)
	}
	if c.Operand != nil {
		rewriteConditionFiles(c.Operand, name, ref)
	}
	for i := range c.Conditions {
		rewriteConditionFiles(&c.Conditions[i], name, ref)
	}
}

// rewriteBareFile replaces, in place, `"PropertyFile": "<name>"` inside every Std:JsonGet of v
// with the Get form of ref.
func rewriteBareFile(v any, name string, ref Reference) {
	switch t := v.(type) {
	case map[string]any:
		if body, ok := t[keyJSONGet].(map[string]any); ok && len(t) == 1 {
			if pf, ok := body["PropertyFile"].(string); ok && pf == name {
				body["PropertyFile"] = map[string]any{keyGet: ref.String()}
			}
		}
		for _, el := range t {
			rewriteBareFile(el, name, ref)
		}
	case []any:
		for _, el := range t {
			rewriteBareFile(el, name, ref)
		}
	}
}

func (v *validator) experimentConfig() {
	ec := v.d.PipelineExperimentConfig
	if ec == nil {
		return
	}
	for _, f := range []struct {
		name string
		val  any
	}{{"ExperimentName", ec.ExperimentName}, {"TrialName", ec.TrialName}} {
		walkAllExprs(f.val, "PipelineExperimentConfig."+f.name, func(at string, e Expr, err error) {
			if err != nil {
				v.addErr("", at, err)
				return
			}
			g, ok := e.(*Get)
			if !ok {
				if _, isJSONGet := e.(*JSONGet); isJSONGet {
					v.add("", at, "Std:JsonGet: the experiment configuration may only use Parameters and Execution variables")
				}
				return
			}
			switch g.Ref.Kind {
			case RefParameter:
				if _, ok := v.d.Parameter(g.Ref.Name); !ok {
					v.add("", at, "Get %s: unknown parameter %q%s", g.Ref, g.Ref.Name, declaredParams(v.d))
				}
			case RefExecution:
			default:
				v.add("", at, "Get %s: the experiment configuration may only use Parameters and Execution variables", g.Ref)
			}
		})
		if _, isExpr, _ := ParseExpr(f.val); !isExpr && f.val != nil {
			if _, ok := f.val.(string); !ok {
				v.add("", "PipelineExperimentConfig."+f.name, "want a string or an expression, got %s", describeKind(f.val))
			}
		}
	}
}

// unreachable reports steps that no outcome of some condition lets run: they depend on steps
// of both branches of one Condition step.
func (v *validator) unreachable(g *Graph) {
	for _, s := range v.d.all {
		if s.Type != StepCondition {
			continue
		}
		ifSet := g.BranchSteps(s.Name, true)
		for _, name := range g.BranchSteps(s.Name, false) {
			if slices.Contains(ifSet, name) {
				v.add(name, "", "never runs: it depends on steps of both the IfSteps and the ElseSteps of condition %q", s.Name)
			}
		}
	}
}

func declaredParams(d *Definition) string {
	if len(d.Parameters) == 0 {
		return " (the definition declares no parameters)"
	}
	names := make([]string, len(d.Parameters))
	for i, p := range d.Parameters {
		names[i] = p.Name
	}
	return " (declared: " + strings.Join(names, ", ") + ")"
}

func declaredFiles(s *Step) string {
	if len(s.PropertyFiles) == 0 {
		return " (it declares none)"
	}
	names := make([]string, len(s.PropertyFiles))
	for i, pf := range s.PropertyFiles {
		names[i] = pf.PropertyFileName
	}
	return " (declared: " + strings.Join(names, ", ") + ")"
}

func stepTypeList() string { return typeList(StepTypes) }

func typeList(ts []StepType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listNames follows path through a step's literal Arguments to a list of structures and
// returns the names of its elements. known is false when the list is not written out
// literally (absent, or given by an expression), so that nothing can be said about it.
func listNames(args any, path PropertyPath) (names []string, known bool) {
	cur := args
	for _, e := range path {
		m, ok := cur.(map[string]any)
		if !ok || e.Kind != ElemField {
			return nil, false
		}
		if cur, ok = m[e.Name]; !ok {
			return nil, false
		}
	}
	l, ok := cur.([]any)
	if !ok {
		return nil, false
	}
	for _, el := range l {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, false
		}
		if _, isExpr, _ := ParseExpr(m); isExpr {
			return nil, false
		}
		n, ok := elementName(m)
		if !ok {
			return nil, false
		}
		names = append(names, n)
	}
	return names, true
}
