package pipeline

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// PathElemKind says how one element of a PropertyPath selects into a value.
type PathElemKind uint8

const (
	// ElemField selects a member of a structure: `.Name`.
	ElemField PathElemKind = iota + 1
	// ElemIndex selects a list element by position: `[0]`.
	ElemIndex
	// ElemKey selects a map entry, or the element of a list of structures whose name
	// member (OutputName, ChannelName, MetricName, ...) equals the key: `['train']`.
	ElemKey
)

// PathElem is one step of a PropertyPath.
type PathElem struct {
	Kind PathElemKind
	// Name is the member name (ElemField) or the key (ElemKey).
	Name string
	// Index is the list position (ElemIndex).
	Index int
}

// PropertyPath is a parsed path into a step's properties, such as
// `ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri`, or into a property file
// (the Path of Std:JsonGet), such as `regression_metrics.mse.value`.
type PropertyPath []PathElem

// listNameMembers are the members that name an element of a list of structures, in the order
// they are tried. SageMaker's `['key']` selection over a list matches on the element's name
// member; the Describe* shapes use these.
var listNameMembers = []string{
	"OutputName", "InputName", "ChannelName", "MetricName", "VariantName",
	"ParameterName", "PropertyFileName", "Name",
}

// ParsePropertyPath parses a step property path. Member names must be identifiers
// ([A-Za-z_][A-Za-z0-9_]*), as they are in the Describe* response shapes.
func ParsePropertyPath(s string) (PropertyPath, error) {
	return parsePath(s, false)
}

// ParseJSONPath parses the Path of a Std:JsonGet: dot-separated keys, `[N]` and `['key']`.
// Keys between dots may hold any character except `.`, `[` and `]`, because they name keys of
// a user's JSON file; an optional leading `$` or `$.` is accepted.
func ParseJSONPath(s string) (PropertyPath, error) {
	if s == "$" {
		return PropertyPath{}, nil
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "$"), ".")
	return parsePath(s, true)
}

func parsePath(s string, lenient bool) (PropertyPath, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	var p PropertyPath
	i := 0
	expectName := true // a member name is required at the start and after '.'
	for i < len(s) {
		switch c := s[i]; {
		case c == '.':
			if expectName {
				return nil, fmt.Errorf("path %q: empty member name at offset %d", s, i)
			}
			i++
			expectName = true
			if i == len(s) {
				return nil, fmt.Errorf("path %q: ends with '.'", s)
			}
		case c == '[':
			if expectName && len(p) == 0 && !lenient {
				return nil, fmt.Errorf("path %q: must start with a member name", s)
			}
			if expectName && len(p) > 0 {
				return nil, fmt.Errorf("path %q: '[' after '.' at offset %d", s, i)
			}
			elem, n, err := parseBracket(s, i)
			if err != nil {
				return nil, err
			}
			p = append(p, elem)
			i += n
			expectName = false
		default:
			if !expectName {
				return nil, fmt.Errorf("path %q: unexpected %q at offset %d (want '.' or '[')", s, c, i)
			}
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				if !lenient && !isIdentByte(s[j], j == i) {
					return nil, fmt.Errorf("path %q: invalid character %q in member name at offset %d", s, s[j], j)
				}
				if lenient && s[j] == ']' {
					return nil, fmt.Errorf("path %q: unexpected ']' at offset %d", s, j)
				}
				j++
			}
			p = append(p, PathElem{Kind: ElemField, Name: s[i:j]})
			i = j
			expectName = false
		}
	}
	return p, nil
}

// parseBracket parses `[N]`, `['key']` or `["key"]` at s[i] and returns the element and the
// number of bytes consumed.
func parseBracket(s string, i int) (PathElem, int, error) {
	rest := s[i+1:]
	if rest == "" {
		return PathElem{}, 0, fmt.Errorf("path %q: unterminated '[' at offset %d", s, i)
	}
	if q := rest[0]; q == '\'' || q == '"' {
		end := strings.Index(rest[1:], string(q)+"]")
		if end < 0 {
			return PathElem{}, 0, fmt.Errorf("path %q: unterminated key at offset %d", s, i)
		}
		key := rest[1 : 1+end]
		if key == "" {
			return PathElem{}, 0, fmt.Errorf("path %q: empty key at offset %d", s, i)
		}
		return PathElem{Kind: ElemKey, Name: key}, 1 + 1 + end + 2, nil
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return PathElem{}, 0, fmt.Errorf("path %q: unterminated '[' at offset %d", s, i)
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil || n < 0 || rest[0] == '+' || rest[0] == '-' {
		return PathElem{}, 0, fmt.Errorf("path %q: index %q at offset %d is not a non-negative integer or a quoted key", s, rest[:end], i)
	}
	return PathElem{Kind: ElemIndex, Index: n}, 1 + end + 1, nil
}

func isIdentByte(c byte, first bool) bool {
	switch {
	case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case '0' <= c && c <= '9':
		return !first
	}
	return false
}

// String renders the path in the form SageMaker writes it.
func (p PropertyPath) String() string {
	var b strings.Builder
	for i, e := range p {
		switch e.Kind {
		case ElemField:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.Name)
		case ElemIndex:
			fmt.Fprintf(&b, "[%d]", e.Index)
		case ElemKey:
			q := "'"
			if strings.Contains(e.Name, "'") {
				q = `"`
			}
			b.WriteString("[" + q + e.Name + q + "]")
		}
	}
	return b.String()
}

