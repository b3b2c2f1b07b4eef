package promotion

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/serving"
)

// target is where an environment's endpoint runs: this server (localTarget) or another Sluice
// server reached through its SageMaker and objects APIs (remoteTarget).
type target interface {
	// ensureModel creates the model of a package version unless it exists.
	ensureModel(ctx context.Context, name string, pkg registry.Package) error
	// ensureConfig creates an endpoint config unless it exists.
	ensureConfig(ctx context.Context, name, model string, env Environment) error
	// endpoint describes an endpoint; found is false when it does not exist.
	endpoint(ctx context.Context, name string) (ep endpointState, found bool, err error)
	createEndpoint(ctx context.Context, name, config string, dc json.RawMessage) error
	updateEndpoint(ctx context.Context, name, config string, dc json.RawMessage) error
	invoke(ctx context.Context, endpoint string, inv pipeline.Invocation) (pipeline.InvocationResult, error)
	// deployments lists the endpoint's latest deployment records, newest first.
	deployments(ctx context.Context, endpoint string) ([]hosting.DeploymentRecord, error)
}

// endpointState is what a deployment reads from its endpoint.
type endpointState struct {
	ARN           string `json:"EndpointArn"`
	Status        string `json:"EndpointStatus"`
	ConfigName    string `json:"EndpointConfigName"`
	PendingConfig string `json:"PendingEndpointConfigName,omitempty"`
	FailureReason string `json:"FailureReason,omitempty"`
	// LastDeploymentConfig is the policy of the last update.
	LastDeploymentConfig json.RawMessage `json:"LastDeploymentConfig,omitempty"`
	Variants             any             `json:"ProductionVariants,omitempty"`
}

func (s *Service) target(env Environment) (target, error) {
	if env.Remote != nil {
		return s.remote(env), nil
	}
	if s.cfg.Hosting == nil {
		return nil, &pipeline.DeliveryError{Message: fmt.Sprintf("Environment %s is local, and this server runs without hosting.", env.Name)}
	}
	return localTarget{s: s}, nil
}

// modelName is the model of a package version: one per version, reused by later deployments.
func modelName(pkg registry.Package) string {
	base := pkg.Name
	if pkg.Versioned() {
		base = fmt.Sprintf("%s-v%d", pkg.GroupName, pkg.Version)
	}
	return truncate(cleanName(base), 63)
}

func cleanName(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return strings.TrimRight(s[:n], "-")
	}
	return s
}

func variantFor(env Environment, model string) hosting.ProductionVariant {
	n, w := env.Variant.InstanceCount, 1.0
	return hosting.ProductionVariant{VariantName: env.Variant.VariantName, ModelName: model, InitialInstanceCount: &n,
		InstanceType: env.Variant.InstanceType, InitialVariantWeight: &w}
}

// ---- this server

type localTarget struct{ s *Service }

func (t localTarget) ensureModel(ctx context.Context, name string, pkg registry.Package) error {
	h := t.s.cfg.Hosting
	if _, err := h.DescribeModel(ctx, name); err == nil {
		return nil
	} else if !errors.Is(err, hosting.ErrNotFound) {
		return err
	}
	_, err := h.CreateModel(ctx, hosting.NewModel{ModelName: name, PrimaryContainer: &hosting.ContainerDefinition{ModelPackageName: pkg.ARN},
		Tags: []hosting.Tag{{Key: "sluice:ModelPackage", Value: pkg.ARN}}})
	if errors.Is(err, hosting.ErrExists) {
		return nil
	}
	return err
}

func (t localTarget) ensureConfig(ctx context.Context, name, model string, env Environment) error {
	_, err := t.s.cfg.Hosting.CreateEndpointConfig(ctx, hosting.EndpointConfig{EndpointConfigName: name,
		ProductionVariants: []hosting.ProductionVariant{variantFor(env, model)}, DataCaptureConfig: env.DataCapture},
		[]hosting.Tag{{Key: "sluice:Environment", Value: env.Name}})
	if errors.Is(err, hosting.ErrExists) {
		return nil
	}
	return err
}

func (t localTarget) endpoint(ctx context.Context, name string) (endpointState, bool, error) {
	e, err := t.s.cfg.Hosting.DescribeEndpoint(ctx, name)
	if errors.Is(err, hosting.ErrNotFound) {
		return endpointState{}, false, nil
	}
	if err != nil {
		return endpointState{}, false, err
	}
	st := endpointState{ARN: e.EndpointArn, Status: e.EndpointStatus, ConfigName: e.EndpointConfigName, FailureReason: e.FailureReason,
		LastDeploymentConfig: e.LastDeploymentConfig, Variants: e.ProductionVariants}
	if e.PendingDeploymentSummary != nil {
		st.PendingConfig = e.PendingDeploymentSummary.EndpointConfigName
	}
	return st, true, nil
}

