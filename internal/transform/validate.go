package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
)

// The service checks what the wire shape cannot say: that the model exists, that URIs name the
// artifact store, that the options fit together and that the filters parse. The API layer
// checks the shape itself (required members, lengths, enums).

// format is how records and answers are written.
type format int

const (
	formatOther format = iota
	formatCSV
	formatJSON      // application/json: one document per record
	formatJSONLines // application/jsonlines
)

// formatOf reads a content type (parameters allowed).
func formatOf(ct string) format {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "text/csv":
		return formatCSV
	case "application/json":
		return formatJSON
	case "application/jsonlines", "application/json-lines", "application/x-jsonlines":
		return formatJSONLines
	}
	return formatOther
}

func (f format) json() bool { return f == formatJSON || f == formatJSONLines }

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return &jobs.InvalidError{Msg: p[0]}
	}
	return &jobs.InvalidError{Msg: fmt.Sprintf("%d problems: %s", len(p), strings.Join(p, "; "))}
}

func checkURI(p *problems, member, uri string) {
	if strings.HasPrefix(uri, "https://") {
		p.add("%s %q: only s3:// URIs are supported here", member, uri)
		return
	}
	if _, err := blob.ParseURI(uri); err != nil {
		p.add("%s %q: %v", member, uri, err)
	}
}

// validate checks a request before it is queued.
func (s *Service) validate(ctx context.Context, spec *Spec) error {
	var p problems
	if spec.TransformJobName == "" {
		p.add("TransformJobName is required")
	}
	if spec.ModelName == "" {
		p.add("ModelName is required")
	} else if _, err := s.cfg.Models.DescribeModel(ctx, spec.ModelName); err != nil {
		var he *hosting.Error
		if !errors.As(err, &he) {
			return fmt.Errorf("transform: looking up model %s: %w", spec.ModelName, err)
		}
		p.add("%s", he.Message)
	}
	checkSpec(&p, spec)
	return p.err()
}

// checkSpec checks the parts of a request that need nothing but the request.
func checkSpec(p *problems, spec *Spec) {
	in := spec.TransformInput
	switch {
	case in == nil:
		p.add("TransformInput is required")
	case in.DataSource == nil || in.DataSource.S3DataSource == nil:
		p.add("TransformInput.DataSource.S3DataSource is required")
	default:
		ds := in.DataSource.S3DataSource
		switch ds.S3DataType {
		case "", DataS3Prefix, DataManifestFile:
		case DataAugmentedManifestFile:
			p.add("TransformInput.DataSource.S3DataSource.S3DataType AugmentedManifestFile is not supported here; use S3Prefix or ManifestFile")
		default:
			p.add("TransformInput.DataSource.S3DataSource.S3DataType %q: expected S3Prefix or ManifestFile", ds.S3DataType)
		}
		checkURI(p, "TransformInput.DataSource.S3DataSource.S3Uri", ds.S3Uri)
	}
	split := SplitNone
	var inFmt format
	if in != nil {
		inFmt = formatOf(in.ContentType)
		switch in.SplitType {
		case "", SplitNone:
		case SplitLine:
			split = SplitLine
		case SplitRecordIO, SplitTFRecord:
			p.add("TransformInput.SplitType %s is not supported here yet; use Line (one record per line) or None (each object is one record)", in.SplitType)
		default:
			p.add("TransformInput.SplitType %q: expected None or Line", in.SplitType)
		}
		switch in.CompressionType {
		case "", CompressionNone, CompressionGzip:
		default:
			p.add("TransformInput.CompressionType %q: expected None or Gzip", in.CompressionType)
		}
	}
	switch spec.BatchStrategy {
	case "", StrategyMultiRecord:
	case StrategySingleRecord:
		if split == SplitNone {
			p.add("BatchStrategy SingleRecord needs TransformInput.SplitType Line: with SplitType None each object is sent whole")
		}
	default:
		p.add("BatchStrategy %q: expected MultiRecord or SingleRecord", spec.BatchStrategy)
	}
	if mp := spec.MaxPayloadInMB; mp != nil {
		switch {
		case *mp == 0:
			p.add("MaxPayloadInMB 0 (HTTP chunked streaming of arbitrarily large payloads) is not supported here; set a size from 1 to %d MB", MaxPayloadLimitInMB)
		case *mp < 0 || *mp > MaxPayloadLimitInMB:
			p.add("MaxPayloadInMB %d: expected 1 to %d", *mp, MaxPayloadLimitInMB)
		}
	}
	if mc := spec.MaxConcurrentTransforms; mc != nil {
		payload := int32(DefaultMaxPayloadInMB)
		if spec.MaxPayloadInMB != nil {
			payload = *spec.MaxPayloadInMB
		}
		switch {
		case *mc < 0:
			p.add("MaxConcurrentTransforms %d cannot be negative", *mc)
		case *mc > 0 && int64(*mc)*int64(payload) > MaxPayloadLimitInMB:
			p.add("MaxConcurrentTransforms × MaxPayloadInMB is %d × %d = %d MB; it must not exceed %d MB", *mc, payload, int64(*mc)*int64(payload), MaxPayloadLimitInMB)
		}
	}
	if mc := spec.ModelClientConfig; mc != nil {
		if t := mc.InvocationsTimeoutInSeconds; t != nil && (*t < 1 || *t > 3600) {
			p.add("ModelClientConfig.InvocationsTimeoutInSeconds %d: expected 1 to 3600", *t)
		}
		if r := mc.InvocationsMaxRetries; r != nil && (*r < 0 || *r > 3) {
			p.add("ModelClientConfig.InvocationsMaxRetries %d: expected 0 to 3", *r)
		}
	}
	out := spec.TransformOutput
	if out == nil {
		p.add("TransformOutput is required")
	} else {
		checkURI(p, "TransformOutput.S3OutputPath", out.S3OutputPath)
		switch out.AssembleWith {
		case "", AssembleNone, AssembleLine:
		default:
			p.add("TransformOutput.AssembleWith %q: expected None or Line", out.AssembleWith)
		}
	}
	if r := spec.TransformResources; r == nil {
		p.add("TransformResources is required")
	} else if r.InstanceCount < 1 {
		p.add("TransformResources.InstanceCount %d: at least one instance is needed", r.InstanceCount)
	}
	if len(spec.DataCaptureConfig) > 0 && string(spec.DataCaptureConfig) != "null" {
		p.add("DataCaptureConfig is not supported for transform jobs here yet; leave it out")
	}
	if dp := spec.DataProcessing; dp != nil {
		checkDataProcessing(p, dp, inFmt, spec)
	}
}

