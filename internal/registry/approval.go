package registry

// ApprovalStatus is ModelApprovalStatus: whether a version may be deployed.
type ApprovalStatus string

// The approval statuses SageMaker defines.
const (
	Approved              ApprovalStatus = "Approved"
	Rejected              ApprovalStatus = "Rejected"
	PendingManualApproval ApprovalStatus = "PendingManualApproval"
)

// ApprovalStatuses lists the valid statuses in SageMaker's order, for messages and enums.
var ApprovalStatuses = []ApprovalStatus{Approved, Rejected, PendingManualApproval}

// Valid reports whether s is one of the statuses SageMaker defines.
func (s ApprovalStatus) Valid() bool {
	for _, v := range ApprovalStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// DeployEffect is what a deploy pipeline listening on approval changes should do about one.
type DeployEffect int

// Effects of an approval change on deployment, after SageMaker's MLOps project templates.
const (
	// NoDeploy: the change does not alter what should be deployed.
	NoDeploy DeployEffect = iota
	// DeployThis: the version became Approved; deploy it.
	DeployThis
	// DeployLatestApproved: a deployable version was withdrawn (rejected, sent back for
	// approval or deleted); deploy the latest version that is still Approved.
	DeployLatestApproved
)

func (e DeployEffect) String() string {
	switch e {
	case DeployThis:
		return "deploy this version"
	case DeployLatestApproved:
		return "deploy the latest approved version"
	}
	return "no deployment change"
}

// Effect says what moving a version from prev to cur means for deployment. prev is empty for a
// version just created; cur is empty for a version just deleted. Every transition between the
// three statuses is allowed: approval is a human decision that may be revised.
func Effect(prev, cur ApprovalStatus) DeployEffect {
	switch {
	case prev == cur:
		return NoDeploy
	case cur == Approved:
		return DeployThis
	case prev == Approved:
		return DeployLatestApproved
	}
	return NoDeploy
}