func (t localTarget) createEndpoint(ctx context.Context, name, config string, dc json.RawMessage) error {
	_, err := t.s.cfg.Hosting.CreateEndpoint(ctx, name, config, dc, nil)
	return err
}

func (t localTarget) updateEndpoint(ctx context.Context, name, config string, dc json.RawMessage) error {
	_, err := t.s.cfg.Hosting.UpdateEndpoint(ctx, hosting.EndpointUpdate{EndpointName: name, EndpointConfigName: config, DeploymentConfig: dc})
	return err
}

func (t localTarget) deployments(ctx context.Context, endpoint string) ([]hosting.DeploymentRecord, error) {
	return t.s.cfg.Hosting.Deployments(ctx, endpoint, 0, recentDeployments)
}

func (t localTarget) invoke(ctx context.Context, endpoint string, inv pipeline.Invocation) (pipeline.InvocationResult, error) {
	if t.s.cfg.Router == nil {
		return pipeline.InvocationResult{}, &pipeline.DeliveryError{Message: "This server runs without a data plane to invoke endpoints with."}
	}
	var resp serving.Response
	start := time.Now()
	call, err := t.s.cfg.Router.Invoke(ctx, endpoint, &serving.Request{Body: inv.Body, ContentType: inv.ContentType, Accept: inv.Accept}, &resp)
	total := time.Since(start)
	// Test traffic counts in the endpoint's metrics like any other: alarms watch it too.
	call.Finish(total)
	if errors.Is(err, serving.ErrNoEndpoint) {
		return pipeline.InvocationResult{}, &pipeline.DeliveryError{Message: fmt.Sprintf("Endpoint %s does not serve traffic here; deploy it first.", endpoint)}
	}
	if err != nil {
		return pipeline.InvocationResult{}, err
	}
	return pipeline.InvocationResult{Status: resp.Status, Body: resp.Body, Variant: call.Variant(), Latency: total}, nil
}

// ---- another Sluice server

// remoteTarget deploys to another Sluice server with the AWS SDK (its SageMaker API) and copies
// model artifacts there through its objects API. What gets copied: the object each container's
// ModelDataUrl names (a model.tar.gz), to the same bucket and key on the remote (or the
// environment's ArtifactBucket); the remote then gets a SageMaker model with the package's
// image, environment and the copied ModelDataUrl, tagged with the source package's ARN. The
// registry entry itself stays on this server, which is where approvals happen.
type remoteTarget struct {
	s   *Service
	env Environment
	sm  *sagemaker.Client
}

func (s *Service) remote(env Environment) remoteTarget {
	r := env.Remote
	cfg := aws.Config{Region: r.Region, Credentials: credentials.NewStaticCredentialsProvider(r.AccessKeyID, r.SecretAccessKey, ""),
		HTTPClient: s.cfg.HTTP}
	return remoteTarget{s: s, env: env, sm: sagemaker.NewFromConfig(cfg, func(o *sagemaker.Options) {
		o.BaseEndpoint = aws.String(r.URL)
		o.RetryMaxAttempts = 2
	})}
}

// remoteNotFound reports whether a remote call failed because the resource does not exist
// (SageMaker answers ValidationException for missing models and endpoints).
func remoteNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "ValidationException" || ae.ErrorCode() == "ResourceNotFound") &&
		strings.Contains(strings.ToLower(ae.ErrorMessage()), "could not find")
}

func remoteExists(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.ErrorMessage()), "already exist")
}

func (t remoteTarget) ensureModel(ctx context.Context, name string, pkg registry.Package) error {
	if _, err := t.sm.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String(name)}); err == nil {
		return nil
	} else if !remoteNotFound(err) {
		return t.fail("describe model", err)
	}
	cs, err := pkg.Containers()
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return &pipeline.DeliveryError{Message: fmt.Sprintf("Model package %s has no inference containers to deploy.", pkg.ARN)}
	}
	var containers []smtypes.ContainerDefinition
	for _, c := range cs {
		d := smtypes.ContainerDefinition{Image: aws.String(c.Image), Environment: c.Environment}
		if c.ContainerHostname != "" {
			d.ContainerHostname = aws.String(c.ContainerHostname)
		}
		if c.ModelDataUrl != "" {
			dst, err := t.copyArtifact(ctx, c.ModelDataUrl)
			if err != nil {
				return err
			}
			d.ModelDataUrl = aws.String(dst)
		}
		containers = append(containers, d)
	}
	in := &sagemaker.CreateModelInput{ModelName: aws.String(name),
		Tags: []smtypes.Tag{{Key: aws.String("sluice:SourceModelPackage"), Value: aws.String(pkg.ARN)}}}
	if len(containers) == 1 {
		in.PrimaryContainer = &containers[0]
	} else {
		in.Containers = containers
	}
	if _, err := t.sm.CreateModel(ctx, in); err != nil && !remoteExists(err) {
		return t.fail("create model", err)
	}
	return nil
}

