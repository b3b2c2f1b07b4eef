package awsapi

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// FieldError builds the ValidationException message AWS services use for a single constraint,
// naming the member (in AWS's lower-camel form) and the value.
func FieldError(member string, value any, constraint string, args ...any) *Error {
	c := fmt.Sprintf(constraint, args...)
	return Validation("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, lowerFirst(member), c)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	// AWS writes member paths like "modelPackageGroupName" or "tags.1.member.key".
	return strings.ToLower(s[:1]) + s[1:]
}

// Validator collects constraint violations for one request and reports them together, the way
// AWS answers "N validation errors detected: …".
type Validator struct{ msgs []string }

func (v *Validator) add(member string, value any, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value '%v' at '%s' failed to satisfy constraint: %s", truncate(fmt.Sprint(value), 80), lowerFirst(member), constraint))
}

// Required records a missing required member when present is false.
func (v *Validator) Required(member string, present bool) {
	if !present {
		v.msgs = append(v.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(member)))
	}
}

// Length checks a string's length (in characters) against [min, max].
func (v *Validator) Length(member, s string, min, max int) {
	n := utf8.RuneCountInString(s)
	if n < min || (max > 0 && n > max) {
		switch {
		case max > 0 && n > max:
			v.add(member, s, fmt.Sprintf("Member must have length less than or equal to %d", max))
		default:
			v.add(member, s, fmt.Sprintf("Member must have length greater than or equal to %d", min))
		}
	}
}

// Pattern checks s against re; pattern is the text AWS would quote.
func (v *Validator) Pattern(member, s string, re *regexp.Regexp) {
	if !re.MatchString(s) {
		v.add(member, s, "Member must satisfy regular expression pattern: "+re.String())
	}
}

// Enum checks that s is one of allowed.
func (v *Validator) Enum(member, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(member, s, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
}

// Range checks an integer against [min, max].
func (v *Validator) Range(member string, n, min, max int64) {
	if n < min || n > max {
		v.add(member, n, fmt.Sprintf("Member must have value between %d and %d", min, max))
	}
}

// Check adds a free-form violation when ok is false.
func (v *Validator) Check(ok bool, member string, value any, constraint string) {
	if !ok {
		v.add(member, value, constraint)
	}
}

// Err returns the collected violations as one ValidationException, or nil.
func (v *Validator) Err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return Validation("1 validation error detected: %s", v.msgs[0])
	default:
		return Validation("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; "))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Name patterns SageMaker applies to resource names.
var (
	// NamePattern is SageMaker's EntityName pattern (most resources: 1–63 chars).
	NamePattern = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)
)
