package hosting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// PackageSource finds model packages; *registry.Service is the implementation.
type PackageSource interface {
	Package(ctx context.Context, ref string) (registry.Package, error)
}

// ImageChecker tells whether an image can be served here; *serving.Host is the implementation.
type ImageChecker interface {
	CheckImage(image string, env map[string]string) error
}

// Service creates, describes, lists and deletes hosting resources. It records desired state;
// the Controller acts on it.
type Service struct {
	Store *store.Store
	ARNs  ARNs
	// Packages resolves ModelPackageName; nil refuses containers that name a package.
	Packages PackageSource
	// Images checks a model's images at CreateModel; nil accepts any image.
	Images ImageChecker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notify is called after every change the controller must act on.
	Notify func()
	// Alarms, when set, lets UpdateEndpoint refuse rollback alarms that do not exist;
	// *alarm.Service is the implementation.
	Alarms interface {
		Missing(names ...string) []string
	}
}

// now reads the clock at millisecond precision, the precision of SageMaker's timestamps.
func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

func (s *Service) planner() planner { return planner{store: s.Store, arns: s.ARNs} }

// wrap passes hosting errors through unchanged, so their messages reach the client as written,
// and adds context to the rest.
func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	return fmt.Errorf("hosting: %s: %w", op, err)
}

// ---- models -------------------------------------------------------------------------------------

// NewModel is a CreateModel request.
type NewModel struct {
	ModelName                string
	PrimaryContainer         *ContainerDefinition
	Containers               []ContainerDefinition
	InferenceExecutionConfig json.RawMessage
	ExecutionRoleArn         string
	VpcConfig                json.RawMessage
	EnableNetworkIsolation   bool
	Tags                     []Tag
}

// CreateModel records a model. Containers that name a model package take the package's image
// and artifacts; the package must be Approved unless the request carries AllowUnapprovedTag.
func (s *Service) CreateModel(ctx context.Context, in NewModel) (Model, error) {
	containers := in.Containers
	switch {
	case in.PrimaryContainer != nil && len(in.Containers) > 0:
		return Model{}, errorf(ErrInvalid, "Specify either PrimaryContainer or Containers, not both.")
	case in.PrimaryContainer != nil:
		containers = []ContainerDefinition{*in.PrimaryContainer}
	case len(containers) == 0:
		return Model{}, errorf(ErrInvalid, "A model needs a container: set PrimaryContainer, or Containers for an inference pipeline.")
	case len(containers) > MaxContainers:
		return Model{}, errorf(ErrInvalid, "An inference pipeline has at most %d containers; this one has %d.", MaxContainers, len(containers))
	}
	allowUnapproved := false
	for _, t := range in.Tags {
		if t.Key == AllowUnapprovedTag && strings.EqualFold(t.Value, "true") {
			allowUnapproved = true
		}
	}
	m := Model{
		ModelName: in.ModelName, ModelArn: s.ARNs.For(KindModel, in.ModelName), PrimaryContainer: in.PrimaryContainer,
		Containers: in.Containers, InferenceExecutionConfig: in.InferenceExecutionConfig, ExecutionRoleArn: in.ExecutionRoleArn,
		VpcConfig: in.VpcConfig, EnableNetworkIsolation: in.EnableNetworkIsolation, CreationTime: s.now(),
	}
	for i, c := range containers {
		what := "PrimaryContainer"
		if in.PrimaryContainer == nil {
			what = "Containers." + strconv.Itoa(i+1)
		}
		rs, err := s.resolveContainer(ctx, what, c, allowUnapproved)
		if err != nil {
			return Model{}, err
		}
		m.Resolved = append(m.Resolved, rs...)
	}
	if len(m.Resolved) > MaxContainers {
		return Model{}, errorf(ErrInvalid, "The model resolves to %d containers; an inference pipeline has at most %d.", len(m.Resolved), MaxContainers)
	}
	doc, _ := json.Marshal(m)
	row := store.HostingDoc{ARN: m.ModelArn, Name: m.ModelName, CreatedAt: m.CreationTime, Spec: doc}
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertModel(ctx, &row); err != nil {
			return err
		}
		return tx.PutTags(ctx, row.ARN, in.Tags)
	})
	if errors.Is(err, store.ErrConflict) {
		return Model{}, errorf(ErrExists, "Cannot create already existing model %q.", m.ModelArn)
	}
	return m, wrap(err, "create model")
}

