package sagemaker

import (
	"encoding/json"
	"fmt"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/registry"
)

// Shape checks of the documents a model package carries. The documents are stored as sent; these
// types only read the members SageMaker constrains, so unknown members pass through untouched.

type containerDoc struct {
	ContainerHostname string            `json:"ContainerHostname"`
	Image             *string           `json:"Image"`
	ImageDigest       string            `json:"ImageDigest"`
	ModelDataUrl      string            `json:"ModelDataUrl"`
	ProductId         string            `json:"ProductId"`
	Environment       map[string]string `json:"Environment"`
	FrameworkVersion  string            `json:"FrameworkVersion"`
}

type inferenceSpecDoc struct {
	Containers                              []containerDoc `json:"Containers"`
	SupportedTransformInstanceTypes         []string       `json:"SupportedTransformInstanceTypes"`
	SupportedRealtimeInferenceInstanceTypes []string       `json:"SupportedRealtimeInferenceInstanceTypes"`
	SupportedContentTypes                   []string       `json:"SupportedContentTypes"`
	SupportedResponseMIMETypes              []string       `json:"SupportedResponseMIMETypes"`
}

type additionalSpecDoc struct {
	Name        *string `json:"Name"`
	Description string  `json:"Description"`
	inferenceSpecDoc
}

type metricsSourceDoc struct {
	ContentType   *string `json:"ContentType"`
	ContentDigest string  `json:"ContentDigest"`
	S3Uri         *string `json:"S3Uri"`
}

type fileSourceDoc struct {
	ContentType   string  `json:"ContentType"`
	ContentDigest string  `json:"ContentDigest"`
	S3Uri         *string `json:"S3Uri"`
}

type modelMetricsDoc struct {
	ModelQuality *struct {
		Statistics, Constraints *metricsSourceDoc
	} `json:"ModelQuality"`
	ModelDataQuality *struct {
		Statistics, Constraints *metricsSourceDoc
	} `json:"ModelDataQuality"`
	Bias *struct {
		Report, PreTrainingReport, PostTrainingReport *metricsSourceDoc
	} `json:"Bias"`
	Explainability *struct {
		Report *metricsSourceDoc
	} `json:"Explainability"`
}

type driftCheckDoc struct {
	Bias *struct {
		ConfigFile                                      *fileSourceDoc
		PreTrainingConstraints, PostTrainingConstraints *metricsSourceDoc
	} `json:"Bias"`
	Explainability *struct {
		Constraints *metricsSourceDoc
		ConfigFile  *fileSourceDoc
	} `json:"Explainability"`
	ModelQuality *struct {
		Statistics, Constraints *metricsSourceDoc
	} `json:"ModelQuality"`
	ModelDataQuality *struct {
		Statistics, Constraints *metricsSourceDoc
	} `json:"ModelDataQuality"`
}

type metadataPropertiesDoc struct {
	CommitId, Repository, GeneratedBy, ProjectId string
}

type sourceAlgorithmDoc struct {
	SourceAlgorithms []struct {
		ModelDataUrl  string  `json:"ModelDataUrl"`
		AlgorithmName *string `json:"AlgorithmName"`
	} `json:"SourceAlgorithms"`
}

type validationSpecDoc struct {
	ValidationRole     *string           `json:"ValidationRole"`
	ValidationProfiles []json.RawMessage `json:"ValidationProfiles"`
}

type modelCardDoc struct {
	ModelCardContent string `json:"ModelCardContent"`
	ModelCardStatus  string `json:"ModelCardStatus"`
}

type lifeCycleDoc struct {
	Stage            *string `json:"Stage"`
	StageStatus      *string `json:"StageStatus"`
	StageDescription string  `json:"StageDescription"`
}

type securityConfigDoc struct {
	KmsKeyId *string `json:"KmsKeyId"`
}

// decodeDoc reads a document for checking; a document of the wrong JSON type is a violation.
func decodeDoc(v *awsapi.Validator, member string, raw json.RawMessage, dst any, want string) bool {
	if err := json.Unmarshal(raw, dst); err != nil {
		v.Check(false, member, string(raw), "Member must be "+want+" ("+jsonProblem(err)+")")
		return false
	}
	return true
}

