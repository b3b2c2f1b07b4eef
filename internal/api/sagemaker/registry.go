package sagemaker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// The model registry: ModelPackageGroup and ModelPackage operations (reference section 2).

func (a *API) registerRegistry(mux *awsapi.Mux) {
	mux.Handle("CreateModelPackageGroup", awsapi.Op(a.createModelPackageGroup))
	mux.Handle("DescribeModelPackageGroup", awsapi.Op(a.describeModelPackageGroup))
	mux.Handle("ListModelPackageGroups", awsapi.Op(a.listModelPackageGroups))
	mux.Handle("DeleteModelPackageGroup", awsapi.Op(a.deleteModelPackageGroup))
	mux.Handle("CreateModelPackage", awsapi.Op(a.createModelPackage))
	mux.Handle("DescribeModelPackage", awsapi.Op(a.describeModelPackage))
	mux.Handle("ListModelPackages", awsapi.Op(a.listModelPackages))
	mux.Handle("UpdateModelPackage", awsapi.Op(a.updateModelPackage))
	mux.Handle("DeleteModelPackage", awsapi.Op(a.deleteModelPackage))
}

// Patterns and limits from SageMaker's service model. Go's regexp has no look-behind, so the
// ArnOrName family is checked by arnOrName and quoted in messages as AWS writes it.
var (
	entityNameRE      = awsapi.NamePattern
	descriptionRE     = regexp.MustCompile(`^[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*$`)
	nameContainsRE    = regexp.MustCompile(`^[a-zA-Z0-9\-]+$`)
	clientTokenRE     = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	urlRE             = regexp.MustCompile(`^(https|s3)://([^/]+)/?(.*)$`)
	imageRE           = regexp.MustCompile(`^[\S]+$`)
	digestRE          = regexp.MustCompile(`^[Ss][Hh][Aa]256:[0-9a-fA-F]{64}$`)
	hostnameRE        = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`)
	envKeyRE          = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	frameworkVerRE    = regexp.MustCompile(`^[0-9]\.[A-Za-z0-9.-]+$`)
	mimeRE            = regexp.MustCompile(`^[-\w]+/.+$`)
	instanceTypeRE    = regexp.MustCompile(`^ml\.[a-z0-9]+\.[a-z0-9]+$`)
	metadataKeyRE     = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	modelPackageARNRE = regexp.MustCompile(`^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model-package/.*$`)
	arnPrefixRE       = regexp.MustCompile(`^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/`)
	arnOrNameNameRE   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$`)
	versionSuffixRE   = regexp.MustCompile(`^[0-9]{1,5}$`)
)

const (
	arnOrNamePattern          = `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)$`
	versionedArnOrNamePattern = `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)(\/[0-9]{1,5})?$`
)

// arnOrName reports whether s satisfies SageMaker's ArnOrName pattern, or VersionedArnOrName
// (which also allows a trailing /VERSION) when versioned is set.
func arnOrName(s string, versioned bool) bool {
	rest := s
	if loc := arnPrefixRE.FindStringIndex(s); loc != nil {
		rest = s[loc[1]:]
	}
	if versioned {
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			if !versionSuffixRE.MatchString(rest[i+1:]) {
				return false
			}
			rest = rest[:i]
		}
	}
	return arnOrNameNameRE.MatchString(rest) && !strings.HasSuffix(rest, "-")
}

func checkArnOrName(v *awsapi.Validator, member, s string, max int, versioned bool) {
	v.Length(member, s, 1, max)
	pattern := arnOrNamePattern
	if versioned {
		pattern = versionedArnOrNamePattern
	}
	v.Check(s == "" || arnOrName(s, versioned), member, s, "Member must satisfy regular expression pattern: "+pattern)
}

func checkOptional(v *awsapi.Validator, member, s string, max int, re *regexp.Regexp) {
	if s == "" {
		return
	}
	v.Length(member, s, 0, max)
	if re != nil {
		v.Pattern(member, s, re)
	}
}

// --- wire types -----------------------------------------------------------------------------

// userContext is SageMaker's UserContext.
type userContext struct {
	UserProfileName string       `json:"UserProfileName,omitempty"`
	IamIdentity     *iamIdentity `json:"IamIdentity,omitempty"`
}

type iamIdentity struct {
	Arn         string `json:"Arn,omitempty"`
	PrincipalId string `json:"PrincipalId,omitempty"`
}