// resolveContainer turns one container of a CreateModel request into the containers that run.
func (s *Service) resolveContainer(ctx context.Context, what string, c ContainerDefinition, allowUnapproved bool) ([]ResolvedContainer, error) {
	if c.ModelDataUrl != "" && c.ModelDataSource != nil {
		return nil, errorf(ErrInvalid, "%s: specify either ModelDataUrl or ModelDataSource, not both.", what)
	}
	if c.ModelPackageName != "" {
		if c.Image != "" || c.ModelDataUrl != "" || c.ModelDataSource != nil {
			return nil, errorf(ErrInvalid, "%s: a container that names ModelPackageName takes its Image and model data from the package; do not set Image, ModelDataUrl or ModelDataSource too.", what)
		}
		return s.packageContainers(ctx, what, c, allowUnapproved)
	}
	if c.Image == "" {
		return nil, errorf(ErrInvalid, "%s: Image is required unless ModelPackageName names a model package.", what)
	}
	r := ResolvedContainer{Hostname: c.ContainerHostname, Image: c.Image, ModelDataURL: c.ModelDataUrl, Environment: c.Environment}
	if src := c.ModelDataSource; src != nil {
		if src.S3DataSource == nil {
			return nil, errorf(ErrInvalid, "%s: ModelDataSource needs S3DataSource.", what)
		}
		d := src.S3DataSource
		r.ModelDataURL = d.S3Uri
		r.Uncompressed = d.CompressionType == "None"
		switch {
		case d.S3DataType == "S3Prefix" && d.CompressionType != "None":
			return nil, errorf(ErrInvalid, "%s: ModelDataSource.S3DataSource with S3DataType S3Prefix must use CompressionType None.", what)
		case d.S3DataType == "S3Prefix" && !strings.HasSuffix(d.S3Uri, "/"):
			r.ModelDataURL += "/"
		}
	}
	if r.ModelDataURL != "" {
		if _, err := blob.ParseURI(r.ModelDataURL); err != nil {
			return nil, errorf(ErrInvalid, "%s: model data %q is not an s3:// URI: %v", what, r.ModelDataURL, err)
		}
	}
	if err := s.checkImage(what, r); err != nil {
		return nil, err
	}
	return []ResolvedContainer{r}, nil
}

func (s *Service) checkImage(what string, r ResolvedContainer) error {
	if s.Images == nil {
		return nil
	}
	if err := s.Images.CheckImage(r.Image, r.Environment); err != nil {
		return errorf(ErrInvalid, "%s: image %s cannot be served here: %v", what, r.Image, err)
	}
	return nil
}

