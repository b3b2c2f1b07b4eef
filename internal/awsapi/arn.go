package awsapi

import (
	"fmt"
	"strings"
)

// ARNs builds and parses SageMaker ARNs for one region and account.
type ARNs struct {
	Region    string
	AccountID string
}

// For returns arn:aws:sagemaker:{region}:{account}:{kind}/{name}, with the name lower-cased as
// SageMaker does for every resource kind.
func (a ARNs) For(kind, name string) string {
	return fmt.Sprintf("arn:aws:sagemaker:%s:%s:%s/%s", a.Region, a.AccountID, kind, strings.ToLower(name))
}

// ParsedARN is an ARN split into its parts.
type ParsedARN struct {
	Partition, Service, Region, AccountID string
	// Resource is everything after the account: "kind/name…".
	Resource string
}

// Kind is the resource type, the part of Resource before the first slash.
func (p ParsedARN) Kind() string {
	k, _, _ := strings.Cut(p.Resource, "/")
	return k
}

// Name is the part of Resource after the first slash.
func (p ParsedARN) Name() string {
	_, n, _ := strings.Cut(p.Resource, "/")
	return n
}

// ParseARN splits an ARN; ok is false when s is not one.
func ParseARN(s string) (ParsedARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[5] == "" {
		return ParsedARN{}, false
	}
	return ParsedARN{Partition: parts[1], Service: parts[2], Region: parts[3], AccountID: parts[4], Resource: parts[5]}, true
}