func wireUser(u registry.UserContext) *userContext {
	if u.UserProfileName == "" && u.IamIdentity == nil {
		return nil
	}
	out := &userContext{UserProfileName: u.UserProfileName}
	if u.IamIdentity != nil {
		out.IamIdentity = &iamIdentity{Arn: u.IamIdentity.Arn, PrincipalId: u.IamIdentity.PrincipalId}
	}
	return out
}

type createModelPackageGroupRequest struct {
	ModelPackageGroupName        string `json:"ModelPackageGroupName"`
	ModelPackageGroupDescription string `json:"ModelPackageGroupDescription"`
	Tags                         []Tag  `json:"Tags"`
}

type createModelPackageGroupResponse struct {
	ModelPackageGroupArn string `json:"ModelPackageGroupArn"`
}

type modelPackageGroupRef struct {
	ModelPackageGroupName string `json:"ModelPackageGroupName"`
}

type describeModelPackageGroupResponse struct {
	ModelPackageGroupName        string       `json:"ModelPackageGroupName"`
	ModelPackageGroupArn         string       `json:"ModelPackageGroupArn"`
	ModelPackageGroupDescription string       `json:"ModelPackageGroupDescription,omitempty"`
	CreationTime                 awsapi.Time  `json:"CreationTime"`
	CreatedBy                    *userContext `json:"CreatedBy"`
	ModelPackageGroupStatus      string       `json:"ModelPackageGroupStatus"`
}

type listModelPackageGroupsRequest struct {
	CreationTimeAfter        *awsapi.Time `json:"CreationTimeAfter"`
	CreationTimeBefore       *awsapi.Time `json:"CreationTimeBefore"`
	MaxResults               *int32       `json:"MaxResults"`
	NameContains             string       `json:"NameContains"`
	NextToken                string       `json:"NextToken"`
	SortBy                   string       `json:"SortBy"`
	SortOrder                string       `json:"SortOrder"`
	CrossAccountFilterOption string       `json:"CrossAccountFilterOption"`
}

type modelPackageGroupSummary struct {
	ModelPackageGroupName        string      `json:"ModelPackageGroupName"`
	ModelPackageGroupArn         string      `json:"ModelPackageGroupArn"`
	ModelPackageGroupDescription string      `json:"ModelPackageGroupDescription,omitempty"`
	CreationTime                 awsapi.Time `json:"CreationTime"`
	ModelPackageGroupStatus      string      `json:"ModelPackageGroupStatus"`
}

type listModelPackageGroupsResponse struct {
	ModelPackageGroupSummaryList []modelPackageGroupSummary `json:"ModelPackageGroupSummaryList"`
	NextToken                    string                     `json:"NextToken,omitempty"`
}

// createModelPackageRequest keeps SageMaker's documents as raw JSON: they are validated here and
// stored as sent, so fields this server does not interpret survive a round trip.
type createModelPackageRequest struct {
	ModelPackageName                  string            `json:"ModelPackageName"`
	ModelPackageGroupName             string            `json:"ModelPackageGroupName"`
	ModelPackageDescription           string            `json:"ModelPackageDescription"`
	InferenceSpecification            json.RawMessage   `json:"InferenceSpecification"`
	ValidationSpecification           json.RawMessage   `json:"ValidationSpecification"`
	SourceAlgorithmSpecification      json.RawMessage   `json:"SourceAlgorithmSpecification"`
	CertifyForMarketplace             *bool             `json:"CertifyForMarketplace"`
	Tags                              []Tag             `json:"Tags"`
	ModelApprovalStatus               string            `json:"ModelApprovalStatus"`
	MetadataProperties                json.RawMessage   `json:"MetadataProperties"`
	ModelMetrics                      json.RawMessage   `json:"ModelMetrics"`
	ClientToken                       string            `json:"ClientToken"`
	CustomerMetadataProperties        map[string]string `json:"CustomerMetadataProperties"`
	DriftCheckBaselines               json.RawMessage   `json:"DriftCheckBaselines"`
	Domain                            string            `json:"Domain"`
	Task                              string            `json:"Task"`
	SamplePayloadUrl                  string            `json:"SamplePayloadUrl"`
	AdditionalInferenceSpecifications json.RawMessage   `json:"AdditionalInferenceSpecifications"`
	SkipModelValidation               string            `json:"SkipModelValidation"`
	SourceUri                         string            `json:"SourceUri"`
	SecurityConfig                    json.RawMessage   `json:"SecurityConfig"`
	ModelCard                         json.RawMessage   `json:"ModelCard"`
	ModelLifeCycle                    json.RawMessage   `json:"ModelLifeCycle"`
	ModelPackageRegistrationType      string            `json:"ModelPackageRegistrationType"`
}