func checkDataProcessing(p *problems, dp *DataProcessing, inFmt format, spec *Spec) {
	join := false
	switch dp.JoinSource {
	case "", JoinNone:
	case JoinInput:
		join = true
	default:
		p.add("DataProcessing.JoinSource %q: expected Input or None", dp.JoinSource)
	}
	inPath, err := ParsePath(dp.InputFilter)
	if err != nil {
		p.add("DataProcessing.InputFilter: %v", err)
	}
	outPath, err := ParsePath(dp.OutputFilter)
	if err != nil {
		p.add("DataProcessing.OutputFilter: %v", err)
	}
	ct := ""
	if spec.TransformInput != nil {
		ct = spec.TransformInput.ContentType
	}
	needs := (inPath != nil && !inPath.Whole()) || join
	if needs && inFmt != formatCSV && !inFmt.json() {
		p.add("DataProcessing (InputFilter, JoinSource Input) works on CSV and JSON records: set TransformInput.ContentType to text/csv, application/json or application/jsonlines (it is %q)", ct)
		return
	}
	if inPath != nil && inFmt == formatCSV {
		if err := inPath.ForCSV(); err != nil {
			p.add("DataProcessing.InputFilter: %v", err)
		}
	}
	if outPath == nil || outPath.Whole() {
		return
	}
	accept := ""
	if spec.TransformOutput != nil {
		accept = spec.TransformOutput.Accept
	}
	// The output filter applies to the joined record, which has the input's format, or to the
	// model's answer, which has Accept's.
	target := inFmt
	if !join {
		target = formatOf(accept)
	}
	if target == formatCSV {
		if err := outPath.ForCSV(); err != nil {
			p.add("DataProcessing.OutputFilter: %v", err)
		}
	} else if !target.json() && (join || accept != "") {
		p.add("DataProcessing.OutputFilter works on CSV and JSON records: set TransformOutput.Accept to text/csv, application/json or application/jsonlines (it is %q)", accept)
	}
}
