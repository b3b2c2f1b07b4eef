package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The JSON keys that make an object an expression. An object is an expression only when it has
// exactly one key and that key is one of these, which is how the SDK serializes pipeline
// variables; any other object is data.
const (
	keyGet     = "Get"
	keyJoin    = "Std:Join"
	keyJSONGet = "Std:JsonGet"
)

// ExecutionVariables are the names that `Execution.<Var>` may refer to.
// TrainingJobName and ProcessingJobName resolve to the job the current step launches.
var ExecutionVariables = []string{
	"StartDateTime", "CurrentDateTime", "PipelineName", "PipelineArn",
	"PipelineExecutionId", "PipelineExecutionArn", "TrainingJobName", "ProcessingJobName",
}

// RefKind says what a `Get` path refers to.
type RefKind uint8

const (
	// RefParameter is `Parameters.<Name>`.
	RefParameter RefKind = iota + 1
	// RefExecution is `Execution.<Var>`.
	RefExecution
	// RefExperiment is `PipelineExperimentConfig.ExperimentName|TrialName`.
	RefExperiment
	// RefStep is `Steps.<Step>.<PropertyPath>`.
	RefStep
	// RefPropertyFile is `Steps.<Step>.PropertyFiles.<File>`; valid only inside Std:JsonGet.
	RefPropertyFile
)

// Reference is a parsed `Get` path.
type Reference struct {
	Kind RefKind
	// Name is the parameter, execution variable, experiment field or step name.
	Name string
	// Path is the property path within the step (RefStep).
	Path PropertyPath
	// File is the property file name (RefPropertyFile).
	File string
}

// ParseReference parses the string of a `{"Get": ...}` expression.
func ParseReference(s string) (Reference, error) {
	root, rest, ok := strings.Cut(s, ".")
	if !ok || rest == "" {
		return Reference{}, fmt.Errorf("Get %q: want Parameters.<Name>, Execution.<Var>, PipelineExperimentConfig.<Field> or Steps.<Step>.<Property>", s)
	}
	switch root {
	case "Parameters":
		if !validName(rest, 64) {
			return Reference{}, fmt.Errorf("Get %q: invalid parameter name", s)
		}
		return Reference{Kind: RefParameter, Name: rest}, nil
	case "Execution":
		if !slices.Contains(ExecutionVariables, rest) {
			return Reference{}, fmt.Errorf("Get %q: unknown execution variable %q (want one of %s)", s, rest, strings.Join(ExecutionVariables, ", "))
		}
		return Reference{Kind: RefExecution, Name: rest}, nil
	case "PipelineExperimentConfig":
		if rest != "ExperimentName" && rest != "TrialName" {
			return Reference{}, fmt.Errorf("Get %q: want PipelineExperimentConfig.ExperimentName or PipelineExperimentConfig.TrialName", s)
		}
		return Reference{Kind: RefExperiment, Name: rest}, nil
	case "Steps":
		step, prop, ok := strings.Cut(rest, ".")
		if !ok || prop == "" {
			return Reference{}, fmt.Errorf("Get %q: want Steps.<Step>.<Property>", s)
		}
		if !validName(step, 64) {
			return Reference{}, fmt.Errorf("Get %q: invalid step name %q", s, step)
		}
		if f, ok := strings.CutPrefix(prop, "PropertyFiles."); ok {
			if !validName(f, 256) {
				return Reference{}, fmt.Errorf("Get %q: invalid property file name %q", s, f)
			}
			return Reference{Kind: RefPropertyFile, Name: step, File: f}, nil
		}
		path, err := ParsePropertyPath(prop)
		if err != nil {
			return Reference{}, fmt.Errorf("Get %q: %w", s, err)
		}
		return Reference{Kind: RefStep, Name: step, Path: path}, nil
	}
	return Reference{}, fmt.Errorf("Get %q: unknown root %q (want Parameters, Execution, PipelineExperimentConfig or Steps)", s, root)
}

// String renders the reference as the string of its `Get`.
func (r Reference) String() string {
	switch r.Kind {
	case RefParameter:
		return "Parameters." + r.Name
	case RefExecution:
		return "Execution." + r.Name
	case RefExperiment:
		return "PipelineExperimentConfig." + r.Name
	case RefStep:
		return "Steps." + r.Name + "." + r.Path.String()
	case RefPropertyFile:
		return "Steps." + r.Name + ".PropertyFiles." + r.File
	}
	return "?"
}