func (s *Service) packageContainers(ctx context.Context, what string, c ContainerDefinition, allowUnapproved bool) ([]ResolvedContainer, error) {
	if s.Packages == nil {
		return nil, errorf(ErrInvalid, "%s: this server has no model registry to resolve ModelPackageName.", what)
	}
	p, err := s.Packages.Package(ctx, c.ModelPackageName)
	if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrInvalid) {
		return nil, errorf(ErrInvalid, "%s: %v", what, err)
	}
	if err != nil {
		return nil, fmt.Errorf("hosting: model package %s: %w", c.ModelPackageName, err)
	}
	if p.ApprovalStatus != registry.Approved && !allowUnapproved {
		return nil, errorf(ErrInvalid, "%s: model package %s is %s; only Approved versions can be deployed. Approve it (UpdateModelPackage with ModelApprovalStatus=Approved), or create the model with the tag %s=true.",
			what, p.ARN, p.ApprovalStatus, AllowUnapprovedTag)
	}
	pcs, err := p.Containers()
	if err != nil {
		return nil, fmt.Errorf("hosting: %w", err)
	}
	if len(pcs) == 0 {
		return nil, errorf(ErrInvalid, "%s: model package %s has no InferenceSpecification containers to deploy.", what, p.ARN)
	}
	var out []ResolvedContainer
	for _, pc := range pcs {
		env := maps.Clone(pc.Environment)
		if len(c.Environment) > 0 {
			if env == nil {
				env = map[string]string{}
			}
			maps.Copy(env, c.Environment)
		}
		r := ResolvedContainer{Hostname: pc.ContainerHostname, Image: pc.Image, ModelDataURL: pc.ModelDataUrl, Environment: env, ModelPackage: p.ARN}
		if c.ContainerHostname != "" && len(pcs) == 1 {
			r.Hostname = c.ContainerHostname
		}
		if err := s.checkImage(what, r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// DescribeModel returns a model by name.
func (s *Service) DescribeModel(ctx context.Context, name string) (Model, error) {
	m, err := s.planner().model(ctx, name)
	return m, wrap(err, "describe model")
}

// DeleteModel deletes a model. Endpoints already running it keep running, as on SageMaker.
func (s *Service) DeleteModel(ctx context.Context, name string) error {
	arn := s.ARNs.For(KindModel, name)
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteModel(ctx, arn); err != nil {
			return err
		}
		return tx.DeleteAllTags(ctx, arn)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "Could not find model %q.", arn)
	}
	return wrap(err, "delete model")
}

// ListQuery selects and orders a list of models, endpoint configs or endpoints.
type ListQuery struct {
	NameContains                                  string
	CreationTimeAfter, CreationTimeBefore         time.Time
	LastModifiedTimeAfter, LastModifiedTimeBefore time.Time
	StatusEquals                                  string
	// SortBy is Name, CreationTime (the default) or, for endpoints, Status.
	SortBy     string
	Descending bool
	After      *store.Cursor
	Limit      int
}

func (q ListQuery) store() store.HostingQuery {
	return store.HostingQuery{NameContains: q.NameContains, CreatedAfter: q.CreationTimeAfter, CreatedBefore: q.CreationTimeBefore,
		ModifiedAfter: q.LastModifiedTimeAfter, ModifiedBefore: q.LastModifiedTimeBefore, Status: q.StatusEquals,
		SortBy: q.SortBy, Descending: q.Descending, After: q.After, Limit: q.Limit + 1}
}

// ModelPage is one page of models; Next is nil on the last page.
type ModelPage struct {
	Models []Model
	Next   *store.Cursor
}

// ListModels lists models, one page at a time.
func (s *Service) ListModels(ctx context.Context, q ListQuery) (ModelPage, error) {
	rows, err := s.Store.ListModels(ctx, q.store())
	if err != nil {
		return ModelPage{}, wrap(err, "list models")
	}
	var page ModelPage
	rows, page.Next = trimDocs(rows, q)
	for _, r := range rows {
		m, err := decodeModel(r)
		if err != nil {
			return ModelPage{}, err
		}
		page.Models = append(page.Models, m)
	}
	return page, nil
}

func trimDocs(rows []store.HostingDoc, q ListQuery) ([]store.HostingDoc, *store.Cursor) {
	if len(rows) <= q.Limit {
		return rows, nil
	}
	rows = rows[:q.Limit]
	c := rows[len(rows)-1].SortKey(q.SortBy == store.EndpointsByName)
	return rows, &c
}

// ---- endpoint configs ---------------------------------------------------------------------------

