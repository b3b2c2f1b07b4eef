package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/store"
)

// Environment is a place models are deployed to, with its own configuration: the equivalent of
// the SageMaker MLOps samples' staging-config.json and prod-config.json. It is local (this
// server) unless Remote names another Sluice server.
type Environment struct {
	Name        string `json:"Name"`
	Description string `json:"Description,omitempty"`
	// EndpointName is the endpoint a Deploy step creates or updates; default "<name>-endpoint".
	EndpointName string `json:"EndpointName,omitempty"`
	// Variant is the endpoint's one production variant.
	Variant Variant `json:"Variant"`
	// DataCapture is the endpoint config's DataCaptureConfig.
	DataCapture *hosting.DataCaptureConfig `json:"DataCapture,omitempty"`
	// DeploymentConfig is UpdateEndpoint's DeploymentConfig (blue/green policy, auto-rollback);
	// Alarms are added to its AutoRollbackConfiguration.
	DeploymentConfig json.RawMessage `json:"DeploymentConfig,omitempty"`
	// Alarms are the alarms whose firing during a deployment rolls it back.
	Alarms []string `json:"Alarms,omitempty"`
	// Remote is set for an environment on another Sluice server.
	Remote *Remote `json:"Remote,omitempty"`
	// Parameters accepts the samples' config files as they are: {"Parameters": {"StageName",
	// "EndpointInstanceCount", "EndpointInstanceType", "SamplingPercentage",
	// "EnableDataCapture", "DataCaptureUri"}}. They fill what the fields above leave unset.
	Parameters map[string]string `json:"Parameters,omitempty"`

	CreationTime     time.Time `json:"CreationTime"`
	LastModifiedTime time.Time `json:"LastModifiedTime"`
}

// Variant is the production variant an environment's endpoint runs.
type Variant struct {
	VariantName   string `json:"VariantName,omitempty"`
	InstanceCount int32  `json:"InstanceCount,omitempty"`
	InstanceType  string `json:"InstanceType,omitempty"`
}

// Remote is another Sluice server and the access key to reach it with.
type Remote struct {
	URL             string `json:"Url"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey,omitempty"`
	Region          string `json:"Region,omitempty"`
	// ArtifactBucket is where copied model artifacts go on the remote; default the source's
	// bucket.
	ArtifactBucket string `json:"ArtifactBucket,omitempty"`
}

// Kind is "local" or "remote".
func (e Environment) Kind() string {
	if e.Remote != nil {
		return "remote"
	}
	return "local"
}

// Redacted is the environment as clients see it: the remote's secret is never returned.
func (e Environment) Redacted() Environment {
	if e.Remote != nil {
		r := *e.Remote
		if r.SecretAccessKey != "" {
			r.SecretAccessKey = "****"
		}
		e.Remote = &r
	}
	return e
}

var envNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// normalize applies the samples' Parameters and the defaults, and checks the configuration.
func (e *Environment) normalize() error {
	if !envNameRE.MatchString(e.Name) {
		return errorf(ErrInvalid, "Name %q: an environment name is 1 to 63 letters, digits or hyphens, starting with a letter or digit.", e.Name)
	}
	p := e.Parameters
	if n := p["EndpointInstanceCount"]; n != "" && e.Variant.InstanceCount == 0 {
		c, err := strconv.Atoi(n)
		if err != nil {
			return errorf(ErrInvalid, "Parameters.EndpointInstanceCount %q: want a whole number.", n)
		}
		e.Variant.InstanceCount = int32(c)
	}
	if t := p["EndpointInstanceType"]; t != "" && e.Variant.InstanceType == "" {
		e.Variant.InstanceType = t
	}
	if strings.EqualFold(p["EnableDataCapture"], "true") && e.DataCapture == nil {
		pct := 100
		if sp := p["SamplingPercentage"]; sp != "" {
			v, err := strconv.Atoi(sp)
			if err != nil {
				return errorf(ErrInvalid, "Parameters.SamplingPercentage %q: want a whole number from 0 to 100.", sp)
			}
			pct = v
		}
		dest := p["DataCaptureUri"]
		if dest == "" {
			dest = "s3://sluice-default/datacapture/" + e.Name
		}
		e.DataCapture = &hosting.DataCaptureConfig{InitialSamplingPercentage: int32(pct), DestinationS3Uri: dest,
			CaptureOptions: []hosting.CaptureOption{{CaptureMode: "Input"}, {CaptureMode: "Output"}}}
	}
	if e.EndpointName == "" {
		e.EndpointName = e.Name + "-endpoint"
	}
	if !envNameRE.MatchString(e.EndpointName) {
		return errorf(ErrInvalid, "EndpointName %q: an endpoint name is 1 to 63 letters, digits or hyphens.", e.EndpointName)
	}
	if e.Variant.VariantName == "" {
		e.Variant.VariantName = "AllTraffic"
	}
	if e.Variant.InstanceCount == 0 {
		e.Variant.InstanceCount = 1
	}
	if e.Variant.InstanceCount < 0 {
		return errorf(ErrInvalid, "Variant.InstanceCount %d: want at least 1.", e.Variant.InstanceCount)
	}
	if e.Variant.InstanceType == "" {
		e.Variant.InstanceType = "ml.m5.large"
	}
	if d := e.DataCapture; d != nil {
		if !strings.HasPrefix(d.DestinationS3Uri, "s3://") {
			return errorf(ErrInvalid, "DataCapture.DestinationS3Uri %q: want an s3:// URI.", d.DestinationS3Uri)
		}
		if len(d.CaptureOptions) == 0 {
			d.CaptureOptions = []hosting.CaptureOption{{CaptureMode: "Input"}, {CaptureMode: "Output"}}
		}
	}
	if len(e.DeploymentConfig) > 0 {
		var m map[string]any
		if err := json.Unmarshal(e.DeploymentConfig, &m); err != nil {
			return errorf(ErrInvalid, "DeploymentConfig: want a JSON object (UpdateEndpoint's DeploymentConfig): %v", err)
		}
	}
	if r := e.Remote; r != nil {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errorf(ErrInvalid, "Remote.Url %q: want the other server's http:// or https:// URL.", r.URL)
		}
		r.URL = strings.TrimRight(r.URL, "/")
		if r.AccessKeyID == "" || r.SecretAccessKey == "" {
			return errorf(ErrInvalid, "Remote: AccessKeyId and SecretAccessKey are required (an access key of the remote server, e.g. from `sluice keys create` there).")
		}
		if r.Region == "" {
			r.Region = "us-east-1"
		}
	}
	return nil
}