// Expr is a parsed expression: *Get, *Join or *JSONGet.
type Expr interface {
	// Eval computes the expression's value in env.
	Eval(env Env) (any, error)
	// String is a short form for messages, such as `Get Parameters.X`.
	String() string
}

// Get is `{"Get": "<path>"}`.
type Get struct {
	Ref Reference
}

// Join is `{"Std:Join": {"On": sep, "Values": [...]}}`. Values are literals or expressions.
type Join struct {
	On     string
	Values []any
}

// JSONGet is `{"Std:JsonGet": {...}}`: a value read from a JSON file. The file is a step's
// property file, named either by `{"Get": "Steps.S.PropertyFiles.F"}` (File set) or, in the
// bare form, by its name alone (FileName set; the validator resolves it to the one step that
// declares it); or any JSON object in the artifact store, named by S3Uri (newer SDK form).
type JSONGet struct {
	File     *Reference
	FileName string
	S3URI    any
	Path     PropertyPath
	RawPath  string
}

// ParseExpr parses v when it is an expression object. It reports ok=false for any other value
// (a literal), and an error when v has the shape of an expression but is malformed.
func ParseExpr(v any) (e Expr, ok bool, err error) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return nil, false, nil
	}
	for k, body := range m {
		switch k {
		case keyGet:
			s, ok := body.(string)
			if !ok {
				return nil, true, fmt.Errorf("Get: want a string, got %s", describeKind(body))
			}
			ref, err := ParseReference(s)
			if err != nil {
				return nil, true, err
			}
			if ref.Kind == RefPropertyFile {
				return nil, true, fmt.Errorf("Get %q: a property file can only be read with Std:JsonGet", s)
			}
			return &Get{Ref: ref}, true, nil
		case keyJoin:
			j, err := parseJoin(body)
			if err != nil {
				return nil, true, err
			}
			return j, true, nil
		case keyJSONGet:
			j, err := parseJSONGet(body)
			if err != nil {
				return nil, true, err
			}
			return j, true, nil
		}
	}
	return nil, false, nil
}

func parseJoin(body any) (*Join, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Std:Join: want an object, got %s", describeKind(body))
	}
	j := &Join{}
	if on, present := m["On"]; present {
		s, ok := on.(string)
		if !ok {
			return nil, fmt.Errorf("Std:Join.On: want a string, got %s", describeKind(on))
		}
		j.On = s
	}
	vals, present := m["Values"]
	if !present {
		return nil, fmt.Errorf("Std:Join.Values: required")
	}
	l, ok := vals.([]any)
	if !ok {
		return nil, fmt.Errorf("Std:Join.Values: want a list, got %s", describeKind(vals))
	}
	j.Values = l
	return j, nil
}

func parseJSONGet(body any) (*JSONGet, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Std:JsonGet: want an object, got %s", describeKind(body))
	}
	j := &JSONGet{}
	pf, hasPF := m["PropertyFile"]
	uri, hasURI := m["S3Uri"]
	switch {
	case hasPF && hasURI:
		return nil, fmt.Errorf("Std:JsonGet: give PropertyFile or S3Uri, not both")
	case hasPF:
		switch f := pf.(type) {
		case string:
			if !validName(f, 256) {
				return nil, fmt.Errorf("Std:JsonGet.PropertyFile: invalid property file name %q", f)
			}
			j.FileName = f
		case map[string]any:
			s, ok := f[keyGet].(string)
			if !ok || len(f) != 1 {
				return nil, fmt.Errorf(`Std:JsonGet.PropertyFile: want {"Get": "Steps.<Step>.PropertyFiles.<Name>"} or a property file name`)
			}
			ref, err := ParseReference(s)
			if err != nil {
				return nil, fmt.Errorf("Std:JsonGet.PropertyFile: %w", err)
			}
			if ref.Kind != RefPropertyFile {
				return nil, fmt.Errorf("Std:JsonGet.PropertyFile: Get %q is not Steps.<Step>.PropertyFiles.<Name>", s)
			}
			j.File = &ref
		default:
			return nil, fmt.Errorf("Std:JsonGet.PropertyFile: want a Get or a name, got %s", describeKind(pf))
		}
	case hasURI:
		j.S3URI = uri
	default:
		return nil, fmt.Errorf("Std:JsonGet: PropertyFile (or S3Uri) is required")
	}
	p, ok := m["Path"].(string)
	if !ok {
		return nil, fmt.Errorf("Std:JsonGet.Path: required string")
	}
	path, err := ParseJSONPath(p)
	if err != nil {
		return nil, fmt.Errorf("Std:JsonGet.Path: %w", err)
	}
	j.Path, j.RawPath = path, p
	return j, nil
}

