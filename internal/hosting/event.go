package hosting

import (
	"context"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/store"
)

// EndpointStateChange is the detail type of the event every endpoint status change emits.
const EndpointStateChange = "SageMaker Endpoint State Change"

// StateChange is the detail of an EndpointStateChange event, in the shape EventBridge delivers
// for SageMaker (times in epoch milliseconds).
type StateChange struct {
	EndpointName       string           `json:"EndpointName"`
	EndpointArn        string           `json:"EndpointArn"`
	EndpointConfigName string           `json:"EndpointConfigName"`
	EndpointStatus     string           `json:"EndpointStatus"`
	FailureReason      string           `json:"FailureReason,omitempty"`
	CreationTime       int64            `json:"CreationTime"`
	LastModifiedTime   int64            `json:"LastModifiedTime"`
	ProductionVariants []VariantSummary `json:"ProductionVariants,omitempty"`
}

// emitStateChange announces row's status in the transaction that set it.
func emitStateChange(ctx context.Context, tx *store.Tx, row store.Endpoint, st endpointState) error {
	return events.Emit(ctx, tx, EndpointStateChange, []string{row.ARN}, StateChange{
		EndpointName: row.Name, EndpointArn: row.ARN, EndpointConfigName: row.ConfigName, EndpointStatus: row.Status,
		FailureReason: row.FailureReason, CreationTime: row.CreatedAt.UnixMilli(), LastModifiedTime: row.ModifiedAt.UnixMilli(),
		ProductionVariants: st.Variants,
	})
}