func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		if te.Field != "" {
			return fmt.Sprintf("%s is a JSON %s where a %s was expected", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("got a JSON %s", te.Value)
	}
	return err.Error()
}

func validateSpec(v *awsapi.Validator, s registry.Spec) {
	if s.InferenceSpecification != nil {
		var doc inferenceSpecDoc
		if decodeDoc(v, "inferenceSpecification", s.InferenceSpecification, &doc, "an InferenceSpecification structure") {
			validateInferenceSpec(v, "inferenceSpecification", doc)
		}
	}
	if s.AdditionalInferenceSpecifications != nil {
		validateAdditionalSpecs(v, "additionalInferenceSpecifications", s.AdditionalInferenceSpecifications)
	}
	if s.ModelMetrics != nil {
		var m modelMetricsDoc
		if decodeDoc(v, "modelMetrics", s.ModelMetrics, &m, "a ModelMetrics structure") {
			if q := m.ModelQuality; q != nil {
				validateMetricsSource(v, "modelMetrics.modelQuality.statistics", q.Statistics)
				validateMetricsSource(v, "modelMetrics.modelQuality.constraints", q.Constraints)
			}
			if q := m.ModelDataQuality; q != nil {
				validateMetricsSource(v, "modelMetrics.modelDataQuality.statistics", q.Statistics)
				validateMetricsSource(v, "modelMetrics.modelDataQuality.constraints", q.Constraints)
			}
			if b := m.Bias; b != nil {
				validateMetricsSource(v, "modelMetrics.bias.report", b.Report)
				validateMetricsSource(v, "modelMetrics.bias.preTrainingReport", b.PreTrainingReport)
				validateMetricsSource(v, "modelMetrics.bias.postTrainingReport", b.PostTrainingReport)
			}
			if e := m.Explainability; e != nil {
				validateMetricsSource(v, "modelMetrics.explainability.report", e.Report)
			}
		}
	}
	if s.DriftCheckBaselines != nil {
		var d driftCheckDoc
		if decodeDoc(v, "driftCheckBaselines", s.DriftCheckBaselines, &d, "a DriftCheckBaselines structure") {
			if b := d.Bias; b != nil {
				validateFileSource(v, "driftCheckBaselines.bias.configFile", b.ConfigFile)
				validateMetricsSource(v, "driftCheckBaselines.bias.preTrainingConstraints", b.PreTrainingConstraints)
				validateMetricsSource(v, "driftCheckBaselines.bias.postTrainingConstraints", b.PostTrainingConstraints)
			}
			if e := d.Explainability; e != nil {
				validateMetricsSource(v, "driftCheckBaselines.explainability.constraints", e.Constraints)
				validateFileSource(v, "driftCheckBaselines.explainability.configFile", e.ConfigFile)
			}
			if q := d.ModelQuality; q != nil {
				validateMetricsSource(v, "driftCheckBaselines.modelQuality.statistics", q.Statistics)
				validateMetricsSource(v, "driftCheckBaselines.modelQuality.constraints", q.Constraints)
			}
			if q := d.ModelDataQuality; q != nil {
				validateMetricsSource(v, "driftCheckBaselines.modelDataQuality.statistics", q.Statistics)
				validateMetricsSource(v, "driftCheckBaselines.modelDataQuality.constraints", q.Constraints)
			}
		}
	}
	if s.MetadataProperties != nil {
		var m metadataPropertiesDoc
		if decodeDoc(v, "metadataProperties", s.MetadataProperties, &m, "a MetadataProperties structure") {
			v.Length("metadataProperties.commitId", m.CommitId, 0, 1024)
			v.Length("metadataProperties.repository", m.Repository, 0, 1024)
			v.Length("metadataProperties.generatedBy", m.GeneratedBy, 0, 1024)
			v.Length("metadataProperties.projectId", m.ProjectId, 0, 1024)
		}
	}
	if s.SourceAlgorithmSpecification != nil {
		var d sourceAlgorithmDoc
		if decodeDoc(v, "sourceAlgorithmSpecification", s.SourceAlgorithmSpecification, &d, "a SourceAlgorithmSpecification structure") {
			v.Required("SourceAlgorithmSpecification.sourceAlgorithms", d.SourceAlgorithms != nil)
			if d.SourceAlgorithms != nil {
				v.Check(len(d.SourceAlgorithms) == 1, "sourceAlgorithmSpecification.sourceAlgorithms", len(d.SourceAlgorithms), "Member must have length between 1 and 1")
			}
			for i, alg := range d.SourceAlgorithms {
				p := "sourceAlgorithmSpecification.sourceAlgorithms." + itoa(i+1) + ".member"
				v.Required(p+".algorithmName", alg.AlgorithmName != nil)
				if alg.AlgorithmName != nil {
					checkArnOrName(v, p+".algorithmName", *alg.AlgorithmName, 170, false)
				}
				checkOptional(v, p+".modelDataUrl", alg.ModelDataUrl, 1024, urlRE)
			}
		}
	}
	if s.ValidationSpecification != nil {
		var d validationSpecDoc
		if decodeDoc(v, "validationSpecification", s.ValidationSpecification, &d, "a ModelPackageValidationSpecification structure") {
			v.Required("validationSpecification.validationRole", d.ValidationRole != nil)
			v.Required("validationSpecification.validationProfiles", d.ValidationProfiles != nil)
			if d.ValidationProfiles != nil {
				v.Check(len(d.ValidationProfiles) == 1, "validationSpecification.validationProfiles", len(d.ValidationProfiles), "Member must have length between 1 and 1")
			}
		}
	}
	if s.ModelCard != nil {
		var d modelCardDoc
		if decodeDoc(v, "modelCard", s.ModelCard, &d, "a ModelPackageModelCard structure") {
			v.Length("modelCard.modelCardContent", d.ModelCardContent, 0, 100000)
			if d.ModelCardStatus != "" {
				v.Enum("modelCard.modelCardStatus", d.ModelCardStatus, "Draft", "PendingReview", "Approved", "Archived")
			}
		}
	}
	if s.ModelLifeCycle != nil {
		var d lifeCycleDoc
		if decodeDoc(v, "modelLifeCycle", s.ModelLifeCycle, &d, "a ModelLifeCycle structure") {
			v.Required("modelLifeCycle.stage", d.Stage != nil)
			v.Required("modelLifeCycle.stageStatus", d.StageStatus != nil)
			if d.Stage != nil {
				v.Length("modelLifeCycle.stage", *d.Stage, 1, 63)
				v.Pattern("modelLifeCycle.stage", *d.Stage, entityNameRE)
			}
			if d.StageStatus != nil {
				v.Length("modelLifeCycle.stageStatus", *d.StageStatus, 1, 63)
				v.Pattern("modelLifeCycle.stageStatus", *d.StageStatus, entityNameRE)
			}
			v.Length("modelLifeCycle.stageDescription", d.StageDescription, 0, 1024)
		}
	}
	if s.SecurityConfig != nil {
		var d securityConfigDoc
		if decodeDoc(v, "securityConfig", s.SecurityConfig, &d, "a ModelPackageSecurityConfig structure") {
			v.Required("securityConfig.kmsKeyId", d.KmsKeyId != nil)
			if d.KmsKeyId != nil {
				v.Length("securityConfig.kmsKeyId", *d.KmsKeyId, 0, 2048)
			}
		}
	}
}

