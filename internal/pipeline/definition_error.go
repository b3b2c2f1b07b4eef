package pipeline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidDefinition matches (with errors.Is) every error that Parse and Validate return for
// a definition that is refused.
var ErrInvalidDefinition = errors.New("invalid pipeline definition")

// ValidationError is one problem in a definition, located at a step (empty for the top level)
// and a field path such as `Arguments.AlgorithmSpecification.TrainingImage`.
type ValidationError struct {
	Step  string
	Field string
	Msg   string
}

// Error reads `step "S": Field: msg`, leaving out what is empty.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Step != "" {
		b.WriteString("step " + strconv.Quote(e.Step) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidDefinition) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidDefinition }

// ValidationErrors is every problem found in one definition, in definition order.
type ValidationErrors []*ValidationError

// maxReported bounds the message of ValidationErrors; all errors stay available by Unwrap.
const maxReported = 10

// Error joins the messages with "; ".
func (es ValidationErrors) Error() string {
	msgs := make([]string, 0, min(len(es), maxReported)+1)
	for i, e := range es {
		if i == maxReported {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(es)-maxReported))
			break
		}
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives the individual errors to errors.Is and errors.As.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Is makes errors.Is(err, ErrInvalidDefinition) true.
func (es ValidationErrors) Is(target error) bool { return target == ErrInvalidDefinition }

// locErr is an error located at a path relative to some value; locate prefixes the path as the
// error travels up, so that the validator can report the full field.
type locErr struct {
	path string
	err  error
}

func (e *locErr) Error() string {
	if e.path == "" {
		return e.err.Error()
	}
	return e.path + ": " + e.err.Error()
}

func (e *locErr) Unwrap() error { return e.err }

// locate puts err at prefix (a member name or an index like "[2]") in front of the path it
// already carries.
func locate(prefix string, err error) error {
	if le, ok := err.(*locErr); ok {
		return &locErr{path: joinPath(prefix, le.path), err: le.err}
	}
	return &locErr{path: prefix, err: err}
}

// splitLoc returns the path an error carries and its message without the path.
func splitLoc(err error) (string, string) {
	if le, ok := err.(*locErr); ok {
		return le.path, le.err.Error()
	}
	return "", err.Error()
}

func joinPath(prefix, sub string) string {
	switch {
	case sub == "":
		return prefix
	case prefix == "":
		return sub
	case strings.HasPrefix(sub, "["):
		return prefix + sub
	}
	return prefix + "." + sub
}
