// Package registry is the model registry: model package groups, their numbered versions, and the
// approval that lets a version be deployed. Every approval change is announced by a "SageMaker
// Model Package State Change" event written in the transaction of the change, which is what
// deploy pipelines listen on.
//
// The registry keeps SageMaker's documents (InferenceSpecification, ModelMetrics, …) as the JSON
// the client sent, so nothing a client stores is lost; the API layer validates their shape.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// Errors callers branch on. The *Error values the Service returns wrap one of them and carry a
// message a person can act on.
var (
	ErrNotFound = errors.New("registry: not found")
	ErrExists   = errors.New("registry: already exists")
	// ErrInUse is a group that still holds versions.
	ErrInUse = errors.New("registry: in use")
	// ErrConflict is an idempotency token reused for a different request.
	ErrConflict = errors.New("registry: conflict")
	ErrInvalid  = errors.New("registry: invalid request")
)

// Error is a registry error with a client-facing message; errors.Is matches its Kind.
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

// Statuses of groups and packages. Sluice validates nothing asynchronously, so a group or package
// is Completed as soon as it is created.
const (
	StatusCompleted = "Completed"
	// StatusDeleting is reported in the state-change event of a deleted package.
	StatusDeleting = "Deleting"
)

// Actor is the authenticated caller a change is recorded against.
type Actor struct {
	// Name is the access key's owner, e.g. "alice" or "ci".
	Name string
	// PrincipalID is the access key id.
	PrincipalID string
	// ARN is the caller's IAM-style identity ARN.
	ARN string
}

// UserContext is SageMaker's record of who created or changed a resource.
type UserContext struct {
	UserProfileName string       `json:"UserProfileName,omitempty"`
	IamIdentity     *IamIdentity `json:"IamIdentity,omitempty"`
}

// IamIdentity is the identity part of a UserContext.
type IamIdentity struct {
	Arn         string `json:"Arn,omitempty"`
	PrincipalId string `json:"PrincipalId,omitempty"`
}

// UserContext records the actor in SageMaker's shape.
func (a Actor) UserContext() UserContext {
	u := UserContext{UserProfileName: a.Name}
	if a.ARN != "" || a.PrincipalID != "" {
		u.IamIdentity = &IamIdentity{Arn: a.ARN, PrincipalId: a.PrincipalID}
	}
	return u
}

// Group is a model package group: a named, versioned line of models.
type Group struct {
	ARN         string
	Name        string
	Description string
	Status      string
	CreatedAt   time.Time
	CreatedBy   UserContext
	// LatestVersion is the highest version number issued so far.
	LatestVersion int
}

// Spec holds the parts of a model package kept as the client sent them: SageMaker's JSON
// documents and plain values. It is stored as one JSON document with SageMaker's field names.
type Spec struct {
	InferenceSpecification            json.RawMessage `json:"InferenceSpecification,omitempty"`
	SourceAlgorithmSpecification      json.RawMessage `json:"SourceAlgorithmSpecification,omitempty"`
	ValidationSpecification           json.RawMessage `json:"ValidationSpecification,omitempty"`
	ModelMetrics                      json.RawMessage `json:"ModelMetrics,omitempty"`
	MetadataProperties                json.RawMessage `json:"MetadataProperties,omitempty"`
	DriftCheckBaselines               json.RawMessage `json:"DriftCheckBaselines,omitempty"`
	AdditionalInferenceSpecifications json.RawMessage `json:"AdditionalInferenceSpecifications,omitempty"`
	ModelCard                         json.RawMessage `json:"ModelCard,omitempty"`
	ModelLifeCycle                    json.RawMessage `json:"ModelLifeCycle,omitempty"`
	SecurityConfig                    json.RawMessage `json:"SecurityConfig,omitempty"`
	CertifyForMarketplace             *bool           `json:"CertifyForMarketplace,omitempty"`
	Domain                            string          `json:"Domain,omitempty"`
	Task                              string          `json:"Task,omitempty"`
	SamplePayloadUrl                  string          `json:"SamplePayloadUrl,omitempty"`
	SourceUri                         string          `json:"SourceUri,omitempty"`
	ModelPackageRegistrationType      string          `json:"ModelPackageRegistrationType,omitempty"`
	SkipModelValidation               string          `json:"SkipModelValidation,omitempty"`
}

