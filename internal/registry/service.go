package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// ARNs builds the ARN of a resource from its kind and name; awsapi.ARNs is the implementation.
type ARNs interface {
	For(kind, name string) string
}

// Service is the model registry of one region and account.
type Service struct {
	Store *store.Store
	ARNs  ARNs
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Resource kinds as they appear in ARNs.
const (
	KindGroup   = "model-package-group"
	KindPackage = "model-package"
)

// Limits SageMaker applies to the mutable parts of a package.
const (
	MaxCustomerMetadata                 = 50
	MaxAdditionalInferenceSpecification = 15
)

// now reads the clock at millisecond precision, the precision of SageMaker's timestamps and of
// the AWS SDKs, so a CreationTime a client read back filters exactly.
// nameRE is SageMaker's EntityName: the names of groups and unversioned packages. The API layer
// reports violations in AWS's words; this check keeps in-process callers to the same rule.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// NewGroup is a request to create a model package group.
type NewGroup struct {
	Name        string
	Description string
	Tags        []Tag
}

// CreateGroup creates a group; a group of the same name (names are case-insensitive, as in
// their ARNs) is ErrExists.
func (s *Service) CreateGroup(ctx context.Context, actor Actor, in NewGroup) (Group, error) {
	if !nameRE.MatchString(in.Name) {
		return Group{}, errorf(ErrInvalid, "ModelPackageGroupName %q is not a valid name: use 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.", in.Name)
	}
	by, _ := json.Marshal(actor.UserContext())
	row := store.ModelPackageGroup{
		ARN: s.ARNs.For(KindGroup, in.Name), Name: in.Name, Description: in.Description,
		Status: StatusCompleted, CreatedAt: s.now(), CreatedBy: by,
	}
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertModelPackageGroup(ctx, &row); err != nil {
			return err
		}
		return tx.PutTags(ctx, row.ARN, in.Tags)
	})
	if errors.Is(err, store.ErrConflict) {
		return Group{}, errorf(ErrExists, "Model Package Group already exists: %s", row.ARN)
	}
	if err != nil {
		return Group{}, fmt.Errorf("registry: create group: %w", err)
	}
	return groupFromRow(row), nil
}

// groupARN resolves a group name or ARN to the canonical ARN.
func (s *Service) groupARN(nameOrARN string) (string, error) {
	if !strings.HasPrefix(nameOrARN, "arn:") {
		return s.ARNs.For(KindGroup, nameOrARN), nil
	}
	_, name, ok := strings.Cut(nameOrARN, ":"+KindGroup+"/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", errorf(ErrInvalid, "%s is not a model package group ARN; expected arn:aws:sagemaker:REGION:ACCOUNT:%s/NAME.", nameOrARN, KindGroup)
	}
	arn := s.ARNs.For(KindGroup, name)
	if !strings.EqualFold(arn, nameOrARN) {
		return "", errorf(ErrNotFound, "ModelPackageGroup %s does not exist in this region and account (this server's ARNs look like %s).", nameOrARN, arn)
	}
	return arn, nil
}

// Group returns the group with this name or ARN.
func (s *Service) Group(ctx context.Context, nameOrARN string) (Group, error) {
	arn, err := s.groupARN(nameOrARN)
	if err != nil {
		return Group{}, err
	}
	row, err := s.Store.ModelPackageGroup(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return Group{}, errorf(ErrNotFound, "ModelPackageGroup %s does not exist.", nameOrARN)
	}
	if err != nil {
		return Group{}, fmt.Errorf("registry: %w", err)
	}
	return groupFromRow(row), nil
}

// DeleteGroup deletes an empty group; a group that still holds versions is ErrInUse.
func (s *Service) DeleteGroup(ctx context.Context, nameOrARN string) error {
	arn, err := s.groupARN(nameOrARN)
	if err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(tx *store.Tx) error {
		g, err := tx.LockModelPackageGroup(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "ModelPackageGroup %s does not exist.", nameOrARN)
		}
		if err != nil {
			return err
		}
		n, err := tx.CountModelPackages(ctx, g.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return errorf(ErrInUse, "Model package group %s still holds %d model package version(s); delete them first with DeleteModelPackage.", g.Name, n)
		}
		if err := tx.DeleteModelPackageGroup(ctx, g.ID); err != nil {
			return err
		}
		return tx.DeleteAllTags(ctx, g.ARN)
	})
}