type createModelPackageResponse struct {
	ModelPackageArn string `json:"ModelPackageArn"`
}

type modelPackageRef struct {
	ModelPackageName string `json:"ModelPackageName"`
}

type describeModelPackageResponse struct {
	ModelPackageName                  string            `json:"ModelPackageName"`
	ModelPackageGroupName             string            `json:"ModelPackageGroupName,omitempty"`
	ModelPackageVersion               *int              `json:"ModelPackageVersion,omitempty"`
	ModelPackageArn                   string            `json:"ModelPackageArn"`
	ModelPackageDescription           string            `json:"ModelPackageDescription,omitempty"`
	CreationTime                      awsapi.Time       `json:"CreationTime"`
	InferenceSpecification            json.RawMessage   `json:"InferenceSpecification,omitempty"`
	SourceAlgorithmSpecification      json.RawMessage   `json:"SourceAlgorithmSpecification,omitempty"`
	ValidationSpecification           json.RawMessage   `json:"ValidationSpecification,omitempty"`
	ModelPackageStatus                string            `json:"ModelPackageStatus"`
	ModelPackageStatusDetails         json.RawMessage   `json:"ModelPackageStatusDetails"`
	CertifyForMarketplace             bool              `json:"CertifyForMarketplace"`
	ModelApprovalStatus               string            `json:"ModelApprovalStatus,omitempty"`
	CreatedBy                         *userContext      `json:"CreatedBy,omitempty"`
	MetadataProperties                json.RawMessage   `json:"MetadataProperties,omitempty"`
	ModelMetrics                      json.RawMessage   `json:"ModelMetrics,omitempty"`
	LastModifiedTime                  *awsapi.Time      `json:"LastModifiedTime,omitempty"`
	LastModifiedBy                    *userContext      `json:"LastModifiedBy,omitempty"`
	ApprovalDescription               string            `json:"ApprovalDescription,omitempty"`
	CustomerMetadataProperties        map[string]string `json:"CustomerMetadataProperties,omitempty"`
	DriftCheckBaselines               json.RawMessage   `json:"DriftCheckBaselines,omitempty"`
	Domain                            string            `json:"Domain,omitempty"`
	Task                              string            `json:"Task,omitempty"`
	SamplePayloadUrl                  string            `json:"SamplePayloadUrl,omitempty"`
	AdditionalInferenceSpecifications json.RawMessage   `json:"AdditionalInferenceSpecifications,omitempty"`
	SkipModelValidation               string            `json:"SkipModelValidation,omitempty"`
	SourceUri                         string            `json:"SourceUri,omitempty"`
	SecurityConfig                    json.RawMessage   `json:"SecurityConfig,omitempty"`
	ModelCard                         json.RawMessage   `json:"ModelCard,omitempty"`
	ModelLifeCycle                    json.RawMessage   `json:"ModelLifeCycle,omitempty"`
	ModelPackageRegistrationType      string            `json:"ModelPackageRegistrationType,omitempty"`
}

type listModelPackagesRequest struct {
	CreationTimeAfter     *awsapi.Time `json:"CreationTimeAfter"`
	CreationTimeBefore    *awsapi.Time `json:"CreationTimeBefore"`
	MaxResults            *int32       `json:"MaxResults"`
	NameContains          string       `json:"NameContains"`
	ModelApprovalStatus   string       `json:"ModelApprovalStatus"`
	ModelPackageGroupName string       `json:"ModelPackageGroupName"`
	ModelPackageType      string       `json:"ModelPackageType"`
	NextToken             string       `json:"NextToken"`
	SortBy                string       `json:"SortBy"`
	SortOrder             string       `json:"SortOrder"`
}

type modelPackageSummary struct {
	ModelPackageName             string          `json:"ModelPackageName"`
	ModelPackageGroupName        string          `json:"ModelPackageGroupName,omitempty"`
	ModelPackageVersion          *int            `json:"ModelPackageVersion,omitempty"`
	ModelPackageArn              string          `json:"ModelPackageArn"`
	ModelPackageDescription      string          `json:"ModelPackageDescription,omitempty"`
	CreationTime                 awsapi.Time     `json:"CreationTime"`
	ModelPackageStatus           string          `json:"ModelPackageStatus"`
	ModelApprovalStatus          string          `json:"ModelApprovalStatus,omitempty"`
	ModelLifeCycle               json.RawMessage `json:"ModelLifeCycle,omitempty"`
	ModelPackageRegistrationType string          `json:"ModelPackageRegistrationType,omitempty"`
}

