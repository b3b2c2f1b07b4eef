package hosting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// Plan is a deployment resolved down to what runs: every variant with its weight, instance
// count and containers. It is kept with the endpoint, so a restart redeploys exactly it.
type Plan struct {
	ConfigName string        `json:"ConfigName"`
	Variants   []PlanVariant `json:"Variants"`
	Shadows    []PlanVariant `json:"Shadows,omitempty"`
	// Capture is the config's DataCaptureConfig, enabled or not.
	Capture *DataCaptureConfig `json:"Capture,omitempty"`
}

// PlanVariant is one variant of a Plan.
type PlanVariant struct {
	Name         string              `json:"Name"`
	Model        string              `json:"Model"`
	Weight       float64             `json:"Weight"`
	Instances    int                 `json:"Instances"`
	InstanceType string              `json:"InstanceType,omitempty"`
	Containers   []ResolvedContainer `json:"Containers"`
	// StartupTimeout is ContainerStartupHealthCheckTimeoutInSeconds (0: the default).
	StartupTimeout int `json:"StartupTimeout,omitempty"`
	// NetworkIsolation is the model's EnableNetworkIsolation.
	NetworkIsolation bool `json:"NetworkIsolation,omitempty"`
}

// ModelSpec is what the serving host needs to start the variant's fleet.
func (v PlanVariant) ModelSpec() serving.ModelSpec {
	spec := serving.ModelSpec{Name: v.Model, Replicas: v.Instances, StartupTimeout: time.Duration(v.StartupTimeout) * time.Second,
		NetworkIsolation: v.NetworkIsolation}
	for _, c := range v.Containers {
		spec.Containers = append(spec.Containers, serving.ContainerSpec{Hostname: c.Hostname, Image: c.Image,
			ModelDataURL: c.ModelDataURL, ModelDataUncompressed: c.Uncompressed, Environment: c.Environment})
	}
	return spec
}

// variant returns the plan's production variant of that name.
func (p *Plan) variant(name string) (*PlanVariant, bool) {
	for i := range p.Variants {
		if p.Variants[i].Name == name {
			return &p.Variants[i], true
		}
	}
	return nil, false
}

// endpointState is the JSON the store keeps with each endpoint.
type endpointState struct {
	// Variants, Shadows and Capture are what DescribeEndpoint reports.
	Variants []VariantSummary    `json:"Variants,omitempty"`
	Shadows  []VariantSummary    `json:"Shadows,omitempty"`
	Capture  *DataCaptureSummary `json:"Capture,omitempty"`
	// Deployed is the plan that runs (nil until the first deployment succeeds).
	Deployed *Plan `json:"Deployed,omitempty"`
	// Pending is the update in flight.
	Pending *PendingDeployment `json:"Pending,omitempty"`
	// DesiredWeights is an UpdateEndpointWeightsAndCapacities request in flight.
	DesiredWeights []DesiredWeightAndCapacity `json:"DesiredWeights,omitempty"`
	// Retain and Exclude are UpdateEndpoint's RetainAllVariantProperties and
	// ExcludeRetainedVariantProperties.
	Retain  bool     `json:"Retain,omitempty"`
	Exclude []string `json:"Exclude,omitempty"`
	// DeploymentConfig is the request's; LastDeploymentConfig the one last applied.
	DeploymentConfig     json.RawMessage `json:"DeploymentConfig,omitempty"`
	LastDeploymentConfig json.RawMessage `json:"LastDeploymentConfig,omitempty"`
	// RestoreFailures counts failed attempts to bring the endpoint back after a restart.
	RestoreFailures int `json:"RestoreFailures,omitempty"`
}

func decodeState(e store.Endpoint) (endpointState, error) {
	var s endpointState
	if len(e.State) > 0 {
		if err := json.Unmarshal(e.State, &s); err != nil {
			return s, fmt.Errorf("hosting: endpoint %s: stored state: %w", e.Name, err)
		}
	}
	return s, nil
}

func (s endpointState) encode() json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// planner resolves endpoint configs and models from the store.
type planner struct {
	store *store.Store
	arns  ARNs
}

func (p planner) config(ctx context.Context, name string) (EndpointConfig, error) {
	arn := p.arns.For(KindEndpointConfig, name)
	row, err := p.store.EndpointConfig(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return EndpointConfig{}, errorf(ErrNotFound, "Could not find endpoint configuration %q.", arn)
	}
	if err != nil {
		return EndpointConfig{}, fmt.Errorf("hosting: %w", err)
	}
	return decodeConfig(row)
}

func (p planner) model(ctx context.Context, name string) (Model, error) {
	arn := p.arns.For(KindModel, name)
	row, err := p.store.Model(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return Model{}, errorf(ErrNotFound, "Could not find model %q.", arn)
	}
	if err != nil {
		return Model{}, fmt.Errorf("hosting: %w", err)
	}
	return decodeModel(row)
}