// GroupQuery selects groups for ListGroups.
type GroupQuery struct {
	NameContains                string
	CreatedAfter, CreatedBefore time.Time
	SortByName, Descending      bool
	After                       *Cursor
	Limit                       int
}

// GroupPage is one page of groups; Next is nil on the last page.
type GroupPage struct {
	Groups []Group
	Next   *Cursor
}

// ListGroups lists groups, one page at a time.
func (s *Service) ListGroups(ctx context.Context, q GroupQuery) (GroupPage, error) {
	rows, err := s.Store.ListModelPackageGroups(ctx, store.ModelPackageGroupQuery{
		NameContains: q.NameContains, CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
		SortByName: q.SortByName, Descending: q.Descending, After: q.After, Limit: q.Limit + 1,
	})
	if err != nil {
		return GroupPage{}, fmt.Errorf("registry: %w", err)
	}
	var page GroupPage
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		c := rows[len(rows)-1].SortKey(q.SortByName)
		page.Next = &c
	}
	for _, r := range rows {
		page.Groups = append(page.Groups, groupFromRow(r))
	}
	return page, nil
}

// NewPackage is a request to create a model package. GroupName (a name or ARN) makes a new
// version of that group; Name makes an unversioned package. Exactly one must be set.
type NewPackage struct {
	GroupName   string
	Name        string
	Description string
	// ApprovalStatus defaults to PendingManualApproval for a version; it does not apply to
	// unversioned packages.
	ApprovalStatus   ApprovalStatus
	CustomerMetadata map[string]string
	Spec             Spec
	// ClientToken makes the request idempotent: a retry with the same token returns the package
	// the first request created.
	ClientToken string
	Tags        []Tag
}

// CreatePackage creates a model package. A version gets the next number of its group, safely
// under concurrent creates, and its state-change event is written with it.
func (s *Service) CreatePackage(ctx context.Context, actor Actor, in NewPackage) (Package, error) {
	versioned := in.GroupName != ""
	switch {
	case versioned && in.Name != "":
		return Package{}, errorf(ErrInvalid, "Specify either ModelPackageGroupName (to add a version to a group) or ModelPackageName (for an unversioned package), not both.")
	case !versioned && in.Name == "":
		return Package{}, errorf(ErrInvalid, "Specify ModelPackageGroupName to add a version to a model package group, or ModelPackageName for an unversioned package.")
	case !versioned && in.ApprovalStatus != "":
		return Package{}, errorf(ErrInvalid, "ModelApprovalStatus applies to versioned model packages only; set ModelPackageGroupName instead of ModelPackageName to register a version.")
	case versioned && in.ApprovalStatus == "":
		in.ApprovalStatus = PendingManualApproval
	}
	if in.ApprovalStatus != "" && !in.ApprovalStatus.Valid() {
		return Package{}, errorf(ErrInvalid, "ModelApprovalStatus %q is not one of %v.", in.ApprovalStatus, ApprovalStatuses)
	}
	if !versioned && !nameRE.MatchString(in.Name) {
		return Package{}, errorf(ErrInvalid, "ModelPackageName %q is not a valid name: use 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.", in.Name)
	}
	if len(in.CustomerMetadata) > MaxCustomerMetadata {
		return Package{}, errorf(ErrInvalid, "CustomerMetadataProperties has %d entries; at most %d are allowed.", len(in.CustomerMetadata), MaxCustomerMetadata)
	}
	op := createOp{s: s, in: in, actor: actor, by: mustJSON(actor.UserContext())}
	var err error
	if op.spec, err = encodeSpec(in.Spec); err != nil {
		return Package{}, err
	}
	if versioned {
		if op.groupARN, err = s.groupARN(in.GroupName); err != nil {
			return Package{}, err
		}
	}
	var row store.ModelPackage
	var earlier bool
	// A concurrent request with the same ClientToken can commit between this one's lookup of the
	// token and its insert (PostgreSQL runs both at once); the insert then fails on the token's
	// unique index, and a second attempt finds the other request's package.
	for attempt := 0; ; attempt++ {
		err = s.Store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			row, earlier, err = op.run(ctx, tx, attempt > 0)
			return err
		})
		if !errors.Is(err, errTokenRace) || attempt > 0 {
			break
		}
	}
	if err != nil {
		return Package{}, wrap(err, "create model package")
	}
	if earlier {
		return packageFromRow(row) // the package the first request with this token made
	}
	return created(row, in.Spec, actor), nil
}

