package jobs

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
)

// The runner checks what the wire shape cannot say: that paths are where SageMaker puts them,
// that URIs name the artifact store, that the image runs here, and that the features asked for
// exist. The API layer checks the shape itself (required members, lengths, enums).

// problems collects every reason a request is refused.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return invalid("%s", p[0])
	}
	return invalid("%d problems: %s", len(p), strings.Join(p, "; "))
}

// checkURI checks an S3 URI the job reads or writes.
func (p *problems) checkURI(member, uri string) {
	if strings.HasPrefix(uri, "https://") {
		p.add("%s %q: only s3:// URIs are supported here", member, uri)
		return
	}
	if _, err := blob.ParseURI(uri); err != nil {
		p.add("%s %q: %v", member, uri, err)
	}
}

// checkLocalPath checks that a job path lies below root (a folder of /opt/ml).
func (p *problems) checkLocalPath(member, local, root string) {
	switch {
	case local == "":
		p.add("%s is required", member)
	case !path.IsAbs(local) || !underDir(local, root) || path.Clean(local) == root:
		p.add("%s %q must be a folder below %s/", member, local, root)
	}
}

func (r *Runner) checkIsolation(ctx context.Context, p *problems, member string) {
	if iso := r.cfg.Process.Isolation(ctx); !iso.Network {
		p.add("%s: network isolation is not available on this server (%s); run the job without it or on a host that allows network namespaces", member, iso.Reason)
	}
}

func (r *Runner) checkImage(p *problems, member string, req runtime.Request) {
	if req.Image == "" {
		p.add("%s is required", member)
		return
	}
	if _, err := r.cfg.Catalog.Resolve(req); err != nil {
		p.add("%s: %v", member, strings.TrimPrefix(err.Error(), "runtime: "))
	}
}

func (r *Runner) validateProcessing(ctx context.Context, spec *ProcessingJobSpec) error {
	var p problems
	if spec.ProcessingJobName == "" {
		p.add("ProcessingJobName is required")
	}
	if cc := clusterConfig(spec); cc != nil && cc.InstanceCount > 1 {
		p.add("ProcessingResources.ClusterConfig.InstanceCount %d: this server runs a job on one host; set it to 1", cc.InstanceCount)
	}
	if spec.StoppingCondition != nil && spec.StoppingCondition.MaxRuntimeInSeconds < 0 {
		p.add("StoppingCondition.MaxRuntimeInSeconds must be positive")
	}
	names := map[string]bool{}
	paths := map[string]string{}
	usePath := func(member, local, owner string) {
		c := path.Clean(local)
		if other, dup := paths[c]; dup {
			p.add("%s %q is also the LocalPath of %s; each input and output needs a folder of its own", member, local, other)
		}
		paths[c] = owner
	}
	for i, in := range spec.ProcessingInputs {
		m := fmt.Sprintf("ProcessingInputs.%d", i+1)
		if names[in.InputName] {
			p.add("%s.InputName %q is used twice", m, in.InputName)
		}
		names[in.InputName] = true
		s3 := in.S3Input
		if s3 == nil {
			if len(in.DatasetDefinition) > 0 {
				p.add("%s (%q): DatasetDefinition inputs (Athena, Redshift) are not supported; stage the data in S3 and use S3Input", m, in.InputName)
			} else {
				p.add("%s (%q): S3Input is required", m, in.InputName)
			}
			continue
		}
		p.checkURI(m+".S3Input.S3Uri", s3.S3Uri)
		p.checkLocalPath(m+".S3Input.LocalPath", s3.LocalPath, runtime.ProcessingDir)
		if s3.LocalPath != "" {
			usePath(m+".S3Input.LocalPath", s3.LocalPath, fmt.Sprintf("input %q", in.InputName))
		}
		switch s3.S3DataType {
		case "S3Prefix", "ManifestFile":
		default:
			p.add("%s.S3Input.S3DataType %q: expected S3Prefix or ManifestFile", m, s3.S3DataType)
		}
		if s3.S3InputMode == "Pipe" {
			p.add("%s.S3Input.S3InputMode Pipe is not supported; use File", m)
		}
		if s3.S3CompressionType == "Gzip" {
			p.add("%s.S3Input.S3CompressionType Gzip needs Pipe mode, which is not supported; use None", m)
		}
	}
	if oc := spec.ProcessingOutputConfig; oc != nil {
		names := map[string]bool{}
		for i, o := range oc.Outputs {
			m := fmt.Sprintf("ProcessingOutputConfig.Outputs.%d", i+1)
			if names[o.OutputName] {
				p.add("%s.OutputName %q is used twice", m, o.OutputName)
			}
			names[o.OutputName] = true
			if o.S3Output == nil {
				if len(o.FeatureStoreOutput) > 0 {
					p.add("%s (%q): FeatureStoreOutput is not supported; use S3Output", m, o.OutputName)
				} else {
					p.add("%s (%q): S3Output is required", m, o.OutputName)
				}
				continue
			}
			p.checkURI(m+".S3Output.S3Uri", o.S3Output.S3Uri)
			p.checkLocalPath(m+".S3Output.LocalPath", o.S3Output.LocalPath, runtime.ProcessingDir)
			if o.S3Output.LocalPath != "" {
				usePath(m+".S3Output.LocalPath", o.S3Output.LocalPath, fmt.Sprintf("output %q", o.OutputName))
			}
		}
	}
	if app := spec.AppSpecification; app == nil {
		p.add("AppSpecification is required")
	} else {
		r.checkImage(&p, "AppSpecification.ImageUri", runtime.Request{Image: app.ImageUri, Mode: runtime.ModeProcess, Entrypoint: app.ContainerEntrypoint, Arguments: app.ContainerArguments})
	}
	if nc := spec.NetworkConfig; nc != nil && nc.EnableNetworkIsolation != nil && *nc.EnableNetworkIsolation {
		r.checkIsolation(ctx, &p, "NetworkConfig.EnableNetworkIsolation")
	}
	return p.err()
}