// plan resolves a config and its models into a Plan.
func (p planner) plan(ctx context.Context, configName string) (Plan, error) {
	cfg, err := p.config(ctx, configName)
	if err != nil {
		return Plan{}, err
	}
	out := Plan{ConfigName: cfg.EndpointConfigName, Capture: cfg.DataCaptureConfig}
	resolve := func(vs []ProductionVariant) ([]PlanVariant, error) {
		var pvs []PlanVariant
		for _, v := range vs {
			m, err := p.model(ctx, v.ModelName)
			if err != nil {
				return nil, fmt.Errorf("variant %s: %w", v.VariantName, err)
			}
			pv := PlanVariant{Name: v.VariantName, Model: m.ModelName, Weight: v.weight(), Instances: v.instances(),
				InstanceType: v.InstanceType, Containers: m.Resolved, NetworkIsolation: m.EnableNetworkIsolation}
			if v.ContainerStartupHealthCheckTimeoutInSeconds != nil {
				pv.StartupTimeout = int(*v.ContainerStartupHealthCheckTimeoutInSeconds)
			}
			pvs = append(pvs, pv)
		}
		return pvs, nil
	}
	if out.Variants, err = resolve(cfg.ProductionVariants); err != nil {
		return Plan{}, err
	}
	if out.Shadows, err = resolve(cfg.ShadowProductionVariants); err != nil {
		return Plan{}, err
	}
	return out, nil
}

func decodeConfig(row store.HostingDoc) (EndpointConfig, error) {
	var c EndpointConfig
	if err := json.Unmarshal(row.Spec, &c); err != nil {
		return c, fmt.Errorf("hosting: endpoint config %s: stored document: %w", row.Name, err)
	}
	c.EndpointConfigName, c.EndpointConfigArn, c.CreationTime = row.Name, row.ARN, row.CreatedAt
	return c, nil
}

func decodeModel(row store.HostingDoc) (Model, error) {
	var m Model
	if err := json.Unmarshal(row.Spec, &m); err != nil {
		return m, fmt.Errorf("hosting: model %s: stored document: %w", row.Name, err)
	}
	m.ModelName, m.ModelArn, m.CreationTime = row.Name, row.ARN, row.CreatedAt
	return m, nil
}

// summaries describes plan variants. current says whether they run (Current* set and their
// images deployed) or are being created (Desired* only, with status Creating).
func summaries(vs []PlanVariant, current bool, at time.Time) []VariantSummary {
	var out []VariantSummary
	for _, v := range vs {
		w, n := v.Weight, int32(v.Instances)
		s := VariantSummary{VariantName: v.Name, DesiredWeight: &w, DesiredInstanceCount: &n, InstanceType: v.InstanceType}
		if current {
			cw, cn := w, n
			s.CurrentWeight, s.CurrentInstanceCount = &cw, &cn
			for _, c := range v.Containers {
				s.DeployedImages = append(s.DeployedImages, DeployedImage{SpecifiedImage: c.Image, ResolvedImage: c.Image, ResolutionTime: at})
			}
		} else {
			s.VariantStatus = []VariantStatus{{Status: "Creating", StartTime: at}}
		}
		out = append(out, s)
	}
	return out
}

// captureSummary is DescribeEndpoint's DataCaptureConfig for a config's capture settings.
func captureSummary(d *DataCaptureConfig) *DataCaptureSummary {
	if d == nil {
		return nil
	}
	s := &DataCaptureSummary{EnableCapture: d.enabled(), CaptureStatus: "Stopped", CurrentSamplingPercentage: d.InitialSamplingPercentage,
		DestinationS3Uri: d.DestinationS3Uri, KmsKeyId: d.KmsKeyId}
	if s.EnableCapture {
		s.CaptureStatus = "Started"
	}
	return s
}

// servingCapture is the router's form of a capture config.
func servingCapture(d *DataCaptureConfig) *serving.CaptureConfig {
	if !d.enabled() {
		return nil
	}
	c := &serving.CaptureConfig{Destination: d.DestinationS3Uri, SamplingPercentage: float64(d.InitialSamplingPercentage)}
	for _, o := range d.CaptureOptions {
		switch o.CaptureMode {
		case "Input":
			c.CaptureInput = true
		case "Output":
			c.CaptureOutput = true
		case "InputAndOutput":
			c.CaptureInput, c.CaptureOutput = true, true
		}
	}
	if h := d.CaptureContentTypeHeader; h != nil {
		c.CSVContentTypes, c.JSONContentTypes = h.CsvContentTypes, h.JsonContentTypes
	}
	return c
}

// retain carries the running variants' weights and instance counts into a new plan, as
// UpdateEndpoint's RetainAllVariantProperties asks, except the properties excluded.
func retain(next *Plan, old *Plan, exclude []string) {
	if old == nil {
		return
	}
	for i := range next.Variants {
		v := &next.Variants[i]
		o, ok := old.variant(v.Name)
		if !ok {
			continue
		}
		if !slices.Contains(exclude, "DesiredWeight") {
			v.Weight = o.Weight
		}
		if !slices.Contains(exclude, "DesiredInstanceCount") {
			v.Instances = o.Instances
		}
	}
	if slices.Contains(exclude, "DataCaptureConfig") {
		return
	}
	next.Capture = old.Capture
}

// planError words a planning failure for FailureReason.
func planError(err error) string {
	var he *Error
	if errors.As(err, &he) {
		return he.Message
	}
	return strings.TrimPrefix(err.Error(), "hosting: ")
}