// copyArtifact copies one object to the remote server unless an object of the same size is
// there already, and returns its URI there.
func (t remoteTarget) copyArtifact(ctx context.Context, src string) (string, error) {
	bs := t.s.cfg.Blob
	if bs == nil {
		return "", &pipeline.DeliveryError{Message: "This server has no artifact store to copy model artifacts from."}
	}
	u, err := blob.ParseURI(src)
	if err != nil {
		return "", &pipeline.DeliveryError{Message: fmt.Sprintf("ModelDataUrl %q: %v", src, err)}
	}
	info, err := bs.Stat(ctx, u)
	if err != nil {
		return "", &pipeline.DeliveryError{Message: fmt.Sprintf("Model artifact %s cannot be copied to environment %s: %v (only single objects such as model.tar.gz are copied)", src, t.env.Name, err)}
	}
	dst := u
	if b := t.env.Remote.ArtifactBucket; b != "" {
		dst.Bucket = b
	}
	path := "/api/v1/objects/" + url.PathEscape(dst.Bucket) + "/" + escapeKey(dst.Key)
	if resp, err := t.send(ctx, http.MethodHead, path, nil, ""); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && resp.ContentLength == info.Size {
			return dst.String(), nil
		}
	}
	rc, err := bs.Get(ctx, u)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return "", fmt.Errorf("promotion: read %s: %w", src, err)
	}
	sum := sha256.Sum256(body)
	resp, err := t.send(ctx, http.MethodPut, path, body, hex.EncodeToString(sum[:]))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", &pipeline.DeliveryError{Message: fmt.Sprintf("Copying %s to environment %s (%s) failed: HTTP %d: %s", src, t.env.Name, dst, resp.StatusCode, strings.TrimSpace(string(msg)))}
	}
	return dst.String(), nil
}

func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// send makes a SigV4-signed request to the remote server's native or runtime API.
func (t remoteTarget) send(ctx context.Context, method, path string, body []byte, sum string) (*http.Response, error) {
	r := t.env.Remote
	req, err := http.NewRequestWithContext(ctx, method, r.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if sum == "" {
		h := sha256.Sum256(body)
		sum = hex.EncodeToString(h[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", sum)
	req.ContentLength = int64(len(body))
	creds := aws.Credentials{AccessKeyID: r.AccessKeyID, SecretAccessKey: r.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, sum, "sagemaker", r.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := t.s.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promotion: environment %s: cannot reach %s: %w", t.env.Name, r.URL, err)
	}
	return resp, nil
}

func (t remoteTarget) fail(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "InternalFailure" && ae.ErrorCode() != "ServiceUnavailable" {
		return &pipeline.DeliveryError{Message: fmt.Sprintf("Environment %s (%s): %s refused: %s: %s", t.env.Name, t.env.Remote.URL, op, ae.ErrorCode(), ae.ErrorMessage())}
	}
	return fmt.Errorf("promotion: environment %s: %s: %w", t.env.Name, op, err)
}

func (t remoteTarget) ensureConfig(ctx context.Context, name, model string, env Environment) error {
	v := variantFor(env, model)
	in := &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String(name),
		ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String(v.VariantName), ModelName: aws.String(model),
			InitialInstanceCount: v.InitialInstanceCount, InstanceType: smtypes.ProductionVariantInstanceType(v.InstanceType),
			InitialVariantWeight: aws.Float32(1)}},
		Tags: []smtypes.Tag{{Key: aws.String("sluice:Environment"), Value: aws.String(env.Name)}}}
	if d := env.DataCapture; d != nil {
		dc := &smtypes.DataCaptureConfig{DestinationS3Uri: aws.String(d.DestinationS3Uri), InitialSamplingPercentage: aws.Int32(d.InitialSamplingPercentage),
			EnableCapture: d.EnableCapture}
		for _, o := range d.CaptureOptions {
			dc.CaptureOptions = append(dc.CaptureOptions, smtypes.CaptureOption{CaptureMode: smtypes.CaptureMode(o.CaptureMode)})
		}
		in.DataCaptureConfig = dc
	}
	if _, err := t.sm.CreateEndpointConfig(ctx, in); err != nil && !remoteExists(err) {
		return t.fail("create endpoint config", err)
	}
	return nil
}

func (t remoteTarget) endpoint(ctx context.Context, name string) (endpointState, bool, error) {
	out, err := t.sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(name)})
	if remoteNotFound(err) {
		return endpointState{}, false, nil
	}
	if err != nil {
		return endpointState{}, false, t.fail("describe endpoint", err)
	}
	st := endpointState{ARN: aws.ToString(out.EndpointArn), Status: string(out.EndpointStatus), ConfigName: aws.ToString(out.EndpointConfigName),
		FailureReason: aws.ToString(out.FailureReason), Variants: out.ProductionVariants}
	if out.PendingDeploymentSummary != nil {
		st.PendingConfig = aws.ToString(out.PendingDeploymentSummary.EndpointConfigName)
	}
	return st, true, nil
}

