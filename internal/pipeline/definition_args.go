package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// shapeKind is the kind of a SageMaker API shape.
type shapeKind uint8

const (
	shapeString shapeKind = iota + 1
	shapeInteger
	shapeLong
	shapeFloat
	shapeDouble
	shapeBoolean
	shapeTimestamp
	shapeBlob
	shapeStruct
	shapeList
	shapeMap
)

// apiShape is one shape of the SageMaker API model (see definition_shapes.go). Shapes are
// named; members and elements refer to other shapes by name, and plain scalars by the
// primitive names of primitiveShapes.
type apiShape struct {
	kind     shapeKind
	members  map[string]string
	required []string
	elem     string
	enum     []string
	hasMin   bool
	hasMax   bool
	min, max float64
}

var primitiveShapes = map[string]*apiShape{
	"string":    {kind: shapeString},
	"integer":   {kind: shapeInteger},
	"long":      {kind: shapeLong},
	"float":     {kind: shapeFloat},
	"double":    {kind: shapeDouble},
	"boolean":   {kind: shapeBoolean},
	"timestamp": {kind: shapeTimestamp},
	"blob":      {kind: shapeBlob},
}

func lookupShape(name string) *apiShape {
	if s, ok := primitiveShapes[name]; ok {
		return s
	}
	return apiShapes[name]
}

func (k shapeKind) noun() string {
	switch k {
	case shapeString, shapeBlob:
		return "a string"
	case shapeInteger, shapeLong:
		return "an integer"
	case shapeFloat, shapeDouble:
		return "a number"
	case shapeBoolean:
		return "a boolean"
	case shapeTimestamp:
		return "a timestamp"
	case shapeStruct:
		return "an object"
	case shapeList:
		return "a list"
	case shapeMap:
		return "an object (map)"
	}
	return "a value"
}

// argumentRules says how to check the Arguments of each step type that mirrors a Create*
// request: the request shape, the members the service fills in itself (the SDK strips the job
// name), and the rules the model cannot state.
var argumentRules = map[StepType]struct {
	request   string
	generated []string
	oneOf     [][]string // each group: at least one member must be given
}{
	StepProcessing: {request: "CreateProcessingJobRequest", generated: []string{"ProcessingJobName"}},
	StepTraining: {request: "CreateTrainingJobRequest", generated: []string{"TrainingJobName"},
		// Sluice must know what to run: the image (or a named algorithm).
		oneOf: [][]string{{"AlgorithmSpecification.TrainingImage", "AlgorithmSpecification.AlgorithmName"}}},
	StepTransform: {request: "CreateTransformJobRequest", generated: []string{"TransformJobName"}},
	StepModel: {request: "CreateModelInput", generated: []string{"ModelName"},
		oneOf: [][]string{{"PrimaryContainer", "Containers"}}},
	StepRegisterModel: {request: "CreateModelPackageInput",
		// The SDK registers versions into a group; an unversioned package needs its name.
		oneOf: [][]string{{"ModelPackageGroupName", "ModelPackageName"}}},
}