type listModelPackagesResponse struct {
	ModelPackageSummaryList []modelPackageSummary `json:"ModelPackageSummaryList"`
	NextToken               string                `json:"NextToken,omitempty"`
}

type updateModelPackageRequest struct {
	ModelPackageArn                        string            `json:"ModelPackageArn"`
	ModelApprovalStatus                    string            `json:"ModelApprovalStatus"`
	ApprovalDescription                    *string           `json:"ApprovalDescription"`
	CustomerMetadataProperties             map[string]string `json:"CustomerMetadataProperties"`
	CustomerMetadataPropertiesToRemove     []string          `json:"CustomerMetadataPropertiesToRemove"`
	AdditionalInferenceSpecificationsToAdd json.RawMessage   `json:"AdditionalInferenceSpecificationsToAdd"`
	InferenceSpecification                 json.RawMessage   `json:"InferenceSpecification"`
	SourceUri                              *string           `json:"SourceUri"`
	ModelCard                              json.RawMessage   `json:"ModelCard"`
	ModelLifeCycle                         json.RawMessage   `json:"ModelLifeCycle"`
	ClientToken                            string            `json:"ClientToken"`
	ModelPackageRegistrationType           string            `json:"ModelPackageRegistrationType"`
}

type updateModelPackageResponse struct {
	ModelPackageArn string `json:"ModelPackageArn"`
}

// --- handlers -------------------------------------------------------------------------------

// actor is the caller as the registry records it.
func (a *API) actor(ctx context.Context) registry.Actor {
	p, ok := awsapi.PrincipalFrom(ctx)
	if !ok {
		return registry.Actor{}
	}
	return registry.Actor{Name: p.Name, PrincipalID: p.AccessKeyID, ARN: fmt.Sprintf("arn:aws:iam::%s:user/%s", a.ARNs.AccountID, p.Name)}
}

// registryError turns a registry error into SageMaker's error: missing and duplicate resources
// are ValidationException, as SageMaker answers for the registry; a group that still holds
// versions and a reused idempotency token are ConflictException.
func registryError(err error) error {
	var re *registry.Error
	if !errors.As(err, &re) {
		return err
	}
	if errors.Is(re, registry.ErrInUse) || errors.Is(re, registry.ErrConflict) {
		return awsapi.Conflict("%s", re.Message)
	}
	return awsapi.Validation("%s", re.Message)
}