// deploymentConfig is the environment's DeploymentConfig with its alarms added to
// AutoRollbackConfiguration.
func (e Environment) deploymentConfig() (json.RawMessage, error) {
	if len(e.DeploymentConfig) == 0 && len(e.Alarms) == 0 {
		return nil, nil
	}
	m := map[string]any{}
	if len(e.DeploymentConfig) > 0 {
		if err := json.Unmarshal(e.DeploymentConfig, &m); err != nil {
			return nil, err
		}
	}
	if len(e.Alarms) > 0 {
		arc, _ := m["AutoRollbackConfiguration"].(map[string]any)
		if arc == nil {
			arc = map[string]any{}
		}
		have := map[string]bool{}
		list, _ := arc["Alarms"].([]any)
		for _, a := range list {
			if am, ok := a.(map[string]any); ok {
				n, _ := am["AlarmName"].(string)
				have[n] = true
			}
		}
		for _, n := range e.Alarms {
			if !have[n] {
				list = append(list, map[string]any{"AlarmName": n})
			}
		}
		arc["Alarms"] = list
		m["AutoRollbackConfiguration"] = arc
	}
	return json.Marshal(m)
}

// PutEnvironment creates an environment, or replaces the configuration of an existing one (a
// remote's secret is kept when the new configuration leaves it out or redacted).
func (s *Service) PutEnvironment(ctx context.Context, e Environment) (Environment, bool, error) {
	old, err := s.Environment(ctx, e.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Environment{}, false, err
	}
	if exists && e.Remote != nil && old.Remote != nil && (e.Remote.SecretAccessKey == "" || e.Remote.SecretAccessKey == "****") &&
		e.Remote.AccessKeyID == old.Remote.AccessKeyID {
		e.Remote.SecretAccessKey = old.Remote.SecretAccessKey
	}
	if err := e.normalize(); err != nil {
		return Environment{}, false, err
	}
	now := s.now()
	e.CreationTime, e.LastModifiedTime = now, now
	if exists {
		e.CreationTime = old.CreationTime
	}
	doc, _ := json.Marshal(e)
	row := store.EnvironmentRow{Name: e.Name, Spec: doc, CreatedAt: e.CreationTime, UpdatedAt: now}
	if err := s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.PutEnvironment(ctx, &row) }); err != nil {
		return Environment{}, false, wrap(err, "put environment")
	}
	return e, !exists, nil
}

// Environment returns an environment by name, with its secret.
func (s *Service) Environment(ctx context.Context, name string) (Environment, error) {
	row, err := s.cfg.Store.Environment(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return Environment{}, errorf(ErrNotFound, "No environment is named %q; list them with `sluice envs list`.", name)
	}
	if err != nil {
		return Environment{}, wrap(err, "read environment")
	}
	var e Environment
	if err := json.Unmarshal(row.Spec, &e); err != nil {
		return Environment{}, fmt.Errorf("promotion: environment %s: stored configuration: %w", name, err)
	}
	return e, nil
}

// Environments lists every environment by name.
func (s *Service) Environments(ctx context.Context) ([]Environment, error) {
	rows, err := s.cfg.Store.Environments(ctx)
	if err != nil {
		return nil, wrap(err, "list environments")
	}
	out := make([]Environment, 0, len(rows))
	for _, r := range rows {
		var e Environment
		if err := json.Unmarshal(r.Spec, &e); err != nil {
			return nil, fmt.Errorf("promotion: environment %s: stored configuration: %w", r.Name, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// DeleteEnvironment deletes an environment. Its endpoint keeps running and its releases stay
// as history.
func (s *Service) DeleteEnvironment(ctx context.Context, name string) error {
	err := s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteEnvironment(ctx, name) })
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "No environment is named %q.", name)
	}
	return wrap(err, "delete environment")
}