// CreateEndpointConfig records an endpoint config after checking its variants: unique names,
// existing models, weights that are not all zero, and SageMaker's rule that shadow variants come
// as one production and one shadow.
func (s *Service) CreateEndpointConfig(ctx context.Context, in EndpointConfig, tags []Tag) (EndpointConfig, error) {
	if len(in.ProductionVariants) == 0 {
		return EndpointConfig{}, errorf(ErrInvalid, "An endpoint config needs at least one production variant.")
	}
	if n := len(in.ProductionVariants) + len(in.ShadowProductionVariants); n > MaxProductionVariants {
		return EndpointConfig{}, errorf(ErrInvalid, "An endpoint config has at most %d variants; this one has %d.", MaxProductionVariants, n)
	}
	if len(in.ShadowProductionVariants) > 0 && (len(in.ProductionVariants) != 1 || len(in.ShadowProductionVariants) != 1) {
		return EndpointConfig{}, errorf(ErrInvalid, "An endpoint config with shadow variants must have exactly one production variant and one shadow variant; this one has %d and %d.",
			len(in.ProductionVariants), len(in.ShadowProductionVariants))
	}
	seen := map[string]bool{}
	total := 0.0
	p := s.planner()
	for i, v := range append(append([]ProductionVariant{}, in.ProductionVariants...), in.ShadowProductionVariants...) {
		key := strings.ToLower(v.VariantName)
		if seen[key] {
			return EndpointConfig{}, errorf(ErrInvalid, "Variant name %q appears more than once; every production and shadow variant needs a distinct name.", v.VariantName)
		}
		seen[key] = true
		if v.ModelName == "" {
			return EndpointConfig{}, errorf(ErrInvalid, "Variant %s needs a ModelName.", v.VariantName)
		}
		if _, err := p.model(ctx, v.ModelName); err != nil {
			if errors.Is(err, ErrNotFound) {
				return EndpointConfig{}, errorf(ErrInvalid, "Could not find model %q for variant %s; create the model first.", s.ARNs.For(KindModel, v.ModelName), v.VariantName)
			}
			return EndpointConfig{}, wrap(err, "create endpoint config")
		}
		if v.InitialInstanceCount == nil && len(v.ServerlessConfig) == 0 {
			return EndpointConfig{}, errorf(ErrInvalid, "Variant %s needs InitialInstanceCount (or a ServerlessConfig).", v.VariantName)
		}
		if w := v.weight(); math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return EndpointConfig{}, errorf(ErrInvalid, "Variant %s has InitialVariantWeight %v; weights are numbers ≥ 0.", v.VariantName, w)
		}
		if i < len(in.ProductionVariants) {
			total += v.weight()
		}
	}
	if total <= 0 {
		return EndpointConfig{}, errorf(ErrInvalid, "Every production variant has InitialVariantWeight 0, so the endpoint could route no traffic; give at least one variant a positive weight.")
	}
	if d := in.DataCaptureConfig; d != nil {
		if _, err := blob.ParseURI(d.DestinationS3Uri); err != nil {
			return EndpointConfig{}, errorf(ErrInvalid, "DataCaptureConfig.DestinationS3Uri %q is not an s3:// URI: %v", d.DestinationS3Uri, err)
		}
		if len(d.CaptureOptions) == 0 {
			return EndpointConfig{}, errorf(ErrInvalid, "DataCaptureConfig.CaptureOptions needs at least one of Input, Output or InputAndOutput.")
		}
	}
	in.EndpointConfigArn = s.ARNs.For(KindEndpointConfig, in.EndpointConfigName)
	in.CreationTime = s.now()
	doc, _ := json.Marshal(in)
	row := store.HostingDoc{ARN: in.EndpointConfigArn, Name: in.EndpointConfigName, CreatedAt: in.CreationTime, Spec: doc}
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertEndpointConfig(ctx, &row); err != nil {
			return err
		}
		return tx.PutTags(ctx, row.ARN, tags)
	})
	if errors.Is(err, store.ErrConflict) {
		return EndpointConfig{}, errorf(ErrExists, "Cannot create already existing endpoint configuration %q.", in.EndpointConfigArn)
	}
	return in, wrap(err, "create endpoint config")
}

// DescribeEndpointConfig returns an endpoint config by name.
func (s *Service) DescribeEndpointConfig(ctx context.Context, name string) (EndpointConfig, error) {
	c, err := s.planner().config(ctx, name)
	return c, wrap(err, "describe endpoint config")
}

// DeleteEndpointConfig deletes a config no endpoint runs or is moving to.
func (s *Service) DeleteEndpointConfig(ctx context.Context, name string) error {
	arn := s.ARNs.For(KindEndpointConfig, name)
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		row, err := tx.EndpointConfig(ctx, arn)
		if err != nil {
			return err
		}
		ep, err := tx.EndpointUsingConfig(ctx, row.Name)
		if err != nil {
			return err
		}
		if ep != "" {
			return errorf(ErrInUse, "Cannot delete endpoint configuration %q: endpoint %s uses it. Update the endpoint to another configuration or delete it first.", arn, ep)
		}
		if err := tx.DeleteEndpointConfig(ctx, arn); err != nil {
			return err
		}
		return tx.DeleteAllTags(ctx, arn)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "Could not find endpoint configuration %q.", arn)
	}
	return wrap(err, "delete endpoint config")
}

