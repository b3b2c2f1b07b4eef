package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ConditionType is the JSON `Type` of a condition.
type ConditionType string

// The condition types the SDK emits (the Python class names are not what goes on the wire).
const (
	CondEquals               ConditionType = "Equals"
	CondGreaterThan          ConditionType = "GreaterThan"
	CondGreaterThanOrEqualTo ConditionType = "GreaterThanOrEqualTo"
	CondLessThan             ConditionType = "LessThan"
	CondLessThanOrEqualTo    ConditionType = "LessThanOrEqualTo"
	CondIn                   ConditionType = "In"
	CondNot                  ConditionType = "Not"
	CondOr                   ConditionType = "Or"
)

// Condition is one parsed condition of a Condition step. Operands are literals or expressions
// in their JSON form; they are resolved when the condition is evaluated.
type Condition struct {
	Type ConditionType
	// Left and Right are the operands of the binary types (JSON LeftValue, RightValue).
	Left, Right any
	// Query and Values are the operands of In (JSON QueryValue, Values).
	Query  any
	Values []any
	// Operand is the negated condition of Not (JSON Condition).
	Operand *Condition
	// Conditions are the alternatives of Or.
	Conditions []Condition
}

func (t ConditionType) binary() bool {
	switch t {
	case CondEquals, CondGreaterThan, CondGreaterThanOrEqualTo, CondLessThan, CondLessThanOrEqualTo:
		return true
	}
	return false
}

// ParseConditions parses the `Conditions` list of a Condition step. Errors name the position,
// such as `[1].LeftValue: required`.
func ParseConditions(v any) ([]Condition, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of conditions, got %s", describeKind(v))
	}
	out := make([]Condition, len(l))
	for i, el := range l {
		c, err := ParseCondition(el)
		if err != nil {
			return nil, locate(fmt.Sprintf("[%d]", i), err)
		}
		out[i] = c
	}
	return out, nil
}

// ParseCondition parses one condition object.
func ParseCondition(v any) (Condition, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Condition{}, fmt.Errorf("want a condition object, got %s", describeKind(v))
	}
	ts, ok := m["Type"].(string)
	if !ok {
		return Condition{}, locate("Type", errors.New("required string"))
	}
	c := Condition{Type: ConditionType(ts)}
	operand := func(key string) (any, error) {
		x, ok := m[key]
		if !ok {
			return nil, locate(key, errors.New("required"))
		}
		if _, _, err := ParseExpr(x); err != nil {
			return nil, locate(key, err)
		}
		return x, nil
	}
	var err error
	switch {
	case c.Type.binary():
		if c.Left, err = operand("LeftValue"); err != nil {
			return Condition{}, err
		}
		if c.Right, err = operand("RightValue"); err != nil {
			return Condition{}, err
		}
	case c.Type == CondIn:
		if c.Query, err = operand("QueryValue"); err != nil {
			return Condition{}, err
		}
		vals, ok := m["Values"].([]any)
		if !ok {
			return Condition{}, locate("Values", errors.New("required list"))
		}
		for i, x := range vals {
			if _, _, err := ParseExpr(x); err != nil {
				return Condition{}, locate(fmt.Sprintf("Values[%d]", i), err)
			}
		}
		c.Values = vals
	case c.Type == CondNot:
		x, ok := m["Condition"]
		if !ok {
			return Condition{}, locate("Condition", errors.New("required"))
		}
		inner, err := ParseCondition(x)
		if err != nil {
			return Condition{}, locate("Condition", err)
		}
		c.Operand = &inner
	case c.Type == CondOr:
		x, ok := m["Conditions"]
		if !ok {
			return Condition{}, locate("Conditions", errors.New("required"))
		}
		inner, err := ParseConditions(x)
		if err != nil {
			return Condition{}, locate("Conditions", err)
		}
		if len(inner) == 0 {
			return Condition{}, locate("Conditions", errors.New("an Or needs at least one condition"))
		}
		c.Conditions = inner
	default:
		return Condition{}, locate("Type", fmt.Errorf("unknown condition type %q (want Equals, GreaterThan, GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, Not or Or)", ts))
	}
	return c, nil
}

