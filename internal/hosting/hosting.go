// Package hosting holds SageMaker's hosting resources — models, endpoint configurations and
// endpoints — and the controller that turns each endpoint's desired configuration into running
// model servers.
//
// The Service records what callers ask for: it validates business rules (a model must exist, a
// model package must be approved, weights cannot all be zero, a config in use cannot be
// deleted) and writes the desired state with a new generation. The Controller reconciles:
// for each endpoint it plans the deployment (config and models resolved into a Plan), starts a
// Fleet per variant through the serving host, builds a routing table and publishes it to the
// router in one atomic swap, then retires what the table no longer names. A Plan is kept with
// the endpoint, so a restarted server brings every InService endpoint back even if its models
// have since been deleted, as SageMaker's running endpoints outlive their models.
//
// An update to a new config is a blue/green deployment (deploy.go): the new fleet starts while
// the old one serves, traffic moves to it all at once, by a canary or in linear steps as the
// DeploymentConfig says, alarms are watched while each step bakes, and an alarm in ALARM puts
// every request back on the old fleet. Each deployment keeps a record of what it did and saw.
package hosting

import (
	"errors"
	"fmt"
)

// Errors callers branch on. The *Error values the Service returns wrap one of them and carry a
// message a person can act on.
var (
	// ErrNotFound is a missing model, endpoint config or endpoint (SageMaker answers
	// ValidationException, which its waiters treat as "gone").
	ErrNotFound = errors.New("hosting: not found")
	// ErrExists is a name already taken.
	ErrExists = errors.New("hosting: already exists")
	// ErrInvalid is a request that breaks a rule.
	ErrInvalid = errors.New("hosting: invalid request")
	// ErrInUse is a resource another one depends on (a config an endpoint runs).
	ErrInUse = errors.New("hosting: in use")
	// ErrLimit is a request beyond a quota.
	ErrLimit = errors.New("hosting: limit exceeded")
)

// Error is a hosting error with a client-facing message; errors.Is matches its Kind.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ARNs builds the ARN of a resource from its kind and name; awsapi.ARNs is the implementation.
type ARNs interface {
	For(kind, name string) string
}

// Resource kinds as they appear in ARNs.
const (
	KindModel          = "model"
	KindEndpointConfig = "endpoint-config"
	KindEndpoint       = "endpoint"
)

// Endpoint statuses (EndpointStatus).
const (
	StatusCreating       = "Creating"
	StatusInService      = "InService"
	StatusUpdating       = "Updating"
	StatusDeleting       = "Deleting"
	StatusFailed         = "Failed"
	StatusRollingBack    = "RollingBack"
	StatusOutOfService   = "OutOfService"
	StatusSystemUpdating = "SystemUpdating"
	StatusRollbackFailed = "UpdateRollbackFailed"
)

// EndpointStatuses lists every EndpointStatus, for validating StatusEquals.
var EndpointStatuses = []string{StatusOutOfService, StatusCreating, StatusUpdating, StatusSystemUpdating, StatusRollingBack,
	StatusInService, StatusDeleting, StatusFailed, StatusRollbackFailed}

// AllowUnapprovedTag is the tag a CreateModel request carries, with the value "true", to use a
// model package that is not Approved. Without it, only approved versions become models.
const AllowUnapprovedTag = "sluice:AllowUnapprovedModelPackage"

// Limits SageMaker applies.
const (
	MaxContainers         = 15
	MaxProductionVariants = 10
)