// EndpointConfigPage is one page of endpoint configs; Next is nil on the last page.
type EndpointConfigPage struct {
	EndpointConfigs []EndpointConfig
	Next            *store.Cursor
}

// ListEndpointConfigs lists endpoint configs, one page at a time.
func (s *Service) ListEndpointConfigs(ctx context.Context, q ListQuery) (EndpointConfigPage, error) {
	rows, err := s.Store.ListEndpointConfigs(ctx, q.store())
	if err != nil {
		return EndpointConfigPage{}, wrap(err, "list endpoint configs")
	}
	var page EndpointConfigPage
	rows, page.Next = trimDocs(rows, q)
	for _, r := range rows {
		c, err := decodeConfig(r)
		if err != nil {
			return EndpointConfigPage{}, err
		}
		page.EndpointConfigs = append(page.EndpointConfigs, c)
	}
	return page, nil
}

// ---- endpoints ----------------------------------------------------------------------------------

// CreateEndpoint records an endpoint in status Creating; the controller deploys it.
func (s *Service) CreateEndpoint(ctx context.Context, name, configName string, deploymentConfig json.RawMessage, tags []Tag) (Endpoint, error) {
	plan, err := s.planner().plan(ctx, configName)
	if err != nil {
		return Endpoint{}, wrap(err, "create endpoint")
	}
	if err := s.checkDeploymentConfig(deploymentConfig, plan); err != nil {
		return Endpoint{}, err
	}
	now := s.now()
	st := endpointState{Variants: summaries(plan.Variants, false, now), Shadows: summaries(plan.Shadows, false, now),
		Capture: captureSummary(plan.Capture), DeploymentConfig: deploymentConfig, LastDeploymentConfig: deploymentConfig}
	row := store.Endpoint{ARN: s.ARNs.For(KindEndpoint, name), Name: name, ConfigName: plan.ConfigName, DesiredConfigName: plan.ConfigName,
		Status: StatusCreating, Generation: 1, CreatedAt: now, ModifiedAt: now, State: st.encode()}
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertEndpoint(ctx, &row); err != nil {
			return err
		}
		if err := tx.PutTags(ctx, row.ARN, tags); err != nil {
			return err
		}
		return emitStateChange(ctx, tx, row, st)
	})
	if errors.Is(err, store.ErrConflict) {
		return Endpoint{}, errorf(ErrExists, "Cannot create already existing endpoint %q.", row.ARN)
	}
	if err != nil {
		return Endpoint{}, wrap(err, "create endpoint")
	}
	s.notify()
	return endpointView(row, st), nil
}

// DescribeEndpoint returns an endpoint by name.
func (s *Service) DescribeEndpoint(ctx context.Context, name string) (Endpoint, error) {
	arn := s.ARNs.For(KindEndpoint, name)
	row, err := s.Store.Endpoint(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, errorf(ErrNotFound, "Could not find endpoint %q.", arn)
	}
	if err != nil {
		return Endpoint{}, wrap(err, "describe endpoint")
	}
	st, err := decodeState(row)
	if err != nil {
		return Endpoint{}, err
	}
	return endpointView(row, st), nil
}

// changeEndpoint runs fn on the locked endpoint row and its state and writes the result with a
// new generation, announcing it.
func (s *Service) changeEndpoint(ctx context.Context, name, op string, fn func(row *store.Endpoint, st *endpointState) error) (Endpoint, error) {
	arn := s.ARNs.For(KindEndpoint, name)
	var out Endpoint
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		row, err := tx.LockEndpoint(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "Could not find endpoint %q.", arn)
		}
		if err != nil {
			return err
		}
		st, err := decodeState(row)
		if err != nil {
			return err
		}
		before := row.Status
		if err := fn(&row, &st); err != nil {
			return err
		}
		row.Generation++
		row.ModifiedAt = s.now()
		row.State = st.encode()
		if err := tx.UpdateEndpoint(ctx, row); err != nil {
			return err
		}
		out = endpointView(row, st)
		if row.Status != before {
			return emitStateChange(ctx, tx, row, st)
		}
		return nil
	})
	if err != nil {
		return Endpoint{}, wrap(err, op)
	}
	s.notify()
	return out, nil
}