// errTokenRace asks CreatePackage to try once more: see there.
var errTokenRace = errors.New("registry: client token taken concurrently")

// createOp is one CreatePackage request, checked and encoded, ready to run in a transaction.
type createOp struct {
	s        *Service
	in       NewPackage
	actor    Actor
	groupARN string // set for a version
	spec, by json.RawMessage
}

// run stores the package in tx and writes its event. earlier is true when the ClientToken
// names a package an earlier request made, which is returned instead.
func (op createOp) run(ctx context.Context, tx *store.Tx, retry bool) (row store.ModelPackage, earlier bool, err error) {
	s, in := op.s, op.in
	versioned := op.groupARN != ""
	if in.ClientToken != "" {
		prev, err := tx.ModelPackageByClientToken(ctx, in.ClientToken)
		switch {
		case err == nil:
			if (versioned && prev.GroupID != 0 && strings.EqualFold(s.ARNs.For(KindGroup, prev.GroupName), op.groupARN)) ||
				(!versioned && prev.GroupID == 0 && strings.EqualFold(prev.Name, in.Name)) {
				return prev, true, nil
			}
			return row, false, errorf(ErrConflict, "ClientToken %q was already used to create %s; use a new token for a different request.", in.ClientToken, prev.ARN)
		case !errors.Is(err, store.ErrNotFound):
			return row, false, err
		}
	}
	now := s.now()
	row = store.ModelPackage{
		Description: in.Description, ApprovalStatus: string(in.ApprovalStatus), Status: StatusCompleted,
		CreatedBy: op.by, ModifiedBy: op.by, CustomerMetadata: in.CustomerMetadata, Spec: op.spec, ClientToken: in.ClientToken,
	}
	if versioned {
		g, v, at, err := tx.NextVersion(ctx, op.groupARN, now)
		if errors.Is(err, store.ErrNotFound) {
			return row, false, errorf(ErrNotFound, "ModelPackageGroup %s does not exist; create it with CreateModelPackageGroup first.", in.GroupName)
		}
		if err != nil {
			return row, false, err
		}
		row.GroupID, row.GroupName, row.Name, row.Version = g.ID, g.Name, g.Name, v
		row.ARN = s.ARNs.For(KindPackage, g.Name+"/"+strconv.FormatInt(v, 10))
		row.CreatedAt, row.ModifiedAt = at, at
	} else {
		row.Name = in.Name
		row.ARN = s.ARNs.For(KindPackage, in.Name)
		row.CreatedAt, row.ModifiedAt = now, now
	}
	if err := tx.InsertModelPackage(ctx, &row); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if in.ClientToken != "" && !retry {
				return row, false, errTokenRace
			}
			return row, false, errorf(ErrExists, "ModelPackage already exists: %s", row.ARN)
		}
		return row, false, err
	}
	if err := tx.PutTags(ctx, row.ARN, in.Tags); err != nil {
		return row, false, err
	}
	return row, false, emit(ctx, tx, created(row, in.Spec, op.actor), "")
}

// created is the Package a create just stored, built from the request rather than decoded back
// from the row, since the transaction that wrote it is still open.
func created(row store.ModelPackage, spec Spec, actor Actor) Package {
	return Package{
		ARN: row.ARN, Name: row.Name, GroupName: row.GroupName, Version: int(row.Version), Description: row.Description,
		ApprovalStatus: ApprovalStatus(row.ApprovalStatus), Status: row.Status, CreatedAt: row.CreatedAt, ModifiedAt: row.ModifiedAt,
		CreatedBy: actor.UserContext(), ModifiedBy: actor.UserContext(), CustomerMetadata: row.CustomerMetadata, Spec: spec,
	}
}