// Lookup evaluates the path over a JSON-like value (map[string]any, []any, string, bool,
// float64 or json.Number, nil; see ToJSONValue for typed values). A key selects a map entry or,
// on a list of structures, the element whose name member equals the key. The error names the
// prefix of the path that could not be followed.
func (p PropertyPath) Lookup(v any) (any, error) {
	cur := v
	for i, e := range p {
		where := func() string { return p[:i+1].String() }
		switch e.Kind {
		case ElemField:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: cannot select member %q of %s", where(), e.Name, describeKind(cur))
			}
			next, ok := m[e.Name]
			if !ok {
				return nil, fmt.Errorf("%s: no such member", where())
			}
			cur = next
		case ElemIndex:
			l, ok := cur.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: cannot index %s", where(), describeKind(cur))
			}
			if e.Index >= len(l) {
				return nil, fmt.Errorf("%s: index out of range (length %d)", where(), len(l))
			}
			cur = l[e.Index]
		case ElemKey:
			switch c := cur.(type) {
			case map[string]any:
				next, ok := c[e.Name]
				if !ok {
					return nil, fmt.Errorf("%s: no such key", where())
				}
				cur = next
			case []any:
				next, ok := selectByName(c, e.Name)
				if !ok {
					return nil, fmt.Errorf("%s: no element named %q (have %s)", where(), e.Name, strings.Join(elementNames(c), ", "))
				}
				cur = next
			default:
				return nil, fmt.Errorf("%s: cannot select key %q of %s", where(), e.Name, describeKind(cur))
			}
		}
	}
	return cur, nil
}

// selectByName finds the element of a list of structures whose name member equals key.
func selectByName(l []any, key string) (any, bool) {
	for _, el := range l {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		if name, ok := elementName(m); ok && name == key {
			return el, true
		}
	}
	return nil, false
}

func elementName(m map[string]any) (string, bool) {
	for _, k := range listNameMembers {
		if s, ok := m[k].(string); ok {
			return s, true
		}
	}
	return "", false
}

func elementNames(l []any) []string {
	var names []string
	for _, el := range l {
		if m, ok := el.(map[string]any); ok {
			if n, ok := elementName(m); ok {
				names = append(names, strconv.Quote(n))
			}
		}
	}
	if len(names) == 0 {
		return []string{"no named elements"}
	}
	return names
}

func describeKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		if _, ok := toNumber(v); ok {
			return "a number"
		}
		return fmt.Sprintf("a %T", v)
	}
}

// ToJSONValue converts a typed Go value (for example a Describe* response struct) into the
// JSON data model that Lookup and Resolve work on, by a round trip through encoding/json.
// Numbers come back as json.Number so that integers keep their exact text.
func ToJSONValue(v any) (any, error) {
	switch v.(type) {
	case nil, string, bool, json.Number, map[string]any, []any:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("to json value: %w", err)
	}
	return decodeJSON(b)
}

// ConditionProperties is the property value of a Condition step: `Steps.<cond>.Outcome`.
func ConditionProperties(outcome bool) map[string]any {
	return map[string]any{"Outcome": outcome}
}

// CallbackProperties builds the property value of a Callback step from the output parameters
// sent with SendPipelineExecutionStepSuccess, cast to their declared OutputType, so that
// `Steps.<cb>.OutputParameters['name']` resolves to the typed value. Undeclared names are
// refused. A declared output that was not sent stays absent: a step that refers to it fails
// when it resolves its arguments, as it does on SageMaker.
func CallbackProperties(declared []OutputParameter, values map[string]string) (map[string]any, error) {
	out := make(map[string]any, len(declared))
	for name := range values {
		if !slices.ContainsFunc(declared, func(o OutputParameter) bool { return o.OutputName == name }) {
			return nil, fmt.Errorf("callback output %q is not declared", name)
		}
	}
	for _, o := range declared {
		s, ok := values[o.OutputName]
		if !ok {
			continue
		}
		v, err := o.OutputType.Cast(s)
		if err != nil {
			return nil, fmt.Errorf("callback output %q: %w", o.OutputName, err)
		}
		out[o.OutputName] = v
	}
	return map[string]any{"OutputParameters": out}, nil
}