// arguments checks a step's Arguments against its type.
func (v *validator) arguments(s *Step) {
	switch s.Type {
	case StepCondition:
		return // parsed into Conditions, IfSteps, ElseSteps by the parser
	case StepDeploy, StepEndpointTest, StepApproval:
		v.deliveryArguments(s)
		return
	case StepFail, StepCallback:
		if s.Arguments == nil {
			return
		}
		m, ok := s.Arguments.(map[string]any)
		if !ok {
			v.add(s.Name, "Arguments", "want an object, got %s", describeKind(s.Arguments))
			return
		}
		if msg, present := m["ErrorMessage"]; present && s.Type == StepFail {
			if _, isExpr, _ := ParseExpr(msg); !isExpr {
				if _, ok := msg.(string); !ok {
					v.add(s.Name, "Arguments.ErrorMessage", "want a string or an expression, got %s", describeKind(msg))
				}
			}
		}
		return
	}
	rule, ok := argumentRules[s.Type]
	if !ok {
		return
	}
	if s.Arguments == nil {
		v.add(s.Name, "Arguments", "required (the %s request)", strings.TrimSuffix(strings.TrimSuffix(rule.request, "Request"), "Input"))
		return
	}
	c := shapeChecker{v: v, step: s.Name, skipRequired: rule.generated}
	c.check(s.Arguments, apiShapes[rule.request], "Arguments")
	for _, group := range rule.oneOf {
		given := false
		for _, path := range group {
			if argPresent(s.Arguments, path) {
				given = true
				break
			}
		}
		if given {
			continue
		}
		// Only report the group when its parent object is there; a missing parent was
		// already reported as required.
		parent, _, nested := strings.Cut(group[0], ".")
		if nested && !argPresent(s.Arguments, parent) {
			continue
		}
		others := make([]string, 0, len(group)-1)
		for _, p := range group[1:] {
			others = append(others, p[strings.LastIndexByte(p, '.')+1:])
		}
		v.add(s.Name, "Arguments."+group[0], "required (or %s)", strings.Join(others, " or "))
	}
}

// argPresent reports whether a dotted member path is given (not null) in args.
func argPresent(args any, path string) bool {
	cur := args
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if _, isExpr, _ := ParseExpr(m); isExpr {
			return true // an expression stands for the whole object
		}
		cur, ok = m[part]
		if !ok || cur == nil {
			return false
		}
	}
	return true
}

// shapeChecker compares a JSON-like value with an API shape: JSON types, required members,
// enums and numeric ranges of literals, and the declared type of parameters used in place of a
// value. Unknown members are tolerated, as the service does with the extra fields the SDK
// sends.
type shapeChecker struct {
	v            *validator
	step         string
	skipRequired []string // at the top level only
}

func (c shapeChecker) errf(at, format string, args ...any) {
	c.v.add(c.step, at, format, args...)
}

func (c shapeChecker) check(val any, sh *apiShape, at string) {
	if sh == nil || val == nil {
		return
	}
	if e, isExpr, err := ParseExpr(val); isExpr {
		if err == nil {
			c.checkExpr(e, sh, at)
		}
		return // malformed expressions are reported by the reference walk
	}
	switch sh.kind {
	case shapeStruct:
		m, ok := val.(map[string]any)
		if !ok {
			c.errf(at, "want an object, got %s", describeKind(val))
			return
		}
		for _, r := range sh.required {
			if at == "Arguments" && slices.Contains(c.skipRequired, r) {
				continue
			}
			if x, present := m[r]; !present || x == nil {
				c.errf(joinPath(at, r), "required")
			}
		}
		for _, k := range sortedKeys(m) {
			if ms, known := sh.members[k]; known {
				c.check(m[k], lookupShape(ms), joinPath(at, k))
			}
		}
	case shapeList:
		l, ok := val.([]any)
		if !ok {
			c.errf(at, "want a list, got %s", describeKind(val))
			return
		}
		el := lookupShape(sh.elem)
		for i, x := range l {
			c.check(x, el, fmt.Sprintf("%s[%d]", at, i))
		}
	case shapeMap:
		m, ok := val.(map[string]any)
		if !ok {
			c.errf(at, "want an object, got %s", describeKind(val))
			return
		}
		el := lookupShape(sh.elem)
		for _, k := range sortedKeys(m) {
			c.check(m[k], el, joinPath(at, k))
		}
	case shapeString, shapeBlob:
		s, ok := val.(string)
		if !ok {
			c.errf(at, "want a string, got %s", describeKind(val))
			return
		}
		if len(sh.enum) > 0 && !slices.Contains(sh.enum, s) {
			c.errf(at, "%q is not one of %s", s, quoteList(sh.enum))
		}
	case shapeInteger, shapeLong, shapeFloat, shapeDouble:
		n, ok := toNumber(val)
		if !ok {
			c.errf(at, "want %s, got %s", sh.kind.noun(), describeKind(val))
			return
		}
		f := n.float()
		if (sh.kind == shapeInteger || sh.kind == shapeLong) && !n.isInt && f != math.Trunc(f) {
			c.errf(at, "want an integer, got %v", val)
			return
		}
		if sh.hasMin && f < sh.min || sh.hasMax && f > sh.max {
			c.errf(at, "%v is out of range %s", val, rangeText(sh))
		}
	case shapeBoolean:
		if _, ok := val.(bool); !ok {
			c.errf(at, "want a boolean, got %s", describeKind(val))
		}
	case shapeTimestamp:
		switch val.(type) {
		case string, json.Number, float64:
		default:
			c.errf(at, "want a timestamp, got %s", describeKind(val))
		}
	}
}