func validateInferenceSpec(v *awsapi.Validator, member string, doc inferenceSpecDoc) {
	v.Required(member+".containers", doc.Containers != nil)
	if doc.Containers != nil {
		v.Check(len(doc.Containers) >= 1 && len(doc.Containers) <= 15, member+".containers", len(doc.Containers), "Member must have length between 1 and 15")
	}
	for i, c := range doc.Containers {
		p := member + ".containers." + itoa(i+1) + ".member"
		v.Required(p+".image", c.Image != nil)
		if c.Image != nil {
			v.Length(p+".image", *c.Image, 1, 255)
			v.Pattern(p+".image", *c.Image, imageRE)
		}
		checkOptional(v, p+".containerHostname", c.ContainerHostname, 63, hostnameRE)
		checkOptional(v, p+".imageDigest", c.ImageDigest, 72, digestRE)
		checkOptional(v, p+".modelDataUrl", c.ModelDataUrl, 1024, urlRE)
		checkOptional(v, p+".productId", c.ProductId, 256, nil)
		v.Check(len(c.Environment) <= 16, p+".environment", len(c.Environment), "Member must have length less than or equal to 16")
		for k, val := range c.Environment {
			v.Length(p+".environment.key", k, 1, 1024)
			v.Pattern(p+".environment.key", k, envKeyRE)
			v.Length(p+".environment."+k+".value", val, 0, 1024)
		}
		if c.FrameworkVersion != "" {
			v.Length(p+".frameworkVersion", c.FrameworkVersion, 3, 10)
			v.Pattern(p+".frameworkVersion", c.FrameworkVersion, frameworkVerRE)
		}
	}
	for i, t := range doc.SupportedTransformInstanceTypes {
		v.Pattern(member+".supportedTransformInstanceTypes."+itoa(i+1)+".member", t, instanceTypeRE)
	}
	for i, t := range doc.SupportedRealtimeInferenceInstanceTypes {
		v.Pattern(member+".supportedRealtimeInferenceInstanceTypes."+itoa(i+1)+".member", t, instanceTypeRE)
	}
	for i, t := range doc.SupportedContentTypes {
		v.Length(member+".supportedContentTypes."+itoa(i+1)+".member", t, 0, 256)
	}
	for i, t := range doc.SupportedResponseMIMETypes {
		p := member + ".supportedResponseMIMETypes." + itoa(i+1) + ".member"
		v.Length(p, t, 0, 1024)
		v.Pattern(p, t, mimeRE)
	}
}

