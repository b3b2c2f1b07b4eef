// Package awsapi implements the AWS wire protocols Sluice speaks: the JSON 1.1 protocol of
// SageMaker's control plane, its error shapes, SigV4 verification, ARNs, pagination tokens and
// epoch-second timestamps. It holds no business rules.
package awsapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes SageMaker and the AWS front door answer with.
const (
	CodeValidation            = "ValidationException"
	CodeResourceNotFound      = "ResourceNotFound"
	CodeResourceInUse         = "ResourceInUse"
	CodeResourceLimitExceeded = "ResourceLimitExceeded"
	CodeConflict              = "ConflictException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeInternalFailure       = "InternalFailure"
	CodeMissingAuthToken      = "MissingAuthenticationTokenException"
	CodeInvalidSignature      = "InvalidSignatureException"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
	CodeAccessDenied          = "AccessDeniedException"
	CodeSerialization         = "SerializationException"
	CodeModelError            = "ModelError"
	CodeServiceUnavailable    = "ServiceUnavailable"
)

// Error is an error a client reads: an AWS error code, the HTTP status that carries it and a
// message a person can act on. Handlers return it (possibly wrapped); the adapter in ServeHTTP
// turns it into the wire shape. Anything else a handler returns becomes an InternalFailure whose
// cause is logged, not shown.
type Error struct {
	Code    string
	Status  int
	Message string
	// Extra holds additional members of the error body, such as ModelError's OriginalStatusCode.
	Extra map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError builds an Error with a formatted message.
func NewError(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Validation is SageMaker's workhorse error: bad input, and also a missing hosting resource or job.
func Validation(format string, args ...any) *Error {
	return NewError(CodeValidation, http.StatusBadRequest, format, args...)
}

// NotFound is ResourceNotFound, which SageMaker uses for pipelines and a few other families.
func NotFound(format string, args ...any) *Error {
	return NewError(CodeResourceNotFound, http.StatusBadRequest, format, args...)
}

// InUse is ResourceInUse: a name taken, or a resource still used by another.
func InUse(format string, args ...any) *Error {
	return NewError(CodeResourceInUse, http.StatusBadRequest, format, args...)
}

// LimitExceeded is ResourceLimitExceeded.
func LimitExceeded(format string, args ...any) *Error {
	return NewError(CodeResourceLimitExceeded, http.StatusBadRequest, format, args...)
}

// Conflict is ConflictException: a concurrent change or an idempotency token reused with other
// arguments.
func Conflict(format string, args ...any) *Error {
	return NewError(CodeConflict, http.StatusBadRequest, format, args...)
}

// AsError finds an *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