// requireInService refuses changes to an endpoint that is busy or failed.
func requireInService(row *store.Endpoint, action string) error {
	switch row.Status {
	case StatusInService:
		return nil
	case StatusFailed:
		return errorf(ErrInvalid, "Cannot %s endpoint %q: it is in status Failed (%s); DeleteEndpoint is the only operation allowed. Delete it and create it again.", action, row.ARN, row.FailureReason)
	}
	return errorf(ErrInvalid, "Cannot %s in-progress endpoint %q: its status is %s; wait until it is InService.", action, row.ARN, row.Status)
}

// EndpointUpdate is an UpdateEndpoint request.
type EndpointUpdate struct {
	EndpointName       string
	EndpointConfigName string
	// RetainAllVariantProperties keeps the running variants' weights and instance counts,
	// except the properties in ExcludeRetainedVariantProperties.
	RetainAllVariantProperties       bool
	ExcludeRetainedVariantProperties []string
	DeploymentConfig                 json.RawMessage
	RetainDeploymentConfig           bool
}

// UpdateEndpoint moves an InService endpoint to another config; the controller deploys it.
func (s *Service) UpdateEndpoint(ctx context.Context, u EndpointUpdate) (Endpoint, error) {
	plan, err := s.planner().plan(ctx, u.EndpointConfigName)
	if err != nil {
		return Endpoint{}, wrap(err, "update endpoint")
	}
	return s.changeEndpoint(ctx, u.EndpointName, "update endpoint", func(row *store.Endpoint, st *endpointState) error {
		if err := requireInService(row, "update"); err != nil {
			return err
		}
		dc := u.DeploymentConfig
		if u.RetainDeploymentConfig {
			dc = st.DeploymentConfig
		}
		if err := s.checkDeploymentConfig(dc, plan); err != nil {
			return err
		}
		now := s.now()
		row.Status, row.DesiredConfigName, row.FailureReason = StatusUpdating, plan.ConfigName, ""
		st.Pending = &PendingDeployment{EndpointConfigName: plan.ConfigName, ProductionVariants: summaries(plan.Variants, false, now),
			ShadowProductionVariants: summaries(plan.Shadows, false, now), StartTime: now}
		st.Retain, st.Exclude = u.RetainAllVariantProperties, u.ExcludeRetainedVariantProperties
		if !u.RetainDeploymentConfig {
			st.DeploymentConfig = u.DeploymentConfig
		}
		return nil
	})
}