// packageARN resolves a package reference (an ARN, GROUP/VERSION, or the name of an unversioned
// package) to the canonical ARN.
func (s *Service) packageARN(ref string) (string, error) {
	if !strings.HasPrefix(ref, "arn:") {
		return s.ARNs.For(KindPackage, ref), nil
	}
	_, rest, ok := strings.Cut(ref, ":"+KindPackage+"/")
	if !ok || rest == "" {
		return "", errorf(ErrInvalid, "%s is not a model package ARN; expected arn:aws:sagemaker:REGION:ACCOUNT:%s/GROUP/VERSION.", ref, KindPackage)
	}
	arn := s.ARNs.For(KindPackage, rest)
	if !strings.EqualFold(arn, ref) {
		return "", errorf(ErrNotFound, "ModelPackage %s does not exist in this region and account (this server's ARNs look like %s).", ref, arn)
	}
	return arn, nil
}

// Package returns a package by ARN, by GROUP/VERSION, or by the name of an unversioned package.
func (s *Service) Package(ctx context.Context, ref string) (Package, error) {
	arn, err := s.packageARN(ref)
	if err != nil {
		return Package{}, err
	}
	row, err := s.Store.ModelPackage(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return Package{}, s.packageNotFound(ctx, ref)
	}
	if err != nil {
		return Package{}, fmt.Errorf("registry: %w", err)
	}
	return packageFromRow(row)
}

// packageNotFound explains a missing package; a bare group name gets a hint, since versions are
// addressed by ARN or GROUP/VERSION.
func (s *Service) packageNotFound(ctx context.Context, ref string) error {
	if !strings.Contains(ref, "/") {
		if _, err := s.Store.ModelPackageGroup(ctx, s.ARNs.For(KindGroup, ref)); err == nil {
			return errorf(ErrNotFound, "ModelPackage %s does not exist: %q is a model package group; name one of its versions as %s/VERSION or by its ARN.", ref, ref, ref)
		}
	}
	return errorf(ErrNotFound, "ModelPackage %s does not exist.", ref)
}

// PackageUpdate is a change to a package. Zero fields are left alone.
type PackageUpdate struct {
	ApprovalStatus ApprovalStatus
	// ApprovalDescription replaces the note on the approval. When the status changes and no new
	// note is given, the old note (which explained the old status) is cleared.
	ApprovalDescription *string
	// CustomerMetadata entries are added or overwritten; RemoveMetadata keys are deleted. A key
	// may not appear in both.
	CustomerMetadata map[string]string
	RemoveMetadata   []string
	// AddInferenceSpecifications is a JSON array of AdditionalInferenceSpecificationDefinition
	// to append.
	AddInferenceSpecifications   json.RawMessage
	InferenceSpecification       json.RawMessage
	ModelCard                    json.RawMessage
	ModelLifeCycle               json.RawMessage
	SourceUri                    *string
	ModelPackageRegistrationType string
}

