package pipeline

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ParameterType is the declared type of a parameter or of a Callback output.
type ParameterType string

// The parameter types.
const (
	ParamString  ParameterType = "String"
	ParamInteger ParameterType = "Integer"
	ParamFloat   ParameterType = "Float"
	ParamBoolean ParameterType = "Boolean"
)

func (t ParameterType) valid() bool {
	switch t {
	case ParamString, ParamInteger, ParamFloat, ParamBoolean:
		return true
	}
	return false
}

// Cast converts a value given as a string (StartPipelineExecution's PipelineParameters, a
// callback's OutputParameters) to the type: String → string, Integer → int64,
// Float → float64, Boolean → bool ("true", "True", "false", "0", ... as strconv.ParseBool).
func (t ParameterType) Cast(s string) (any, error) {
	switch t {
	case ParamString, "":
		return s, nil
	case ParamInteger:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an Integer", s)
		}
		return n, nil
	case ParamFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a Float", s)
		}
		return f, nil
	case ParamBoolean:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a Boolean", s)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown type %q", t)
}

// Parameter is a declared pipeline parameter.
type Parameter struct {
	Name string
	// Type is empty only where the schema allows String to be implied.
	Type ParameterType
	// DefaultValue is nil when the parameter has no default (it must be given at start);
	// otherwise a string, int64, float64 or bool after Parse.
	DefaultValue any
	// EnumValues, for String parameters, lists the allowed values.
	EnumValues []string
}

func (p Parameter) effectiveType() ParameterType {
	if p.Type == "" {
		return ParamString
	}
	return p.Type
}

// castDefault checks a DefaultValue against the type and returns it in its typed form.
func castDefault(t ParameterType, v any) (any, error) {
	switch t {
	case ParamString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("String parameter needs a string default, got %s", describeKind(v))
	case ParamInteger:
		n, ok := toNumber(v)
		if !ok {
			return nil, fmt.Errorf("Integer parameter needs an integer default, got %s", describeKind(v))
		}
		if n.isInt {
			return n.i, nil
		}
		if n.f != math.Trunc(n.f) || math.Abs(n.f) > 1<<53 {
			return nil, fmt.Errorf("Integer parameter needs an integer default, got %s", formatFloat(n.f))
		}
		return int64(n.f), nil
	case ParamFloat:
		n, ok := toNumber(v)
		if !ok {
			return nil, fmt.Errorf("Float parameter needs a number default, got %s", describeKind(v))
		}
		return n.float(), nil
	case ParamBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("Boolean parameter needs a boolean default, got %s", describeKind(v))
	}
	return nil, fmt.Errorf("unknown parameter type %q", t)
}

// Default returns the typed default value, if the parameter has one.
func (p Parameter) Default() (any, bool) {
	if p.DefaultValue == nil {
		return nil, false
	}
	v, err := castDefault(p.effectiveType(), p.DefaultValue)
	if err != nil {
		return nil, false
	}
	return v, true
}

// validate checks one declaration; errors are located relative to the parameter.
func (p Parameter) validate() []error {
	var errs []error
	if !validName(p.Name, 64) {
		errs = append(errs, locate("Name", fmt.Errorf("%q must be 1 to 64 letters, digits, '-' or '_'", p.Name)))
	}
	if p.Type != "" && !p.Type.valid() {
		errs = append(errs, locate("Type", fmt.Errorf("unknown type %q (want String, Integer, Float or Boolean)", p.Type)))
		return errs
	}
	var def any
	if p.DefaultValue != nil {
		v, err := castDefault(p.effectiveType(), p.DefaultValue)
		if err != nil {
			errs = append(errs, locate("DefaultValue", err))
		}
		def = v
	}
	if len(p.EnumValues) > 0 {
		if p.effectiveType() != ParamString {
			errs = append(errs, locate("EnumValues", fmt.Errorf("only String parameters take EnumValues, this one is %s", p.Type)))
		} else if s, ok := def.(string); ok && !slices.Contains(p.EnumValues, s) {
			errs = append(errs, locate("DefaultValue", fmt.Errorf("%q is not one of EnumValues %s", s, quoteList(p.EnumValues))))
		}
	}
	return errs
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ErrInvalidParameters matches (with errors.Is) the errors of BindParameters.
var ErrInvalidParameters = errors.New("invalid pipeline parameters")

// ParameterError is a problem with one value given at StartPipelineExecution.
type ParameterError struct {
	Name string
	Msg  string
}

// Error implements error.
func (e *ParameterError) Error() string { return fmt.Sprintf("parameter %q: %s", e.Name, e.Msg) }

// Is makes errors.Is(err, ErrInvalidParameters) true.
func (e *ParameterError) Is(target error) bool { return target == ErrInvalidParameters }

// ParameterValue is one entry of StartPipelineExecution's PipelineParameters; the value is
// always a string on the wire.
type ParameterValue struct {
	Name  string
	Value string
}

// BindParameters checks the values given at start against the declarations and returns every
// parameter's typed value (the given one cast to its type, or the default), ready for
// Env.Parameters. Unknown names, repeated names, values that do not cast, values outside
// EnumValues and parameters with neither a value nor a default are refused; the error joins
// one *ParameterError per problem.
func (d *Definition) BindParameters(values []ParameterValue) (map[string]any, error) {
	var errs []error
	given := map[string]string{}
	for _, v := range values {
		if _, ok := d.Parameter(v.Name); !ok {
			errs = append(errs, &ParameterError{Name: v.Name, Msg: "not declared by the pipeline"})
			continue
		}
		if _, dup := given[v.Name]; dup {
			errs = append(errs, &ParameterError{Name: v.Name, Msg: "given more than once"})
			continue
		}
		given[v.Name] = v.Value
	}
	out := make(map[string]any, len(d.Parameters))
	for _, p := range d.Parameters {
		s, ok := given[p.Name]
		if !ok {
			def, has := p.Default()
			if !has {
				errs = append(errs, &ParameterError{Name: p.Name, Msg: "required: it has no default value"})
				continue
			}
			out[p.Name] = def
			continue
		}
		v, err := p.effectiveType().Cast(s)
		if err != nil {
			errs = append(errs, &ParameterError{Name: p.Name, Msg: err.Error()})
			continue
		}
		if len(p.EnumValues) > 0 && !slices.Contains(p.EnumValues, s) {
			errs = append(errs, &ParameterError{Name: p.Name, Msg: fmt.Sprintf("%q is not one of %s", s, quoteList(p.EnumValues))})
			continue
		}
		out[p.Name] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
