package registry

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/store"
)

// StateChange is the detail of a "SageMaker Model Package State Change" event, in the shape
// EventBridge delivers for SageMaker. Consumers decode the envelope's detail into it.
type StateChange struct {
	ModelPackageGroupName      string            `json:"ModelPackageGroupName,omitempty"`
	ModelPackageVersion        int               `json:"ModelPackageVersion,omitempty"`
	ModelPackageArn            string            `json:"ModelPackageArn"`
	ModelPackageName           string            `json:"ModelPackageName"`
	ModelPackageDescription    string            `json:"ModelPackageDescription,omitempty"`
	CreationTime               string            `json:"CreationTime"`
	InferenceSpecification     json.RawMessage   `json:"InferenceSpecification,omitempty"`
	ModelPackageStatus         string            `json:"ModelPackageStatus"`
	ModelPackageStatusDetails  json.RawMessage   `json:"ModelPackageStatusDetails"`
	CertifyForMarketplace      bool              `json:"CertifyForMarketplace"`
	ModelApprovalStatus        ApprovalStatus    `json:"ModelApprovalStatus,omitempty"`
	ApprovalDescription        string            `json:"ApprovalDescription,omitempty"`
	MetadataProperties         json.RawMessage   `json:"MetadataProperties,omitempty"`
	ModelMetrics               json.RawMessage   `json:"ModelMetrics,omitempty"`
	CustomerMetadataProperties map[string]string `json:"CustomerMetadataProperties,omitempty"`
	CreatedBy                  *UserContext      `json:"CreatedBy,omitempty"`
	LastModifiedBy             *UserContext      `json:"LastModifiedBy,omitempty"`
	LastModifiedTime           string            `json:"LastModifiedTime"`
	// PreviousModelApprovalStatus is Sluice's addition: the status before this change (absent
	// when the package was just created), so a listener can tell a withdrawal from a creation
	// without keeping state.
	PreviousModelApprovalStatus ApprovalStatus `json:"PreviousModelApprovalStatus,omitempty"`
}

// StatusDetails is ModelPackageStatusDetails for a package that needed no validation or image
// scan, which is every package Sluice holds.
var StatusDetails = json.RawMessage(`{"ValidationStatuses":[],"ImageScanStatuses":[]}`)

// Effect is what the change means for deployment.
func (c StateChange) Effect() DeployEffect {
	if c.ModelPackageStatus == StatusDeleting {
		return Effect(c.ModelApprovalStatus, "")
	}
	return Effect(c.PreviousModelApprovalStatus, c.ModelApprovalStatus)
}

func stateChange(p Package, prev ApprovalStatus) StateChange {
	c := StateChange{
		ModelPackageGroupName:       p.GroupName,
		ModelPackageVersion:         p.Version,
		ModelPackageArn:             p.ARN,
		ModelPackageName:            p.Name,
		ModelPackageDescription:     p.Description,
		CreationTime:                p.CreatedAt.UTC().Format(time.RFC3339),
		InferenceSpecification:      p.Spec.InferenceSpecification,
		ModelPackageStatus:          p.Status,
		ModelPackageStatusDetails:   StatusDetails,
		ModelApprovalStatus:         p.ApprovalStatus,
		ApprovalDescription:         p.ApprovalDescription,
		MetadataProperties:          p.Spec.MetadataProperties,
		ModelMetrics:                p.Spec.ModelMetrics,
		CustomerMetadataProperties:  p.CustomerMetadata,
		LastModifiedTime:            p.ModifiedAt.UTC().Format(time.RFC3339),
		PreviousModelApprovalStatus: prev,
	}
	if p.Spec.CertifyForMarketplace != nil {
		c.CertifyForMarketplace = *p.Spec.CertifyForMarketplace
	}
	if p.CreatedBy != (UserContext{}) {
		by := p.CreatedBy
		c.CreatedBy = &by
	}
	if p.ModifiedBy != (UserContext{}) {
		by := p.ModifiedBy
		c.LastModifiedBy = &by
	}
	return c
}

// emit writes the state-change event of p into tx, so it commits with the change.
func emit(ctx context.Context, tx *store.Tx, p Package, prev ApprovalStatus) error {
	return events.Emit(ctx, tx, events.ModelPackageStateChange, []string{p.ARN}, stateChange(p, prev))
}
