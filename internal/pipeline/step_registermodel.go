package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/registry"
)

// registerModelKind runs RegisterModel steps: the Arguments are a CreateModelPackage request,
// sent to the model registry, which creates the next version of the group (creating the group
// first if it does not exist, as SageMaker does for pipelines). The request carries a client
// token derived from the execution, the step and the attempt, so a restart that runs the
// attempt again gets the same version instead of a second one. The properties are the
// DescribeModelPackage response.
type registerModelKind struct{}

func (registerModelKind) launchesJob() bool { return false }

func (registerModelKind) start(ctx context.Context, a *attempt) outcome {
	reg := a.d.e.cfg.Registry
	if reg == nil {
		return failed("RegisterModel steps need the model registry, and this server runs without one.")
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	in, err := newPackageRequest(args)
	if err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	sum := sha256.Sum256([]byte(a.d.exec.ARN + "/" + a.step.Name + "/" + strconv.Itoa(a.row.Attempt)))
	in.ClientToken = "pl-" + hex.EncodeToString(sum[:16])
	actor := registry.Actor{Name: "sagemaker-pipelines", ARN: a.d.roleARN}
	pkg, err := reg.CreatePackage(ctx, actor, in)
	if errors.Is(err, registry.ErrNotFound) && in.GroupName != "" {
		name := in.GroupName
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:] // a group ARN
		}
		_, gerr := reg.CreateGroup(ctx, actor, registry.NewGroup{
			Name:        name,
			Description: "Created by pipeline " + a.d.exec.PipelineName + " to register its models.",
		})
		if gerr != nil && !errors.Is(gerr, registry.ErrExists) {
			return registryOutcome(gerr)
		}
		pkg, err = reg.CreatePackage(ctx, actor, in)
	}
	if err != nil {
		return registryOutcome(err)
	}
	o := succeeded(packageProperties(pkg), map[string]any{"RegisterModel": map[string]any{"Arn": pkg.ARN}})
	o.resource = pkg.ARN
	return o
}

// registryOutcome turns a registry error into a failure: a request the registry refuses is the
// step's own failure; anything else is a service fault, which Step.SERVICE_FAULT retries.
func registryOutcome(err error) outcome {
	var re *registry.Error
	if errors.As(err, &re) && !errors.Is(err, registry.ErrConflict) {
		return failed("%s", re.Message)
	}
	return faulted("The model registry failed: %v", err)
}

// newPackageRequest reads a CreateModelPackage request.
func newPackageRequest(args map[string]any) (registry.NewPackage, error) {
	var req struct {
		ModelPackageName           string            `json:"ModelPackageName"`
		ModelPackageGroupName      string            `json:"ModelPackageGroupName"`
		ModelPackageDescription    string            `json:"ModelPackageDescription"`
		ModelApprovalStatus        string            `json:"ModelApprovalStatus"`
		CustomerMetadataProperties map[string]string `json:"CustomerMetadataProperties"`
		Tags                       []struct{ Key, Value string }
	}
	if err := decodeInto(args, &req); err != nil {
		return registry.NewPackage{}, err
	}
	in := registry.NewPackage{
		GroupName:        req.ModelPackageGroupName,
		Name:             req.ModelPackageName,
		Description:      req.ModelPackageDescription,
		ApprovalStatus:   registry.ApprovalStatus(req.ModelApprovalStatus),
		CustomerMetadata: req.CustomerMetadataProperties,
	}
	if in.GroupName != "" {
		in.Name = "" // a version of a group; the name is the group's
	}
	for _, t := range req.Tags {
		in.Tags = append(in.Tags, registry.Tag{Key: t.Key, Value: t.Value})
	}
	if err := decodeInto(args, &in.Spec); err != nil {
		return registry.NewPackage{}, err
	}
	in.Spec.CertifyForMarketplace = nil // the SDK strips it; SageMaker refuses it in pipelines
	return in, nil
}

// packageProperties is DescribeModelPackage's response as a JSON value.
func packageProperties(p registry.Package) map[string]any {
	m := toJSONMap(p.Spec)
	m["ModelPackageName"] = p.Name
	m["ModelPackageArn"] = p.ARN
	m["ModelPackageStatus"] = p.Status
	m["ModelPackageStatusDetails"] = map[string]any{"ValidationStatuses": []any{}, "ImageScanStatuses": []any{}}
	m["CreationTime"] = epoch(p.CreatedAt)
	m["LastModifiedTime"] = epoch(p.ModifiedAt)
	m["CreatedBy"] = toJSONMap(p.CreatedBy)
	if p.Versioned() {
		m["ModelPackageGroupName"] = p.GroupName
		m["ModelPackageVersion"] = json.Number(strconv.Itoa(p.Version))
		m["ModelApprovalStatus"] = string(p.ApprovalStatus)
	}
	if p.Description != "" {
		m["ModelPackageDescription"] = p.Description
	}
	if len(p.CustomerMetadata) > 0 {
		cm := map[string]any{}
		for k, v := range p.CustomerMetadata {
			cm[k] = v
		}
		m["CustomerMetadataProperties"] = cm
	}
	return m
}

func (registerModelKind) check(context.Context, *attempt) outcome {
	return outcome{status: StepExecuting}
}
func (registerModelKind) stop(context.Context, *attempt) error { return nil }