// Env supplies the values expressions are evaluated against. The engine builds one per step
// evaluation; the functions may do I/O and capture the caller's context.
type Env struct {
	// Parameters holds the typed parameter values (see Definition.BindParameters).
	Parameters map[string]any
	// Execution holds the execution variables by name (see ExecutionVariables).
	Execution map[string]any
	// Experiment holds the resolved PipelineExperimentConfig: ExperimentName, TrialName.
	Experiment map[string]any
	// StepProperties returns the properties of a finished step as a JSON-like value: its
	// Describe* response (see ToJSONValue), ConditionProperties or CallbackProperties.
	StepProperties func(step string) (any, error)
	// PropertyFile returns the parsed content of a step's property file.
	PropertyFile func(step, file string) (any, error)
	// ReadJSON returns the parsed content of a JSON object named by an s3:// URI, for the
	// S3Uri form of Std:JsonGet.
	ReadJSON func(uri string) (any, error)
}

// Eval implements Expr.
func (g *Get) Eval(env Env) (any, error) {
	r := g.Ref
	switch r.Kind {
	case RefParameter:
		v, ok := env.Parameters[r.Name]
		if !ok {
			return nil, fmt.Errorf("%s: parameter has no value", g)
		}
		return v, nil
	case RefExecution:
		v, ok := env.Execution[r.Name]
		if !ok {
			return nil, fmt.Errorf("%s: not available here", g)
		}
		return v, nil
	case RefExperiment:
		v, ok := env.Experiment[r.Name]
		if !ok {
			return nil, fmt.Errorf("%s: the pipeline has no experiment configuration", g)
		}
		return v, nil
	case RefStep:
		if env.StepProperties == nil {
			return nil, fmt.Errorf("%s: step properties are not available", g)
		}
		props, err := env.StepProperties(r.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		v, err := r.Path.Lookup(props)
		if err != nil {
			return nil, fmt.Errorf("%s: step %q: %w", g, r.Name, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%s: cannot be evaluated as a value", g)
}

// String implements Expr.
func (g *Get) String() string { return "Get " + g.Ref.String() }

// Eval implements Expr: every value is evaluated and formatted with FormatValue.
func (j *Join) Eval(env Env) (any, error) {
	parts := make([]string, len(j.Values))
	for i, v := range j.Values {
		rv, err := resolve(v, env, "")
		if err != nil {
			return nil, fmt.Errorf("Std:Join.Values[%d]: %w", i, err)
		}
		s, err := FormatValue(rv)
		if err != nil {
			return nil, fmt.Errorf("Std:Join.Values[%d]: %w", i, err)
		}
		parts[i] = s
	}
	return strings.Join(parts, j.On), nil
}

// String implements Expr.
func (j *Join) String() string { return fmt.Sprintf("Std:Join(On %q)", j.On) }

// Eval implements Expr. The value keeps its JSON type (a number stays a number).
func (j *JSONGet) Eval(env Env) (any, error) {
	var doc any
	var err error
	switch {
	case j.File != nil:
		if env.PropertyFile == nil {
			return nil, fmt.Errorf("%s: property files are not available", j)
		}
		doc, err = env.PropertyFile(j.File.Name, j.File.File)
	case j.FileName != "":
		return nil, fmt.Errorf("%s: property file %q was not resolved to a step (the definition was not validated)", j, j.FileName)
	default:
		var uri any
		if uri, err = resolve(j.S3URI, env, ""); err != nil {
			return nil, fmt.Errorf("%s: S3Uri: %w", j, err)
		}
		s, ok := uri.(string)
		if !ok {
			return nil, fmt.Errorf("%s: S3Uri: want a string, got %s", j, describeKind(uri))
		}
		if env.ReadJSON == nil {
			return nil, fmt.Errorf("%s: reading JSON from the artifact store is not available", j)
		}
		doc, err = env.ReadJSON(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j, err)
	}
	v, err := j.Path.Lookup(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j, err)
	}
	return v, nil
}

// String implements Expr.
func (j *JSONGet) String() string {
	switch {
	case j.File != nil:
		return fmt.Sprintf("Std:JsonGet(%s, %q)", j.File, j.RawPath)
	case j.FileName != "":
		return fmt.Sprintf("Std:JsonGet(%s, %q)", j.FileName, j.RawPath)
	}
	return fmt.Sprintf("Std:JsonGet(S3Uri, %q)", j.RawPath)
}

// Resolve walks an arguments tree (the JSON-like value of a step's Arguments, or any part of
// it) and returns a copy in which every expression is replaced by its value. Parameters keep
// their declared type (Integer → int64, Float → float64, Boolean → bool); Std:Join gives a
// string; Std:JsonGet and step properties give the JSON value found. The input is not changed.
// An error names the position in the tree, e.g. `InputDataConfig[0].DataSource.S3DataSource.S3Uri`.
func Resolve(args any, env Env) (any, error) {
	return resolve(args, env, "")
}

func resolve(v any, env Env, at string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		e, ok, err := ParseExpr(t)
		if err != nil {
			return nil, atErr(at, err)
		}
		if ok {
			out, err := e.Eval(env)
			if err != nil {
				return nil, atErr(at, err)
			}
			return out, nil
		}
		out := make(map[string]any, len(t))
		for _, k := range sortedKeys(t) { // sorted, so that the first error reported is stable
			r, err := resolve(t[k], env, joinField(at, k))
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, el := range t {
			r, err := resolve(el, env, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func atErr(at string, err error) error {
	if at == "" {
		return err
	}
	return fmt.Errorf("%s: %w", at, err)
}

func joinField(base, name string) string {
	if base == "" {
		return name
	}
	return base + "." + name
}

// walkExprs calls fn for every expression object found in v, with the field path of the
// object. It does not descend into an expression: fn sees the whole expression. Malformed
// expressions are reported to fn with e == nil and err set.
func walkExprs(v any, at string, fn func(at string, e Expr, err error)) {
	switch t := v.(type) {
	case map[string]any:
		e, ok, err := ParseExpr(t)
		if ok {
			fn(at, e, err)
			return
		}
		for _, k := range sortedKeys(t) {
			walkExprs(t[k], joinField(at, k), fn)
		}
	case []any:
		for i, el := range t {
			walkExprs(el, fmt.Sprintf("%s[%d]", at, i), fn)
		}
	}
}

// subExprs calls fn for the expressions nested inside e (the values of a Join, the S3Uri of a
// JsonGet), so that validators and the graph see every reference.
func subExprs(e Expr, at string, fn func(at string, e Expr, err error)) {
	switch t := e.(type) {
	case *Join:
		for i, v := range t.Values {
			walkExprs(v, fmt.Sprintf("%s.Std:Join.Values[%d]", at, i), fn)
		}
	case *JSONGet:
		if t.S3URI != nil {
			walkExprs(t.S3URI, at+".Std:JsonGet.S3Uri", fn)
		}
	}
}

// walkAllExprs is walkExprs that also visits expressions nested inside expressions.
func walkAllExprs(v any, at string, fn func(at string, e Expr, err error)) {
	var visit func(at string, e Expr, err error)
	visit = func(at string, e Expr, err error) {
		fn(at, e, err)
		if e != nil {
			subExprs(e, at, visit)
		}
	}
	walkExprs(v, at, visit)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FormatValue turns a resolved value into the string that Std:Join puts in its output:
// strings as they are, integers in decimal, floats in the shortest form that keeps a decimal
// point (6.0 → "6.0", as Python and Java print them), booleans as "true"/"false", json.Number
// as written, objects and lists as compact JSON. A null has no string form.
func FormatValue(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", errors.New("cannot format a null value")
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case json.Number:
		return t.String(), nil
	case float64:
		return formatFloat(t), nil
	case float32:
		return formatFloat(float64(t)), nil
	case map[string]any, []any:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return "", fmt.Errorf("format value: %w", err)
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
	if n, ok := toInt64(v); ok {
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("cannot format a %T", v)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// decodeJSON decodes one JSON value with numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}