// EvaluateConditions evaluates a Condition step's list: the conditions are AND-ed, and
// evaluation stops at the first false one.
func EvaluateConditions(cs []Condition, env Env) (bool, error) {
	for i, c := range cs {
		ok, err := c.Evaluate(env)
		if err != nil {
			return false, fmt.Errorf("Conditions[%d] (%s): %w", i, c.Type, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// Evaluate resolves the operands in env and applies the condition. The comparison rules are
// those of Equal and Compare; In is true when Query equals one of Values (values of an
// incomparable type simply do not match); Or stops at the first true alternative.
func (c Condition) Evaluate(env Env) (bool, error) {
	switch {
	case c.Type.binary():
		l, err := resolve(c.Left, env, "LeftValue")
		if err != nil {
			return false, err
		}
		r, err := resolve(c.Right, env, "RightValue")
		if err != nil {
			return false, err
		}
		if c.Type == CondEquals {
			return Equal(l, r)
		}
		n, err := Compare(l, r)
		if err != nil {
			return false, err
		}
		switch c.Type {
		case CondGreaterThan:
			return n > 0, nil
		case CondGreaterThanOrEqualTo:
			return n >= 0, nil
		case CondLessThan:
			return n < 0, nil
		default:
			return n <= 0, nil
		}
	case c.Type == CondIn:
		q, err := resolve(c.Query, env, "QueryValue")
		if err != nil {
			return false, err
		}
		for i, x := range c.Values {
			v, err := resolve(x, env, fmt.Sprintf("Values[%d]", i))
			if err != nil {
				return false, err
			}
			if eq, err := Equal(q, v); err == nil && eq {
				return true, nil
			}
		}
		return false, nil
	case c.Type == CondNot:
		if c.Operand == nil {
			return false, fmt.Errorf("Not has no Condition")
		}
		ok, err := c.Operand.Evaluate(env)
		if err != nil {
			return false, fmt.Errorf("Condition (%s): %w", c.Operand.Type, err)
		}
		return !ok, nil
	case c.Type == CondOr:
		for i, inner := range c.Conditions {
			ok, err := inner.Evaluate(env)
			if err != nil {
				return false, fmt.Errorf("Conditions[%d] (%s): %w", i, inner.Type, err)
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown condition type %q", c.Type)
}

// Equal compares two resolved values for the Equals condition:
//   - numbers (any Go numeric type or json.Number) compare by value, so 1 equals 1.0;
//   - a number and a string compare numerically when the string is a number (a value read by
//     Std:JsonGet or sent by a callback as "0.93" equals 0.93), and are an error otherwise;
//   - strings compare exactly, booleans compare exactly, and a boolean equals a string that
//     parses as that boolean ("true", "False", ...);
//   - null equals only null;
//   - any other mix of types is an error, which fails the Condition step, as in SageMaker's
//     local mode.
func Equal(a, b any) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	an, aNum := toNumber(a)
	bn, bNum := toNumber(b)
	as, aStr := a.(string)
	bs, bStr := b.(string)
	ab, aBool := a.(bool)
	bb, bBool := b.(bool)
	switch {
	case aNum && bNum:
		return an.cmp(bn) == 0, nil
	case aNum && bStr:
		n, err := numericString(bs)
		if err != nil {
			return false, err
		}
		return an.cmp(n) == 0, nil
	case aStr && bNum:
		n, err := numericString(as)
		if err != nil {
			return false, err
		}
		return n.cmp(bn) == 0, nil
	case aStr && bStr:
		return as == bs, nil
	case aBool && bBool:
		return ab == bb, nil
	case aBool && bStr:
		v, err := strconv.ParseBool(bs)
		if err != nil {
			return false, fmt.Errorf("cannot compare a boolean with the string %q", bs)
		}
		return ab == v, nil
	case aStr && bBool:
		v, err := strconv.ParseBool(as)
		if err != nil {
			return false, fmt.Errorf("cannot compare the string %q with a boolean", as)
		}
		return v == bb, nil
	}
	return false, fmt.Errorf("cannot compare %s with %s", describeKind(a), describeKind(b))
}

// Compare orders two resolved values for GreaterThan, LessThan and the like: it returns -1, 0
// or +1. Numbers compare by value, a number and a numeric string compare numerically, two
// strings compare lexically (byte order); anything else, booleans and null included, is an
// error.
func Compare(a, b any) (int, error) {
	an, aNum := toNumber(a)
	bn, bNum := toNumber(b)
	as, aStr := a.(string)
	bs, bStr := b.(string)
	switch {
	case aNum && bNum:
		return an.cmp(bn), nil
	case aNum && bStr:
		n, err := numericString(bs)
		if err != nil {
			return 0, err
		}
		return an.cmp(n), nil
	case aStr && bNum:
		n, err := numericString(as)
		if err != nil {
			return 0, err
		}
		return n.cmp(bn), nil
	case aStr && bStr:
		return strings.Compare(as, bs), nil
	}
	return 0, fmt.Errorf("cannot order %s and %s", describeKind(a), describeKind(b))
}

// number holds an integer exactly when it is one, so that large integers compare exactly.
type number struct {
	isInt bool
	i     int64
	f     float64
}

func (n number) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

func (n number) cmp(o number) int {
	if n.isInt && o.isInt {
		switch {
		case n.i < o.i:
			return -1
		case n.i > o.i:
			return 1
		}
		return 0
	}
	a, b := n.float(), o.float()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func numericString(s string) (number, error) {
	n, ok := parseNumber(strings.TrimSpace(s))
	if !ok {
		return number{}, fmt.Errorf("cannot compare a number with the non-numeric string %q", s)
	}
	return n, nil
}

func parseNumber(s string) (number, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number{isInt: true, i: i}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return number{}, false
	}
	return number{f: f}, true
}

// toNumber reports whether v is a Go number or json.Number (not a string), and its value.
func toNumber(v any) (number, bool) {
	switch t := v.(type) {
	case json.Number:
		return parseNumber(t.String())
	case float64:
		return number{f: t}, true
	case float32:
		return number{f: float64(t)}, true
	}
	if i, ok := toInt64(v); ok {
		return number{isInt: true, i: i}, true
	}
	return number{}, false
}

func toInt64(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int8:
		return int64(t), true
	case int16:
		return int64(t), true
	case int32:
		return int64(t), true
	case int64:
		return t, true
	case uint:
		return int64(t), t <= math.MaxInt64
	case uint8:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint64:
		return int64(t), t <= math.MaxInt64
	}
	return 0, false
}