func clusterConfig(spec *ProcessingJobSpec) *ProcessingClusterConfig {
	if spec.ProcessingResources == nil {
		return nil
	}
	return spec.ProcessingResources.ClusterConfig
}

func (r *Runner) validateTraining(ctx context.Context, spec *TrainingJobSpec) error {
	var p problems
	if spec.TrainingJobName == "" {
		p.add("TrainingJobName is required")
	}
	alg := spec.AlgorithmSpecification
	if alg == nil {
		p.add("AlgorithmSpecification is required")
		return p.err()
	}
	if alg.AlgorithmName != "" && alg.TrainingImage == "" {
		p.add("AlgorithmSpecification.AlgorithmName %q: algorithm resources are not supported; give AlgorithmSpecification.TrainingImage", alg.AlgorithmName)
	}
	switch alg.TrainingInputMode {
	case "File", "FastFile":
	case "Pipe":
		p.add("AlgorithmSpecification.TrainingInputMode Pipe is not supported; use File (or FastFile, which is served as File)")
	default:
		p.add("AlgorithmSpecification.TrainingInputMode %q: expected File or FastFile", alg.TrainingInputMode)
	}
	if _, err := compileMetrics(alg.MetricDefinitions); err != nil {
		p.add("%v", err)
	}
	if rc := spec.ResourceConfig; rc != nil {
		if rc.InstanceCount != nil && *rc.InstanceCount > 1 {
			p.add("ResourceConfig.InstanceCount %d: this server runs a job on one host; set it to 1", *rc.InstanceCount)
		}
		if len(rc.InstanceGroups) > 0 && string(rc.InstanceGroups) != "[]" && string(rc.InstanceGroups) != "null" {
			p.add("ResourceConfig.InstanceGroups (heterogeneous clusters) are not supported; give InstanceType and InstanceCount 1")
		}
	}
	if spec.OutputDataConfig == nil {
		p.add("OutputDataConfig is required")
	} else {
		p.checkURI("OutputDataConfig.S3OutputPath", spec.OutputDataConfig.S3OutputPath)
	}
	channels := map[string]bool{}
	for i, c := range spec.InputDataConfig {
		m := fmt.Sprintf("InputDataConfig.%d", i+1)
		if channels[c.ChannelName] {
			p.add("%s.ChannelName %q is used twice", m, c.ChannelName)
		}
		channels[c.ChannelName] = true
		if c.ChannelName == "" || strings.ContainsAny(c.ChannelName, "/\\") || c.ChannelName == "." || c.ChannelName == ".." {
			p.add("%s.ChannelName %q must be a plain name", m, c.ChannelName)
		}
		if c.DataSource == nil || c.DataSource.S3DataSource == nil {
			p.add("%s (%q): only S3DataSource channels are supported", m, c.ChannelName)
			continue
		}
		ds := c.DataSource.S3DataSource
		p.checkURI(m+".DataSource.S3DataSource.S3Uri", ds.S3Uri)
		switch ds.S3DataType {
		case "S3Prefix", "ManifestFile":
		default:
			p.add("%s.DataSource.S3DataSource.S3DataType %q: expected S3Prefix or ManifestFile", m, ds.S3DataType)
		}
		if c.InputMode == "Pipe" {
			p.add("%s.InputMode Pipe is not supported; use File", m)
		}
		if c.CompressionType == "Gzip" {
			p.add("%s.CompressionType Gzip needs Pipe mode, which is not supported; use None", m)
		}
	}
	if cp := spec.CheckpointConfig; cp != nil {
		p.checkURI("CheckpointConfig.S3Uri", cp.S3Uri)
		if cp.LocalPath != "" {
			p.checkLocalPath("CheckpointConfig.LocalPath", cp.LocalPath, runtime.OptML)
		}
	}
	if raw, ok := spec.HyperParameters["sagemaker_submit_directory"]; ok {
		p.checkURI("HyperParameters.sagemaker_submit_directory", hyperParameterString(raw))
	}
	if alg.TrainingImage != "" || alg.AlgorithmName == "" {
		r.checkImage(&p, "AlgorithmSpecification.TrainingImage", runtime.Request{
			Image: alg.TrainingImage, Mode: runtime.ModeTrain,
			Entrypoint: alg.ContainerEntrypoint, Arguments: alg.ContainerArguments, HyperParameters: spec.HyperParameters,
		})
	}
	if spec.EnableNetworkIsolation != nil && *spec.EnableNetworkIsolation {
		r.checkIsolation(ctx, &p, "EnableNetworkIsolation")
	}
	return p.err()
}