func (a *API) createModelPackageGroup(ctx context.Context, req *createModelPackageGroupRequest) (*createModelPackageGroupResponse, error) {
	var v awsapi.Validator
	v.Required("ModelPackageGroupName", req.ModelPackageGroupName != "")
	if req.ModelPackageGroupName != "" {
		v.Length("modelPackageGroupName", req.ModelPackageGroupName, 1, 63)
		v.Pattern("modelPackageGroupName", req.ModelPackageGroupName, entityNameRE)
	}
	checkOptional(&v, "modelPackageGroupDescription", req.ModelPackageGroupDescription, 1024, descriptionRE)
	validateTags(&v, "tags", req.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	g, err := a.Registry.CreateGroup(ctx, a.actor(ctx), registry.NewGroup{Name: req.ModelPackageGroupName, Description: req.ModelPackageGroupDescription, Tags: storeTags(req.Tags)})
	if err != nil {
		return nil, registryError(err)
	}
	return &createModelPackageGroupResponse{ModelPackageGroupArn: g.ARN}, nil
}

func validateGroupRef(name string) error {
	var v awsapi.Validator
	v.Required("ModelPackageGroupName", name != "")
	if name != "" {
		checkArnOrName(&v, "modelPackageGroupName", name, 170, false)
	}
	return v.Err()
}

func (a *API) describeModelPackageGroup(ctx context.Context, req *modelPackageGroupRef) (*describeModelPackageGroupResponse, error) {
	if err := validateGroupRef(req.ModelPackageGroupName); err != nil {
		return nil, err
	}
	g, err := a.Registry.Group(ctx, req.ModelPackageGroupName)
	if err != nil {
		return nil, registryError(err)
	}
	return &describeModelPackageGroupResponse{
		ModelPackageGroupName: g.Name, ModelPackageGroupArn: g.ARN, ModelPackageGroupDescription: g.Description,
		CreationTime: awsapi.NewTime(g.CreatedAt), CreatedBy: orEmptyUser(wireUser(g.CreatedBy)), ModelPackageGroupStatus: g.Status,
	}, nil
}

// orEmptyUser keeps a required UserContext present even when nobody was recorded.
func orEmptyUser(u *userContext) *userContext {
	if u == nil {
		return &userContext{}
	}
	return u
}

func (a *API) deleteModelPackageGroup(ctx context.Context, req *modelPackageGroupRef) (*struct{}, error) {
	if err := validateGroupRef(req.ModelPackageGroupName); err != nil {
		return nil, err
	}
	if err := a.Registry.DeleteGroup(ctx, req.ModelPackageGroupName); err != nil {
		return nil, registryError(err)
	}
	return &struct{}{}, nil
}

// listParams are the sorting and paging inputs every registry list shares.
type listParams struct {
	byName, desc bool
	limit        int
	after        *registry.Cursor
	digest       string
}

func parseListParams(v *awsapi.Validator, sortBy, sortOrder, nextToken string, maxResults *int32, filters ...string) (listParams, error) {
	var p listParams
	if sortBy != "" {
		v.Enum("sortBy", sortBy, "Name", "CreationTime")
	}
	if sortOrder != "" {
		v.Enum("sortOrder", sortOrder, "Ascending", "Descending")
	}
	v.Length("nextToken", nextToken, 0, 8192)
	if maxResults != nil {
		v.Range("maxResults", int64(*maxResults), 1, 100)
	}
	if err := v.Err(); err != nil {
		return p, err
	}
	p.byName, p.desc = sortBy == "Name", sortOrder == "Descending"
	p.limit, _ = awsapi.MaxResults(maxResults, 10, 100)
	// A token is bound to the filters and order it was issued for.
	h := sha256.Sum256([]byte(strings.Join(append(filters, sortBy, sortOrder), "\x00")))
	digest := hex.EncodeToString(h[:8])
	tok, err := awsapi.DecodePageToken(nextToken, digest)
	if err != nil {
		return p, err
	}
	if tok != nil {
		id, err := strconv.ParseInt(tok.ID, 10, 64)
		if err != nil {
			return p, awsapi.Validation("Invalid pagination token: start again without NextToken.")
		}
		p.after = &registry.Cursor{Sort: tok.Sort, ID: id}
	}
	p.digest = digest
	return p, nil
}

func (p listParams) token(next *registry.Cursor) string {
	if next == nil {
		return ""
	}
	return awsapi.PageToken{Sort: next.Sort, ID: strconv.FormatInt(next.ID, 10), Query: p.digest}.Encode()
}

func timeOf(t *awsapi.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

func timeKey(t *awsapi.Time) string {
	if t == nil {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func (a *API) listModelPackageGroups(ctx context.Context, req *listModelPackageGroupsRequest) (*listModelPackageGroupsResponse, error) {
	var v awsapi.Validator
	if req.NameContains != "" {
		v.Length("nameContains", req.NameContains, 0, 63)
		v.Pattern("nameContains", req.NameContains, nameContainsRE)
	}
	if req.CrossAccountFilterOption != "" {
		v.Enum("crossAccountFilterOption", req.CrossAccountFilterOption, "SameAccount", "CrossAccount")
	}
	lp, err := parseListParams(&v, req.SortBy, req.SortOrder, req.NextToken, req.MaxResults,
		"groups", req.NameContains, timeKey(req.CreationTimeAfter), timeKey(req.CreationTimeBefore), req.CrossAccountFilterOption)
	if err != nil {
		return nil, err
	}
	resp := &listModelPackageGroupsResponse{ModelPackageGroupSummaryList: []modelPackageGroupSummary{}}
	if req.CrossAccountFilterOption == "CrossAccount" {
		// No group is shared from another account on a self-hosted server.
		return resp, nil
	}
	page, err := a.Registry.ListGroups(ctx, registry.GroupQuery{
		NameContains: req.NameContains, CreatedAfter: timeOf(req.CreationTimeAfter), CreatedBefore: timeOf(req.CreationTimeBefore),
		SortByName: lp.byName, Descending: lp.desc, After: lp.after, Limit: lp.limit,
	})
	if err != nil {
		return nil, registryError(err)
	}
	for _, g := range page.Groups {
		resp.ModelPackageGroupSummaryList = append(resp.ModelPackageGroupSummaryList, modelPackageGroupSummary{
			ModelPackageGroupName: g.Name, ModelPackageGroupArn: g.ARN, ModelPackageGroupDescription: g.Description,
			CreationTime: awsapi.NewTime(g.CreatedAt), ModelPackageGroupStatus: g.Status,
		})
	}
	resp.NextToken = lp.token(page.Next)
	return resp, nil
}

// nullable treats an explicit JSON null like an absent member.
func nullable(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return t
}

func (a *API) createModelPackage(ctx context.Context, req *createModelPackageRequest) (*createModelPackageResponse, error) {
	var v awsapi.Validator
	if req.ModelPackageName != "" {
		v.Length("modelPackageName", req.ModelPackageName, 1, 63)
		v.Pattern("modelPackageName", req.ModelPackageName, entityNameRE)
	}
	if req.ModelPackageGroupName != "" {
		checkArnOrName(&v, "modelPackageGroupName", req.ModelPackageGroupName, 170, false)
	}
	checkOptional(&v, "modelPackageDescription", req.ModelPackageDescription, 1024, descriptionRE)
	if req.ModelApprovalStatus != "" {
		v.Enum("modelApprovalStatus", req.ModelApprovalStatus, approvalStatuses()...)
	}
	if req.ClientToken != "" {
		v.Length("clientToken", req.ClientToken, 1, 36)
		v.Pattern("clientToken", req.ClientToken, clientTokenRE)
	}
	checkOptional(&v, "samplePayloadUrl", req.SamplePayloadUrl, 1024, urlRE)
	checkOptional(&v, "sourceUri", req.SourceUri, 1024, nil)
	if req.SkipModelValidation != "" {
		v.Enum("skipModelValidation", req.SkipModelValidation, "All", "None")
	}
	if req.ModelPackageRegistrationType != "" {
		v.Enum("modelPackageRegistrationType", req.ModelPackageRegistrationType, "Logged", "Registered")
	}
	validateMetadataMap(&v, "customerMetadataProperties", req.CustomerMetadataProperties)
	validateTags(&v, "tags", req.Tags)
	spec := registry.Spec{
		InferenceSpecification:            nullable(req.InferenceSpecification),
		SourceAlgorithmSpecification:      nullable(req.SourceAlgorithmSpecification),
		ValidationSpecification:           nullable(req.ValidationSpecification),
		ModelMetrics:                      nullable(req.ModelMetrics),
		MetadataProperties:                nullable(req.MetadataProperties),
		DriftCheckBaselines:               nullable(req.DriftCheckBaselines),
		AdditionalInferenceSpecifications: nullable(req.AdditionalInferenceSpecifications),
		ModelCard:                         nullable(req.ModelCard),
		ModelLifeCycle:                    nullable(req.ModelLifeCycle),
		SecurityConfig:                    nullable(req.SecurityConfig),
		CertifyForMarketplace:             req.CertifyForMarketplace,
		Domain:                            req.Domain, Task: req.Task, SamplePayloadUrl: req.SamplePayloadUrl, SourceUri: req.SourceUri,
		ModelPackageRegistrationType: req.ModelPackageRegistrationType, SkipModelValidation: req.SkipModelValidation,
	}
	validateSpec(&v, spec)
	if err := v.Err(); err != nil {
		return nil, err
	}
	p, err := a.Registry.CreatePackage(ctx, a.actor(ctx), registry.NewPackage{
		GroupName: req.ModelPackageGroupName, Name: req.ModelPackageName, Description: req.ModelPackageDescription,
		ApprovalStatus: registry.ApprovalStatus(req.ModelApprovalStatus), CustomerMetadata: req.CustomerMetadataProperties,
		Spec: spec, ClientToken: req.ClientToken, Tags: storeTags(req.Tags),
	})
	if err != nil {
		return nil, registryError(err)
	}
	return &createModelPackageResponse{ModelPackageArn: p.ARN}, nil
}

func approvalStatuses() []string {
	out := make([]string, len(registry.ApprovalStatuses))
	for i, s := range registry.ApprovalStatuses {
		out[i] = string(s)
	}
	return out
}

func validateMetadataMap(v *awsapi.Validator, member string, m map[string]string) {
	if m == nil {
		return
	}
	v.Check(len(m) >= 1 && len(m) <= registry.MaxCustomerMetadata, member, len(m), "Member must have length between 1 and 50")
	for k, val := range m {
		p := member + ".key"
		v.Length(p, k, 1, 128)
		v.Pattern(p, k, metadataKeyRE)
		p = member + "." + k + ".value"
		v.Length(p, val, 1, 256)
		v.Pattern(p, val, metadataKeyRE)
	}
}

func (a *API) describeModelPackage(ctx context.Context, req *modelPackageRef) (*describeModelPackageResponse, error) {
	var v awsapi.Validator
	v.Required("ModelPackageName", req.ModelPackageName != "")
	if req.ModelPackageName != "" {
		checkArnOrName(&v, "modelPackageName", req.ModelPackageName, 176, true)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	p, err := a.Registry.Package(ctx, req.ModelPackageName)
	if err != nil {
		return nil, registryError(err)
	}
	resp := &describeModelPackageResponse{
		ModelPackageName: p.Name, ModelPackageGroupName: p.GroupName, ModelPackageArn: p.ARN, ModelPackageDescription: p.Description,
		CreationTime: awsapi.NewTime(p.CreatedAt), ModelPackageStatus: p.Status, ModelPackageStatusDetails: registry.StatusDetails,
		ModelApprovalStatus: string(p.ApprovalStatus), CreatedBy: wireUser(p.CreatedBy),
		LastModifiedTime: awsapi.TimePtr(p.ModifiedAt), LastModifiedBy: wireUser(p.ModifiedBy),
		ApprovalDescription: p.ApprovalDescription, CustomerMetadataProperties: p.CustomerMetadata,
		InferenceSpecification: p.Spec.InferenceSpecification, SourceAlgorithmSpecification: p.Spec.SourceAlgorithmSpecification,
		ValidationSpecification: p.Spec.ValidationSpecification, MetadataProperties: p.Spec.MetadataProperties,
		ModelMetrics: p.Spec.ModelMetrics, DriftCheckBaselines: p.Spec.DriftCheckBaselines,
		Domain: p.Spec.Domain, Task: p.Spec.Task, SamplePayloadUrl: p.Spec.SamplePayloadUrl,
		AdditionalInferenceSpecifications: p.Spec.AdditionalInferenceSpecifications, SkipModelValidation: p.Spec.SkipModelValidation,
		SourceUri: p.Spec.SourceUri, SecurityConfig: p.Spec.SecurityConfig, ModelCard: p.Spec.ModelCard,
		ModelLifeCycle: p.Spec.ModelLifeCycle, ModelPackageRegistrationType: p.Spec.ModelPackageRegistrationType,
	}
	if p.Versioned() {
		resp.ModelPackageVersion = &p.Version
	}
	if p.Spec.CertifyForMarketplace != nil {
		resp.CertifyForMarketplace = *p.Spec.CertifyForMarketplace
	}
	return resp, nil
}

func (a *API) listModelPackages(ctx context.Context, req *listModelPackagesRequest) (*listModelPackagesResponse, error) {
	var v awsapi.Validator
	if req.NameContains != "" {
		v.Length("nameContains", req.NameContains, 0, 63)
		v.Pattern("nameContains", req.NameContains, nameContainsRE)
	}
	if req.ModelApprovalStatus != "" {
		v.Enum("modelApprovalStatus", req.ModelApprovalStatus, approvalStatuses()...)
	}
	if req.ModelPackageGroupName != "" {
		checkArnOrName(&v, "modelPackageGroupName", req.ModelPackageGroupName, 170, false)
	}
	if req.ModelPackageType != "" {
		v.Enum("modelPackageType", req.ModelPackageType, store.PackagesVersioned, store.PackagesUnversioned, store.PackagesBoth)
	}
	// Group names are case-insensitive, so the token digest uses the lower-cased name.
	lp, err := parseListParams(&v, req.SortBy, req.SortOrder, req.NextToken, req.MaxResults,
		"packages", strings.ToLower(req.ModelPackageGroupName), req.ModelApprovalStatus, req.ModelPackageType, req.NameContains,
		timeKey(req.CreationTimeAfter), timeKey(req.CreationTimeBefore))
	if err != nil {
		return nil, err
	}
	page, err := a.Registry.ListPackages(ctx, registry.PackageQuery{
		Group: req.ModelPackageGroupName, Type: req.ModelPackageType, ApprovalStatus: registry.ApprovalStatus(req.ModelApprovalStatus),
		NameContains: req.NameContains, CreatedAfter: timeOf(req.CreationTimeAfter), CreatedBefore: timeOf(req.CreationTimeBefore),
		SortByName: lp.byName, Descending: lp.desc, After: lp.after, Limit: lp.limit,
	})
	if err != nil {
		return nil, registryError(err)
	}
	resp := &listModelPackagesResponse{ModelPackageSummaryList: make([]modelPackageSummary, 0, len(page.Packages))}
	for _, p := range page.Packages {
		s := modelPackageSummary{
			ModelPackageName: p.Name, ModelPackageGroupName: p.GroupName, ModelPackageArn: p.ARN, ModelPackageDescription: p.Description,
			CreationTime: awsapi.NewTime(p.CreatedAt), ModelPackageStatus: p.Status, ModelApprovalStatus: string(p.ApprovalStatus),
			ModelLifeCycle: p.Spec.ModelLifeCycle, ModelPackageRegistrationType: p.Spec.ModelPackageRegistrationType,
		}
		if p.Versioned() {
			version := p.Version
			s.ModelPackageVersion = &version
		}
		resp.ModelPackageSummaryList = append(resp.ModelPackageSummaryList, s)
	}
	resp.NextToken = lp.token(page.Next)
	return resp, nil
}

func (a *API) updateModelPackage(ctx context.Context, req *updateModelPackageRequest) (*updateModelPackageResponse, error) {
	var v awsapi.Validator
	v.Required("ModelPackageArn", req.ModelPackageArn != "")
	if req.ModelPackageArn != "" {
		v.Length("modelPackageArn", req.ModelPackageArn, 1, 2048)
		v.Pattern("modelPackageArn", req.ModelPackageArn, modelPackageARNRE)
	}
	if req.ModelApprovalStatus != "" {
		v.Enum("modelApprovalStatus", req.ModelApprovalStatus, approvalStatuses()...)
	}
	if req.ApprovalDescription != nil {
		v.Length("approvalDescription", *req.ApprovalDescription, 0, 1024)
	}
	validateMetadataMap(&v, "customerMetadataProperties", req.CustomerMetadataProperties)
	for i, k := range req.CustomerMetadataPropertiesToRemove {
		p := "customerMetadataPropertiesToRemove." + itoa(i+1) + ".member"
		v.Length(p, k, 1, 128)
		v.Pattern(p, k, metadataKeyRE)
	}
	if req.ClientToken != "" {
		v.Length("clientToken", req.ClientToken, 1, 36)
		v.Pattern("clientToken", req.ClientToken, clientTokenRE)
	}
	if req.SourceUri != nil {
		v.Length("sourceUri", *req.SourceUri, 0, 1024)
	}
	if req.ModelPackageRegistrationType != "" {
		v.Enum("modelPackageRegistrationType", req.ModelPackageRegistrationType, "Logged", "Registered")
	}
	add := nullable(req.AdditionalInferenceSpecificationsToAdd)
	validateSpec(&v, registry.Spec{
		InferenceSpecification: nullable(req.InferenceSpecification), ModelCard: nullable(req.ModelCard), ModelLifeCycle: nullable(req.ModelLifeCycle),
	})
	if add != nil {
		validateAdditionalSpecs(&v, "additionalInferenceSpecificationsToAdd", add)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	p, err := a.Registry.UpdatePackage(ctx, a.actor(ctx), req.ModelPackageArn, registry.PackageUpdate{
		ApprovalStatus: registry.ApprovalStatus(req.ModelApprovalStatus), ApprovalDescription: req.ApprovalDescription,
		CustomerMetadata: req.CustomerMetadataProperties, RemoveMetadata: req.CustomerMetadataPropertiesToRemove,
		AddInferenceSpecifications: add, InferenceSpecification: nullable(req.InferenceSpecification),
		ModelCard: nullable(req.ModelCard), ModelLifeCycle: nullable(req.ModelLifeCycle),
		SourceUri: req.SourceUri, ModelPackageRegistrationType: req.ModelPackageRegistrationType,
	})
	if err != nil {
		return nil, registryError(err)
	}
	return &updateModelPackageResponse{ModelPackageArn: p.ARN}, nil
}

func (a *API) deleteModelPackage(ctx context.Context, req *modelPackageRef) (*struct{}, error) {
	var v awsapi.Validator
	v.Required("ModelPackageName", req.ModelPackageName != "")
	if req.ModelPackageName != "" {
		checkArnOrName(&v, "modelPackageName", req.ModelPackageName, 176, true)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := a.Registry.DeletePackage(ctx, a.actor(ctx), req.ModelPackageName); err != nil {
		return nil, registryError(err)
	}
	return &struct{}{}, nil
}
