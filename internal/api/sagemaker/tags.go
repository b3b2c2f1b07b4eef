package sagemaker

import (
	"context"
	"regexp"
	"strconv"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/store"
)

// Tag is SageMaker's key/value label.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

const maxTagsPerResource = 50

var (
	tagKeyRE   = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	tagValueRE = tagKeyRE
	arnRE      = regexp.MustCompile(`^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:.+$`)
)

// validateTags checks tags as SageMaker does (member path prefix e.g. "tags").
func validateTags(v *awsapi.Validator, member string, tags []Tag) {
	v.Check(len(tags) <= maxTagsPerResource, member, len(tags), "Member must have length less than or equal to 50")
	for i, t := range tags {
		p := member + "." + itoa(i+1) + ".member"
		v.Length(p+".key", t.Key, 1, 128)
		v.Pattern(p+".key", t.Key, tagKeyRE)
		v.Length(p+".value", t.Value, 0, 256)
		v.Pattern(p+".value", t.Value, tagValueRE)
	}
}

func storeTags(tags []Tag) []store.Tag {
	out := make([]store.Tag, len(tags))
	for i, t := range tags {
		out[i] = store.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

type addTagsRequest struct {
	ResourceArn string `json:"ResourceArn"`
	Tags        []Tag  `json:"Tags"`
}

type addTagsResponse struct {
	Tags []Tag `json:"Tags"`
}

type listTagsRequest struct {
	ResourceArn string `json:"ResourceArn"`
	MaxResults  *int32 `json:"MaxResults"`
	NextToken   string `json:"NextToken"`
}

type listTagsResponse struct {
	Tags      []Tag  `json:"Tags"`
	NextToken string `json:"NextToken,omitempty"`
}

type deleteTagsRequest struct {
	ResourceArn string   `json:"ResourceArn"`
	TagKeys     []string `json:"TagKeys"`
}

func (a *API) registerTags(mux *awsapi.Mux) {
	mux.Handle("AddTags", awsapi.Op(a.addTags))
	mux.Handle("ListTags", awsapi.Op(a.listTags))
	mux.Handle("DeleteTags", awsapi.Op(a.deleteTags))
}

// requireResource checks that the ARN names an existing resource of this account and region.
func (a *API) requireResource(ctx context.Context, arn string) error {
	p, ok := awsapi.ParseARN(arn)
	if !ok || p.Service != "sagemaker" {
		return awsapi.FieldError("resourceArn", arn, "Member must satisfy regular expression pattern: %s", arnRE.String())
	}
	exists, err := a.Store.ResourceExists(ctx, p.Kind(), arn)
	if err != nil {
		return err
	}
	if !exists {
		return awsapi.Validation("Resource %s does not exist; check the ARN (tags are kept on existing SageMaker resources only).", arn)
	}
	return nil
}

func (a *API) addTags(ctx context.Context, req *addTagsRequest) (*addTagsResponse, error) {
	var v awsapi.Validator
	v.Required("ResourceArn", req.ResourceArn != "")
	v.Required("Tags", req.Tags != nil)
	validateTags(&v, "tags", req.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := a.requireResource(ctx, req.ResourceArn); err != nil {
		return nil, err
	}
	err := a.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.PutTags(ctx, req.ResourceArn, storeTags(req.Tags)); err != nil {
			return err
		}
		n, err := tx.CountTags(ctx, req.ResourceArn)
		if err != nil {
			return err
		}
		if n > maxTagsPerResource {
			return awsapi.LimitExceeded("Resource %s would have %d tags; at most %d are allowed.", req.ResourceArn, n, maxTagsPerResource)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &addTagsResponse{Tags: req.Tags}, nil
}

func (a *API) listTags(ctx context.Context, req *listTagsRequest) (*listTagsResponse, error) {
	var v awsapi.Validator
	v.Required("ResourceArn", req.ResourceArn != "")
	if err := v.Err(); err != nil {
		return nil, err
	}
	limit, err := awsapi.MaxResults(req.MaxResults, 50, 100)
	if err != nil {
		return nil, err
	}
	tok, err := awsapi.DecodePageToken(req.NextToken, req.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := a.requireResource(ctx, req.ResourceArn); err != nil {
		return nil, err
	}
	after := ""
	if tok != nil {
		after = tok.Sort
	}
	tags, err := a.Store.Tags(ctx, req.ResourceArn, after, limit+1)
	if err != nil {
		return nil, err
	}
	resp := &listTagsResponse{Tags: []Tag{}}
	for i, t := range tags {
		if i == limit {
			resp.NextToken = awsapi.PageToken{Sort: tags[i-1].Key, Query: req.ResourceArn}.Encode()
			break
		}
		resp.Tags = append(resp.Tags, Tag{Key: t.Key, Value: t.Value})
	}
	return resp, nil
}

func (a *API) deleteTags(ctx context.Context, req *deleteTagsRequest) (*struct{}, error) {
	var v awsapi.Validator
	v.Required("ResourceArn", req.ResourceArn != "")
	v.Required("TagKeys", req.TagKeys != nil)
	v.Check(len(req.TagKeys) <= 50, "tagKeys", len(req.TagKeys), "Member must have length less than or equal to 50")
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := a.requireResource(ctx, req.ResourceArn); err != nil {
		return nil, err
	}
	return &struct{}{}, a.Store.InTx(ctx, func(tx *store.Tx) error {
		return tx.DeleteTags(ctx, req.ResourceArn, req.TagKeys)
	})
}