// maxSpecBytes bounds the stored documents of one package; SageMaker's own limits (15
// containers, 16 environment entries each, model cards of 100,000 characters) stay well below.
const maxSpecBytes = 1 << 20

// Package is a model package: a version of a group, or an unversioned package.
type Package struct {
	ARN  string
	Name string
	// GroupName and Version are empty and zero for an unversioned package.
	GroupName string
	Version   int
	// Description is ModelPackageDescription.
	Description         string
	ApprovalStatus      ApprovalStatus
	ApprovalDescription string
	// Status is ModelPackageStatus.
	Status           string
	CreatedAt        time.Time
	CreatedBy        UserContext
	ModifiedAt       time.Time
	ModifiedBy       UserContext
	CustomerMetadata map[string]string
	Spec             Spec
}

// Versioned reports whether the package is a version of a group.
func (p Package) Versioned() bool { return p.GroupName != "" }

// Container is the part of an inference container a deployment needs.
type Container struct {
	ContainerHostname string            `json:"ContainerHostname,omitempty"`
	Image             string            `json:"Image"`
	ModelDataUrl      string            `json:"ModelDataUrl,omitempty"`
	Environment       map[string]string `json:"Environment,omitempty"`
	Framework         string            `json:"Framework,omitempty"`
	FrameworkVersion  string            `json:"FrameworkVersion,omitempty"`
}

// Containers decodes the containers of the package's InferenceSpecification, for hosting (a
// CreateModel that names a package takes its image and model data from here).
func (p Package) Containers() ([]Container, error) {
	if len(p.Spec.InferenceSpecification) == 0 {
		return nil, nil
	}
	var spec struct{ Containers []Container }
	if err := json.Unmarshal(p.Spec.InferenceSpecification, &spec); err != nil {
		return nil, fmt.Errorf("registry: %s: inference specification: %w", p.ARN, err)
	}
	return spec.Containers, nil
}

// Cursor is a keyset position in a list; pass a page's Next back to continue after it.
type Cursor = store.Cursor

// Tag is a key/value label.
type Tag = store.Tag

func groupFromRow(r store.ModelPackageGroup) Group {
	g := Group{ARN: r.ARN, Name: r.Name, Description: r.Description, Status: r.Status, CreatedAt: r.CreatedAt, LatestVersion: int(r.LatestVersion)}
	json.Unmarshal(r.CreatedBy, &g.CreatedBy)
	return g
}

func packageFromRow(r store.ModelPackage) (Package, error) {
	p := Package{
		ARN: r.ARN, Name: r.Name, GroupName: r.GroupName, Version: int(r.Version), Description: r.Description,
		ApprovalStatus: ApprovalStatus(r.ApprovalStatus), ApprovalDescription: r.ApprovalDescription, Status: r.Status,
		CreatedAt: r.CreatedAt, ModifiedAt: r.ModifiedAt, CustomerMetadata: r.CustomerMetadata,
	}
	json.Unmarshal(r.CreatedBy, &p.CreatedBy)
	json.Unmarshal(r.ModifiedBy, &p.ModifiedBy)
	if len(r.Spec) > 0 {
		if err := json.Unmarshal(r.Spec, &p.Spec); err != nil {
			return p, fmt.Errorf("registry: %s: stored spec: %w", r.ARN, err)
		}
	}
	return p, nil
}

func encodeSpec(s Spec) (json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, errorf(ErrInvalid, "A model package document is not valid JSON: %v", err)
	}
	if len(b) > maxSpecBytes {
		return nil, errorf(ErrInvalid, "The model package's documents (InferenceSpecification, ModelMetrics, ModelCard, …) take %d bytes together; at most %d are accepted.", len(b), maxSpecBytes)
	}
	return b, nil
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