func rangeText(sh *apiShape) string {
	lo, hi := "-inf", "+inf"
	if sh.hasMin {
		lo = formatLimit(sh.min)
	}
	if sh.hasMax {
		hi = formatLimit(sh.max)
	}
	return "[" + lo + ", " + hi + "]"
}

func formatLimit(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%d", int64(f))
	}
	return formatFloat(f)
}

// checkExpr checks an expression used where the shape is expected. Only parameter references
// carry a declared type at definition time; a String, Float or Boolean parameter cannot stand
// for an integer, and so on. Any parameter type can stand for a string field: the service
// turns the value into text.
func (c shapeChecker) checkExpr(e Expr, sh *apiShape, at string) {
	g, ok := e.(*Get)
	if !ok || g.Ref.Kind != RefParameter {
		return
	}
	p, ok := c.v.d.Parameter(g.Ref.Name)
	if !ok {
		return // reported by the reference walk
	}
	t := p.effectiveType()
	var fits bool
	switch sh.kind {
	case shapeString, shapeBlob, shapeTimestamp:
		fits = true
		if t == ParamString && len(sh.enum) > 0 {
			if def, ok := p.Default(); ok && !slices.Contains(sh.enum, def.(string)) {
				c.errf(at, "Get %s: default %q is not one of %s", g.Ref, def, quoteList(sh.enum))
			}
		}
	case shapeInteger, shapeLong:
		fits = t == ParamInteger
	case shapeFloat, shapeDouble:
		fits = t == ParamInteger || t == ParamFloat
	case shapeBoolean:
		fits = t == ParamBoolean
	}
	if !fits {
		c.errf(at, "parameter type mismatch: Get %s is a %s parameter, the field wants %s", g.Ref, t, sh.kind.noun())
	}
}

// ResolveArguments resolves the step's Arguments in env (see Resolve) and then brings scalar
// values to the type the Create* request wants where the service would convert them itself:
// a number or boolean in a string field (a hyperparameter, an environment variable) becomes
// its text, as FormatValue writes it. Step types without a request shape are only resolved.
func (s *Step) ResolveArguments(env Env) (any, error) {
	v, err := Resolve(s.Arguments, env)
	if err != nil {
		return nil, fmt.Errorf("step %q: Arguments.%w", s.Name, err)
	}
	if rule, ok := argumentRules[s.Type]; ok {
		v = coerceToShape(v, apiShapes[rule.request])
	}
	return v, nil
}

func coerceToShape(v any, sh *apiShape) any {
	if sh == nil || v == nil {
		return v
	}
	switch sh.kind {
	case shapeStruct:
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				if ms, known := sh.members[k]; known {
					m[k] = coerceToShape(x, lookupShape(ms))
				}
			}
		}
	case shapeList:
		if l, ok := v.([]any); ok {
			el := lookupShape(sh.elem)
			for i, x := range l {
				l[i] = coerceToShape(x, el)
			}
		}
	case shapeMap:
		if m, ok := v.(map[string]any); ok {
			el := lookupShape(sh.elem)
			for k, x := range m {
				m[k] = coerceToShape(x, el)
			}
		}
	case shapeString:
		switch v.(type) {
		case string, map[string]any, []any:
		default:
			if s, err := FormatValue(v); err == nil {
				return s
			}
		}
	}
	return v
}