// UpdateWeightsAndCapacities changes variants' weights and instance counts in place.
func (s *Service) UpdateWeightsAndCapacities(ctx context.Context, name string, desired []DesiredWeightAndCapacity) (Endpoint, error) {
	if len(desired) == 0 {
		return Endpoint{}, errorf(ErrInvalid, "DesiredWeightsAndCapacities needs at least one variant.")
	}
	return s.changeEndpoint(ctx, name, "update weights and capacities", func(row *store.Endpoint, st *endpointState) error {
		if err := requireInService(row, "update"); err != nil {
			return err
		}
		if st.Deployed == nil {
			return errorf(ErrInvalid, "Endpoint %q has no deployed variants yet.", row.ARN)
		}
		weights := map[string]float64{}
		for _, v := range st.Deployed.Variants {
			weights[v.Name] = v.Weight
			if v.Instances == 0 {
				weights[v.Name] = 0
			}
		}
		seen := map[string]bool{}
		var unknown []string
		for _, d := range desired {
			if _, ok := weights[d.VariantName]; !ok {
				unknown = append(unknown, d.VariantName)
				continue
			}
			if seen[d.VariantName] {
				return errorf(ErrInvalid, "Variant %s appears more than once in DesiredWeightsAndCapacities.", d.VariantName)
			}
			seen[d.VariantName] = true
			if d.DesiredWeight == nil && d.DesiredInstanceCount == nil {
				return errorf(ErrInvalid, "Variant %s: give DesiredWeight, DesiredInstanceCount or both.", d.VariantName)
			}
			if w := d.DesiredWeight; w != nil {
				if math.IsNaN(*w) || math.IsInf(*w, 0) || *w < 0 {
					return errorf(ErrInvalid, "Variant %s: DesiredWeight %v must be a number ≥ 0.", d.VariantName, *w)
				}
				weights[d.VariantName] = *w
			}
			if n := d.DesiredInstanceCount; n != nil {
				if *n < 0 {
					return errorf(ErrInvalid, "Variant %s: DesiredInstanceCount %d must be ≥ 0.", d.VariantName, *n)
				}
				if *n == 0 {
					weights[d.VariantName] = 0
				}
			}
		}
		if len(unknown) > 0 {
			return errorf(ErrInvalid, "The variant(s) %q are not part of endpoint %q.", unknown, row.ARN)
		}
		total := 0.0
		for _, w := range weights {
			total += w
		}
		if total <= 0 {
			return errorf(ErrInvalid, "These weights and capacities would leave every variant of endpoint %q with weight 0 (or no instances), so it could route no traffic.", row.ARN)
		}
		row.Status, row.FailureReason = StatusUpdating, ""
		st.DesiredWeights = desired
		now := s.now()
		for i := range st.Variants {
			v := &st.Variants[i]
			for _, d := range desired {
				if d.VariantName != v.VariantName {
					continue
				}
				if d.DesiredWeight != nil {
					w := *d.DesiredWeight
					v.DesiredWeight = &w
				}
				if d.DesiredInstanceCount != nil {
					n := *d.DesiredInstanceCount
					v.DesiredInstanceCount = &n
				}
				v.VariantStatus = []VariantStatus{{Status: "Updating", StartTime: now}}
			}
		}
		return nil
	})
}

// DeleteEndpoint marks an endpoint for deletion; the controller stops its fleets and removes it.
func (s *Service) DeleteEndpoint(ctx context.Context, name string) error {
	_, err := s.changeEndpoint(ctx, name, "delete endpoint", func(row *store.Endpoint, st *endpointState) error {
		row.Status = StatusDeleting
		for i := range st.Variants {
			st.Variants[i].VariantStatus = []VariantStatus{{Status: "Deleting", StartTime: s.now()}}
		}
		return nil
	})
	return err
}

// EndpointPage is one page of endpoints; Next is nil on the last page.
type EndpointPage struct {
	Endpoints []Endpoint
	Next      *store.Cursor
}

// ListEndpoints lists endpoints, one page at a time.
func (s *Service) ListEndpoints(ctx context.Context, q ListQuery) (EndpointPage, error) {
	rows, err := s.Store.ListEndpoints(ctx, q.store())
	if err != nil {
		return EndpointPage{}, wrap(err, "list endpoints")
	}
	var page EndpointPage
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		c := rows[len(rows)-1].SortKey(q.SortBy)
		page.Next = &c
	}
	for _, r := range rows {
		st, err := decodeState(r)
		if err != nil {
			return EndpointPage{}, err
		}
		page.Endpoints = append(page.Endpoints, endpointView(r, st))
	}
	return page, nil
}

// endpointView is DescribeEndpoint's view of a row.
func endpointView(row store.Endpoint, st endpointState) Endpoint {
	return Endpoint{
		EndpointName: row.Name, EndpointArn: row.ARN, EndpointConfigName: row.ConfigName, EndpointStatus: row.Status,
		FailureReason: row.FailureReason, CreationTime: row.CreatedAt, LastModifiedTime: row.ModifiedAt,
		ProductionVariants: st.Variants, ShadowProductionVariants: st.Shadows, DataCaptureConfig: st.Capture,
		LastDeploymentConfig: st.LastDeploymentConfig, PendingDeploymentSummary: st.Pending,
	}
}