func validateAdditionalSpecs(v *awsapi.Validator, member string, raw json.RawMessage) {
	var specs []additionalSpecDoc
	if !decodeDoc(v, member, raw, &specs, "a list of AdditionalInferenceSpecificationDefinition") {
		return
	}
	v.Check(len(specs) >= 1 && len(specs) <= registry.MaxAdditionalInferenceSpecification, member, len(specs), "Member must have length between 1 and 15")
	for i, s := range specs {
		p := member + "." + itoa(i+1) + ".member"
		v.Required(p+".name", s.Name != nil)
		if s.Name != nil {
			v.Length(p+".name", *s.Name, 1, 63)
			v.Pattern(p+".name", *s.Name, entityNameRE)
		}
		checkOptional(v, p+".description", s.Description, 1024, descriptionRE)
		validateInferenceSpec(v, p, s.inferenceSpecDoc)
	}
}

func validateMetricsSource(v *awsapi.Validator, member string, m *metricsSourceDoc) {
	if m == nil {
		return
	}
	v.Required(member+".contentType", m.ContentType != nil)
	v.Required(member+".s3Uri", m.S3Uri != nil)
	if m.ContentType != nil {
		v.Length(member+".contentType", *m.ContentType, 0, 256)
	}
	if m.S3Uri != nil {
		v.Length(member+".s3Uri", *m.S3Uri, 0, 1024)
		v.Pattern(member+".s3Uri", *m.S3Uri, urlRE)
	}
	checkOptional(v, member+".contentDigest", m.ContentDigest, 72, digestRE)
}

func validateFileSource(v *awsapi.Validator, member string, f *fileSourceDoc) {
	if f == nil {
		return
	}
	v.Required(member+".s3Uri", f.S3Uri != nil)
	if f.S3Uri != nil {
		v.Length(member+".s3Uri", *f.S3Uri, 0, 1024)
		v.Pattern(member+".s3Uri", *f.S3Uri, urlRE)
	}
	checkOptional(v, member+".contentType", f.ContentType, 256, nil)
	checkOptional(v, member+".contentDigest", f.ContentDigest, 72, digestRE)
}