// UpdatePackage applies u to the package with this ARN. An approval change records the actor
// as LastModifiedBy and writes a state-change event in the same transaction.
func (s *Service) UpdatePackage(ctx context.Context, actor Actor, arn string, u PackageUpdate) (Package, error) {
	if u.ApprovalStatus != "" && !u.ApprovalStatus.Valid() {
		return Package{}, errorf(ErrInvalid, "ModelApprovalStatus %q is not one of %v.", u.ApprovalStatus, ApprovalStatuses)
	}
	for _, k := range u.RemoveMetadata {
		if _, both := u.CustomerMetadata[k]; both {
			return Package{}, errorf(ErrInvalid, "CustomerMetadataProperties key %q is both set and listed in CustomerMetadataPropertiesToRemove; choose one.", k)
		}
	}
	canonical, err := s.packageARN(arn)
	if err != nil {
		return Package{}, err
	}
	var out Package
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		row, err := tx.LockModelPackage(ctx, canonical)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "ModelPackage %s does not exist.", arn)
		}
		if err != nil {
			return err
		}
		p, err := packageFromRow(row)
		if err != nil {
			return err
		}
		prev := p.ApprovalStatus
		if u.ApprovalStatus != "" {
			if !p.Versioned() {
				return errorf(ErrInvalid, "%s is an unversioned model package; ModelApprovalStatus applies to versions of a model package group only.", p.ARN)
			}
			p.ApprovalStatus = u.ApprovalStatus
		}
		switch {
		case u.ApprovalDescription != nil:
			p.ApprovalDescription = *u.ApprovalDescription
		case p.ApprovalStatus != prev:
			p.ApprovalDescription = ""
		}
		if err := applyMetadata(&p, u.CustomerMetadata, u.RemoveMetadata); err != nil {
			return err
		}
		if len(u.AddInferenceSpecifications) > 0 {
			merged, err := appendInferenceSpecs(p.Spec.AdditionalInferenceSpecifications, u.AddInferenceSpecifications)
			if err != nil {
				return err
			}
			p.Spec.AdditionalInferenceSpecifications = merged
		}
		if len(u.InferenceSpecification) > 0 {
			p.Spec.InferenceSpecification = u.InferenceSpecification
		}
		if len(u.ModelCard) > 0 {
			p.Spec.ModelCard = u.ModelCard
		}
		if len(u.ModelLifeCycle) > 0 {
			p.Spec.ModelLifeCycle = u.ModelLifeCycle
		}
		if u.SourceUri != nil {
			p.Spec.SourceUri = *u.SourceUri
		}
		if u.ModelPackageRegistrationType != "" {
			p.Spec.ModelPackageRegistrationType = u.ModelPackageRegistrationType
		}
		spec, err := encodeSpec(p.Spec)
		if err != nil {
			return err
		}
		p.ModifiedAt = s.now()
		if p.ModifiedAt.Before(p.CreatedAt) {
			p.ModifiedAt = p.CreatedAt
		}
		p.ModifiedBy = actor.UserContext()
		row.ApprovalStatus, row.ApprovalDescription = string(p.ApprovalStatus), p.ApprovalDescription
		row.CustomerMetadata, row.Spec = p.CustomerMetadata, spec
		row.ModifiedAt, row.ModifiedBy = p.ModifiedAt, mustJSON(p.ModifiedBy)
		if err := tx.UpdateModelPackage(ctx, row); err != nil {
			return err
		}
		out = p
		if p.ApprovalStatus != prev {
			return emit(ctx, tx, p, prev)
		}
		return nil
	})
	if err != nil {
		return Package{}, wrap(err, "update model package")
	}
	return out, nil
}

func applyMetadata(p *Package, set map[string]string, remove []string) error {
	if len(set) == 0 && len(remove) == 0 {
		return nil
	}
	merged := make(map[string]string, len(p.CustomerMetadata)+len(set))
	for k, v := range p.CustomerMetadata {
		merged[k] = v
	}
	for k, v := range set {
		merged[k] = v
	}
	for _, k := range remove {
		delete(merged, k)
	}
	if len(merged) > MaxCustomerMetadata {
		return errorf(ErrInvalid, "CustomerMetadataProperties would hold %d entries after this update; at most %d are allowed.", len(merged), MaxCustomerMetadata)
	}
	if len(merged) == 0 {
		merged = nil
	}
	p.CustomerMetadata = merged
	return nil
}

// appendInferenceSpecs appends the specifications in add to those in have (both JSON arrays),
// keeping names unique and the total within SageMaker's limit.
func appendInferenceSpecs(have, add json.RawMessage) (json.RawMessage, error) {
	var cur, more []json.RawMessage
	if len(have) > 0 {
		if err := json.Unmarshal(have, &cur); err != nil {
			return nil, fmt.Errorf("registry: stored additional inference specifications: %w", err)
		}
	}
	if err := json.Unmarshal(add, &more); err != nil {
		return nil, errorf(ErrInvalid, "AdditionalInferenceSpecificationsToAdd must be a list of AdditionalInferenceSpecificationDefinition objects.")
	}
	if len(cur)+len(more) > MaxAdditionalInferenceSpecification {
		return nil, errorf(ErrInvalid, "The model package would have %d additional inference specifications; at most %d are allowed.", len(cur)+len(more), MaxAdditionalInferenceSpecification)
	}
	names := map[string]bool{}
	for _, spec := range append(append([]json.RawMessage{}, cur...), more...) {
		var named struct{ Name string }
		json.Unmarshal(spec, &named)
		if names[named.Name] {
			return nil, errorf(ErrInvalid, "Additional inference specification name %q is used twice; names must be unique within a model package.", named.Name)
		}
		names[named.Name] = true
	}
	return json.Marshal(append(cur, more...))
}