func deploymentInput(dc json.RawMessage) (*smtypes.DeploymentConfig, error) {
	if len(dc) == 0 {
		return nil, nil
	}
	var out smtypes.DeploymentConfig
	// The SDK's types carry the wire's member names, so the document decodes into them.
	if err := json.Unmarshal(dc, &out); err != nil {
		return nil, &pipeline.DeliveryError{Message: fmt.Sprintf("DeploymentConfig: %v", err)}
	}
	return &out, nil
}

func (t remoteTarget) createEndpoint(ctx context.Context, name, config string, dc json.RawMessage) error {
	d, err := deploymentInput(dc)
	if err != nil {
		return err
	}
	if _, err := t.sm.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(config),
		DeploymentConfig: d}); err != nil {
		return t.fail("create endpoint", err)
	}
	return nil
}

func (t remoteTarget) updateEndpoint(ctx context.Context, name, config string, dc json.RawMessage) error {
	d, err := deploymentInput(dc)
	if err != nil {
		return err
	}
	if _, err := t.sm.UpdateEndpoint(ctx, &sagemaker.UpdateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(config),
		DeploymentConfig: d}); err != nil {
		return t.fail("update endpoint", err)
	}
	return nil
}

// deployments reads the remote server's GET /api/v1/endpoints/{name}/deployments.
func (t remoteTarget) deployments(ctx context.Context, endpoint string) ([]hosting.DeploymentRecord, error) {
	resp, err := t.send(ctx, http.MethodGet, "/api/v1/endpoints/"+url.PathEscape(endpoint)+"/deployments?limit="+fmt.Sprint(recentDeployments), nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("promotion: environment %s: read deployments: %w", t.env.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promotion: environment %s: deployments of %s: HTTP %d: %s", t.env.Name, endpoint, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var page struct {
		Deployments []hosting.DeploymentRecord `json:"Deployments"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("promotion: environment %s: deployments of %s: %w", t.env.Name, endpoint, err)
	}
	return page.Deployments, nil
}

func (t remoteTarget) invoke(ctx context.Context, endpoint string, inv pipeline.Invocation) (pipeline.InvocationResult, error) {
	path := "/endpoints/" + url.PathEscape(endpoint) + "/invocations"
	r := t.env.Remote
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+path, bytes.NewReader(inv.Body))
	if err != nil {
		return pipeline.InvocationResult{}, err
	}
	req.Header.Set("Content-Type", inv.ContentType)
	if inv.Accept != "" {
		req.Header.Set("Accept", inv.Accept)
	}
	sum := sha256.Sum256(inv.Body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	creds := aws.Credentials{AccessKeyID: r.AccessKeyID, SecretAccessKey: r.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sagemaker", r.Region, time.Now()); err != nil {
		return pipeline.InvocationResult{}, err
	}
	start := time.Now()
	resp, err := t.s.cfg.HTTP.Do(req)
	if err != nil {
		return pipeline.InvocationResult{}, fmt.Errorf("environment %s: cannot reach %s: %w", t.env.Name, r.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	latency := time.Since(start)
	if err != nil {
		return pipeline.InvocationResult{}, err
	}
	res := pipeline.InvocationResult{Status: resp.StatusCode, Body: body, Variant: resp.Header.Get("X-Amzn-Invoked-Production-Variant"), Latency: latency}
	if resp.StatusCode != http.StatusOK {
		// A model's own error comes back as ModelError with the model's status.
		var e struct {
			Type               string `json:"__type"`
			Message            string `json:"message"`
			OriginalStatusCode int
			OriginalMessage    string
		}
		if json.Unmarshal(body, &e) == nil {
			if e.OriginalStatusCode != 0 {
				res.Status, res.Body = e.OriginalStatusCode, []byte(e.OriginalMessage)
			} else if strings.Contains(strings.ToLower(e.Message), "could not find endpoint") {
				return res, &pipeline.DeliveryError{Message: fmt.Sprintf("Endpoint %s does not exist in environment %s; deploy it first.", endpoint, t.env.Name)}
			}
		}
	}
	return res, nil
}