// DeletePackage deletes a package (by ARN, GROUP/VERSION or unversioned name). Its version number
// is not issued again. A state-change event with status Deleting announces it, so a deploy
// pipeline can withdraw a deleted Approved version.
func (s *Service) DeletePackage(ctx context.Context, actor Actor, ref string) error {
	arn, err := s.packageARN(ref)
	if err != nil {
		return err
	}
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		row, err := tx.LockModelPackage(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "ModelPackage %s does not exist.", ref)
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteModelPackage(ctx, row.ID); err != nil {
			return err
		}
		if err := tx.DeleteAllTags(ctx, row.ARN); err != nil {
			return err
		}
		p, err := packageFromRow(row)
		if err != nil {
			return err
		}
		p.Status = StatusDeleting
		p.ModifiedAt, p.ModifiedBy = s.now(), actor.UserContext()
		return emit(ctx, tx, p, p.ApprovalStatus)
	})
	return wrap(err, "delete model package")
}

// PackageQuery selects packages for ListPackages.
type PackageQuery struct {
	// Group (a name or ARN) lists that group's versions.
	Group string
	// Type is store.PackagesVersioned, PackagesUnversioned or PackagesBoth; without a group the
	// default is Unversioned, as in SageMaker. With a group only versions are listed.
	Type                        string
	ApprovalStatus              ApprovalStatus
	NameContains                string
	CreatedAfter, CreatedBefore time.Time
	SortByName, Descending      bool
	After                       *Cursor
	Limit                       int
}

// PackagePage is one page of packages; Next is nil on the last page.
type PackagePage struct {
	Packages []Package
	Next     *Cursor
}

// ListPackages lists packages, one page at a time. Pages are keyset-paged, so a page boundary
// stays put while versions are added. An unknown group lists nothing, as in SageMaker.
func (s *Service) ListPackages(ctx context.Context, q PackageQuery) (PackagePage, error) {
	sq := store.ModelPackageQuery{
		Type: q.Type, ApprovalStatus: string(q.ApprovalStatus), NameContains: q.NameContains,
		CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
		SortByName: q.SortByName, Descending: q.Descending, After: q.After, Limit: q.Limit + 1,
	}
	if q.Group != "" {
		arn, err := s.groupARN(q.Group)
		if errors.Is(err, ErrNotFound) {
			return PackagePage{}, nil
		}
		if err != nil {
			return PackagePage{}, err
		}
		sq.GroupARN = arn
	}
	rows, err := s.Store.ListModelPackages(ctx, sq)
	if err != nil {
		return PackagePage{}, fmt.Errorf("registry: %w", err)
	}
	var page PackagePage
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		c := rows[len(rows)-1].SortKey(q.SortByName)
		page.Next = &c
	}
	for _, r := range rows {
		p, err := packageFromRow(r)
		if err != nil {
			return PackagePage{}, err
		}
		page.Packages = append(page.Packages, p)
	}
	return page, nil
}

// LatestApproved returns the newest Approved version of a group, the version a deployment of the
// group should run; ErrNotFound when the group has none.
func (s *Service) LatestApproved(ctx context.Context, group string) (Package, error) {
	page, err := s.ListPackages(ctx, PackageQuery{Group: group, ApprovalStatus: Approved, Descending: true, Limit: 1})
	if err != nil {
		return Package{}, err
	}
	if len(page.Packages) == 0 {
		return Package{}, errorf(ErrNotFound, "Model package group %s has no Approved version.", group)
	}
	return page.Packages[0], nil
}

// wrap adds context to unexpected errors and passes registry errors through unchanged, so their
// messages reach the client as written.
func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return fmt.Errorf("registry: %s: %w", op, err)
}
