package sagemaker_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// call sends one signed JSON 1.1 request and returns the status and body, for inputs the SDK
// would refuse to send.
func call(t *testing.T, srv *servertest.Server, op, body string) (int, map[string]any) {
	t.Helper()
	resp := signed(t, srv, http.MethodPost, "/", body, map[string]string{"X-Amz-Target": "SageMaker." + op, "Content-Type": "application/x-amz-json-1.1"})
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: response is not JSON: %s", op, b)
	}
	return resp.StatusCode, out
}

func signed(t *testing.T, srv *servertest.Server, method, path, body string, headers map[string]string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	creds, _ := srv.AWS().Credentials.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", srv.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

const specJSON = `{"Containers":[{"Image":"683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1","ModelDataUrl":"s3://models/abalone/model.tar.gz","Environment":{"SAGEMAKER_PROGRAM":"inference.py"},"ModelDataSource":{"S3DataSource":{"S3Uri":"s3://models/abalone/","S3DataType":"S3Prefix","CompressionType":"None"}}}],"SupportedContentTypes":["text/csv"],"SupportedResponseMIMETypes":["text/csv"],"SupportedRealtimeInferenceInstanceTypes":["ml.m5.large"]}`

func TestRegistryWithTheGoSDK(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.SageMaker()
	ctx := context.Background()

	g, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{
		ModelPackageGroupName:        aws.String("abalone"),
		ModelPackageGroupDescription: aws.String("Abalone age regression"),
		Tags:                         []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/abalone"; aws.ToString(g.ModelPackageGroupArn) != want {
		t.Fatalf("group ARN %s, want %s", aws.ToString(g.ModelPackageGroupArn), want)
	}
	if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("Abalone")}); apiCode(err) != "ValidationException" {
		t.Fatalf("duplicate group: %v", err)
	}
	for _, name := range []string{"churn", "fraud-detector"} {
		if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	dg, err := c.DescribeModelPackageGroup(ctx, &sm.DescribeModelPackageGroupInput{ModelPackageGroupName: g.ModelPackageGroupArn})
	if err != nil || aws.ToString(dg.ModelPackageGroupName) != "abalone" || dg.ModelPackageGroupStatus != types.ModelPackageGroupStatusCompleted ||
		aws.ToString(dg.CreatedBy.UserProfileName) != "root" || dg.CreationTime == nil || time.Since(*dg.CreationTime) > time.Minute {
		t.Fatalf("DescribeModelPackageGroup = %+v, %v", dg, err)
	}

	// Group lists: name filter, sort and pages of one.
	var names []string
	p := sm.NewListModelPackageGroupsPaginator(c, &sm.ListModelPackageGroupsInput{SortBy: types.ModelPackageGroupSortByName, SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.ModelPackageGroupSummaryList {
			names = append(names, aws.ToString(s.ModelPackageGroupName))
		}
	}
	if fmt.Sprint(names) != "[fraud-detector churn abalone]" {
		t.Fatalf("groups by name descending: %v", names)
	}
	lg, err := c.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{NameContains: aws.String("RAUD")})
	if err != nil || len(lg.ModelPackageGroupSummaryList) != 1 {
		t.Fatalf("NameContains RAUD: %+v, %v", lg, err)
	}

	// Versions, with every document kept as given (including members this server does not know).
	var spec types.InferenceSpecification
	create := func(status types.ModelApprovalStatus) string {
		t.Helper()
		out, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{
			ModelPackageGroupName:   aws.String("abalone"),
			ModelPackageDescription: aws.String("xgboost"),
			ModelApprovalStatus:     status,
			InferenceSpecification: &types.InferenceSpecification{
				Containers: []types.ModelPackageContainerDefinition{{
					Image:        aws.String("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
					ModelDataUrl: aws.String("s3://models/abalone/model.tar.gz"),
				}},
				SupportedContentTypes:      []string{"text/csv"},
				SupportedResponseMIMETypes: []string{"text/csv"},
			},
			ModelMetrics:                 &types.ModelMetrics{ModelQuality: &types.ModelQuality{Statistics: &types.MetricsSource{ContentType: aws.String("application/json"), S3Uri: aws.String("s3://models/abalone/evaluation.json")}}},
			MetadataProperties:           &types.MetadataProperties{GeneratedBy: aws.String("arn:aws:sagemaker:us-east-1:000000000000:pipeline/abalone/execution/4wemqw2sucgh")},
			CustomerMetadataProperties:   map[string]string{"rmse": "2.13", "dataset": "abalone-2025"},
			SourceAlgorithmSpecification: &types.SourceAlgorithmSpecification{SourceAlgorithms: []types.SourceAlgorithm{{AlgorithmName: aws.String("xgboost"), ModelDataUrl: aws.String("s3://models/abalone/model.tar.gz")}}},
			Domain:                       aws.String("MACHINE_LEARNING"),
			Task:                         aws.String("REGRESSION"),
			SamplePayloadUrl:             aws.String("s3://models/abalone/payload.tar.gz"),
			Tags:                         []types.Tag{{Key: aws.String("stage"), Value: aws.String("dev")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ModelPackageArn)
	}
	v1 := create("")
	v2 := create(types.ModelApprovalStatusApproved)
	v3 := create(types.ModelApprovalStatusPendingManualApproval)
	if v1 != "arn:aws:sagemaker:us-east-1:000000000000:model-package/abalone/1" || !strings.HasSuffix(v3, "/abalone/3") {
		t.Fatalf("version ARNs %s, %s", v1, v3)
	}
	_ = spec

	for _, ref := range []string{v1, "abalone/1"} {
		d, err := c.DescribeModelPackage(ctx, &sm.DescribeModelPackageInput{ModelPackageName: aws.String(ref)})
		if err != nil {
			t.Fatalf("DescribeModelPackage(%s): %v", ref, err)
		}
		if aws.ToString(d.ModelPackageName) != "abalone" || aws.ToString(d.ModelPackageGroupName) != "abalone" || aws.ToInt32(d.ModelPackageVersion) != 1 ||
			d.ModelApprovalStatus != types.ModelApprovalStatusPendingManualApproval || d.ModelPackageStatus != types.ModelPackageStatusCompleted ||
			d.ModelPackageStatusDetails == nil || aws.ToString(d.CreatedBy.UserProfileName) != "root" || d.LastModifiedTime == nil ||
			aws.ToString(d.InferenceSpecification.Containers[0].ModelDataUrl) != "s3://models/abalone/model.tar.gz" ||
			aws.ToString(d.ModelMetrics.ModelQuality.Statistics.S3Uri) != "s3://models/abalone/evaluation.json" ||
			!strings.Contains(aws.ToString(d.MetadataProperties.GeneratedBy), "execution/4wemqw2sucgh") ||
			d.CustomerMetadataProperties["rmse"] != "2.13" || aws.ToString(d.Task) != "REGRESSION" || aws.ToString(d.Domain) != "MACHINE_LEARNING" ||
			aws.ToString(d.SamplePayloadUrl) != "s3://models/abalone/payload.tar.gz" ||
			aws.ToString(d.SourceAlgorithmSpecification.SourceAlgorithms[0].AlgorithmName) != "xgboost" {
			t.Fatalf("DescribeModelPackage(%s) = %+v", ref, d)
		}
	}

	// The query CI scripts use for "latest approved".
	latest := func() string {
		t.Helper()
		out, err := c.ListModelPackages(ctx, &sm.ListModelPackagesInput{
			ModelPackageGroupName: aws.String("abalone"), ModelApprovalStatus: types.ModelApprovalStatusApproved,
			SortBy: types.ModelPackageSortByCreationTime, SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ModelPackageSummaryList) == 0 {
			return ""
		}
		return aws.ToString(out.ModelPackageSummaryList[0].ModelPackageArn)
	}
	if got := latest(); got != v2 {
		t.Fatalf("latest approved = %s, want %s", got, v2)
	}
	up, err := c.UpdateModelPackage(ctx, &sm.UpdateModelPackageInput{
		ModelPackageArn: aws.String(v3), ModelApprovalStatus: types.ModelApprovalStatusApproved, ApprovalDescription: aws.String("beats v2 on rmse"),
		CustomerMetadataProperties: map[string]string{"approved-by": "qa"}, CustomerMetadataPropertiesToRemove: []string{"dataset"},
	})
	if err != nil || aws.ToString(up.ModelPackageArn) != v3 {
		t.Fatalf("UpdateModelPackage = %+v, %v", up, err)
	}
	if got := latest(); got != v3 {
		t.Fatalf("latest approved after approving v3 = %s", got)
	}
	d3, _ := c.DescribeModelPackage(ctx, &sm.DescribeModelPackageInput{ModelPackageName: aws.String(v3)})
	if aws.ToString(d3.ApprovalDescription) != "beats v2 on rmse" || aws.ToString(d3.LastModifiedBy.UserProfileName) != "root" ||
		d3.CustomerMetadataProperties["approved-by"] != "qa" || d3.CustomerMetadataProperties["rmse"] != "2.13" || d3.CustomerMetadataProperties["dataset"] != "" {
		t.Fatalf("after update: %+v", d3)
	}
	if _, err := c.UpdateModelPackage(ctx, &sm.UpdateModelPackageInput{ModelPackageArn: aws.String(v3), ModelApprovalStatus: types.ModelApprovalStatusRejected}); err != nil {
		t.Fatal(err)
	}
	if got := latest(); got != v2 {
		t.Fatalf("latest approved after rejecting v3 = %s, want v2", got)
	}

	// Version lists page in both orders; a time window narrows them.
	var versions []int32
	lp := sm.NewListModelPackagesPaginator(c, &sm.ListModelPackagesInput{ModelPackageGroupName: aws.String("abalone"), SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(2)})
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.ModelPackageSummaryList {
			versions = append(versions, aws.ToInt32(s.ModelPackageVersion))
		}
	}
	if fmt.Sprint(versions) != "[3 2 1]" {
		t.Fatalf("versions descending: %v", versions)
	}
	d1, _ := c.DescribeModelPackage(ctx, &sm.DescribeModelPackageInput{ModelPackageName: aws.String(v1)})
	win, err := c.ListModelPackages(ctx, &sm.ListModelPackagesInput{ModelPackageGroupName: aws.String("abalone"), CreationTimeAfter: d1.CreationTime})
	if err != nil || len(win.ModelPackageSummaryList) != 2 {
		t.Fatalf("CreationTimeAfter v1: %d packages, %v", len(win.ModelPackageSummaryList), err)
	}

	// Tags on both kinds of registry resource.
	for _, arn := range []string{aws.ToString(g.ModelPackageGroupArn), v1} {
		if _, err := c.AddTags(ctx, &sm.AddTagsInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("alice")}}}); err != nil {
			t.Fatalf("AddTags %s: %v", arn, err)
		}
		lt, err := c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: aws.String(arn)})
		if err != nil || len(lt.Tags) != 2 {
			t.Fatalf("ListTags %s: %+v, %v", arn, lt, err)
		}
		if _, err := c.DeleteTags(ctx, &sm.DeleteTagsInput{ResourceArn: aws.String(arn), TagKeys: []string{"owner"}}); err != nil {
			t.Fatal(err)
		}
		lt, _ = c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: aws.String(arn)})
		if len(lt.Tags) != 1 {
			t.Fatalf("after DeleteTags %s: %+v", arn, lt.Tags)
		}
	}

	// A group that holds versions is not deleted; once empty it is.
	if _, err := c.DeleteModelPackageGroup(ctx, &sm.DeleteModelPackageGroupInput{ModelPackageGroupName: aws.String("abalone")}); apiCode(err) != "ConflictException" {
		t.Fatalf("delete a group with versions: %v", err)
	}
	for _, arn := range []string{v1, v2, v3} {
		if _, err := c.DeleteModelPackage(ctx, &sm.DeleteModelPackageInput{ModelPackageName: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DescribeModelPackage(ctx, &sm.DescribeModelPackageInput{ModelPackageName: aws.String(v1)}); apiCode(err) != "ValidationException" {
		t.Fatalf("describe a deleted version: %v", err)
	}
	if _, err := c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: aws.String(v1)}); apiCode(err) != "ValidationException" {
		t.Fatalf("tags of a deleted version: %v", err)
	}
	if _, err := c.DeleteModelPackageGroup(ctx, &sm.DeleteModelPackageGroupInput{ModelPackageGroupName: aws.String("abalone")}); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryBadInput(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	c := srv.SageMaker()
	if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("good")}); err != nil {
		t.Fatal(err)
	}
	v1, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String("good")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(v1.ModelPackageArn)
	long := strings.Repeat("x", 1025)
	cases := []struct {
		name, op, body string
		code           string
		msg            string
	}{
		{"group name missing", "CreateModelPackageGroup", `{}`, "ValidationException", "'modelPackageGroupName' failed to satisfy constraint: Member must not be null"},
		{"group name pattern", "CreateModelPackageGroup", `{"ModelPackageGroupName":"bad_name"}`, "ValidationException", "modelPackageGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"group name trailing dash", "CreateModelPackageGroup", `{"ModelPackageGroupName":"bad-"}`, "ValidationException", "regular expression pattern"},
		{"group name too long", "CreateModelPackageGroup", `{"ModelPackageGroupName":"` + strings.Repeat("a", 64) + `"}`, "ValidationException", "length less than or equal to 63"},
		{"group description too long", "CreateModelPackageGroup", `{"ModelPackageGroupName":"ok","ModelPackageGroupDescription":"` + long + `"}`, "ValidationException", "modelPackageGroupDescription"},
		{"group name wrong type", "CreateModelPackageGroup", `{"ModelPackageGroupName":7}`, "SerializationException", "ModelPackageGroupName"},
		{"describe unknown group", "DescribeModelPackageGroup", `{"ModelPackageGroupName":"ghost"}`, "ValidationException", "ModelPackageGroup ghost does not exist"},
		{"delete unknown group", "DeleteModelPackageGroup", `{"ModelPackageGroupName":"ghost"}`, "ValidationException", "does not exist"},
		{"group list bad sort", "ListModelPackageGroups", `{"SortBy":"Size"}`, "ValidationException", "sortBy"},
		{"group list MaxResults", "ListModelPackageGroups", `{"MaxResults":101}`, "ValidationException", "maxResults"},
		{"group list foreign token", "ListModelPackageGroups", `{"NextToken":"bm90LWEtdG9rZW4"}`, "ValidationException", "Invalid pagination token"},
		{"package without group or name", "CreateModelPackage", `{}`, "ValidationException", "ModelPackageGroupName"},
		{"package with group and name", "CreateModelPackage", `{"ModelPackageGroupName":"good","ModelPackageName":"solo"}`, "ValidationException", "not both"},
		{"package in unknown group", "CreateModelPackage", `{"ModelPackageGroupName":"ghost"}`, "ValidationException", "ModelPackageGroup ghost does not exist"},
		{"package group name pattern", "CreateModelPackage", `{"ModelPackageGroupName":"has space"}`, "ValidationException", "modelPackageGroupName"},
		{"invalid approval", "CreateModelPackage", `{"ModelPackageGroupName":"good","ModelApprovalStatus":"Yes"}`, "ValidationException", "Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]"},
		{"approval on unversioned", "CreateModelPackage", `{"ModelPackageName":"solo","ModelApprovalStatus":"Approved"}`, "ValidationException", "versioned model packages only"},
		{"container without image", "CreateModelPackage", `{"ModelPackageGroupName":"good","InferenceSpecification":{"Containers":[{"ModelDataUrl":"s3://b/m.tar.gz"}]}}`, "ValidationException", "inferenceSpecification.containers.1.member.image"},
		{"model data url", "CreateModelPackage", `{"ModelPackageGroupName":"good","InferenceSpecification":{"Containers":[{"Image":"i","ModelDataUrl":"/tmp/m.tar.gz"}]}}`, "ValidationException", "modelDataUrl"},
		{"no containers", "CreateModelPackage", `{"ModelPackageGroupName":"good","InferenceSpecification":{"Containers":[]}}`, "ValidationException", "between 1 and 15"},
		{"inference spec wrong type", "CreateModelPackage", `{"ModelPackageGroupName":"good","InferenceSpecification":["x"]}`, "ValidationException", "InferenceSpecification structure"},
		{"metrics without uri", "CreateModelPackage", `{"ModelPackageGroupName":"good","ModelMetrics":{"ModelQuality":{"Statistics":{"ContentType":"application/json"}}}}`, "ValidationException", "modelMetrics.modelQuality.statistics.s3Uri"},
		{"description too long", "CreateModelPackage", `{"ModelPackageGroupName":"good","ModelPackageDescription":"` + long + `"}`, "ValidationException", "modelPackageDescription"},
		{"metadata value too long", "CreateModelPackage", `{"ModelPackageGroupName":"good","CustomerMetadataProperties":{"k":"` + strings.Repeat("v", 257) + `"}}`, "ValidationException", "customerMetadataProperties"},
		{"sample payload url", "CreateModelPackage", `{"ModelPackageGroupName":"good","SamplePayloadUrl":"ftp://x/y"}`, "ValidationException", "samplePayloadUrl"},
		{"oversized model card", "CreateModelPackage", `{"ModelPackageGroupName":"good","ModelCard":{"ModelCardContent":"` + strings.Repeat("x", 100001) + `"}}`, "ValidationException", "modelCard.modelCardContent"},
		{"client token pattern", "CreateModelPackage", `{"ModelPackageGroupName":"good","ClientToken":"a b"}`, "ValidationException", "clientToken"},
		{"describe bare group name", "DescribeModelPackage", `{"ModelPackageName":"good"}`, "ValidationException", "good/VERSION"},
		{"describe unknown version", "DescribeModelPackage", `{"ModelPackageName":"good/99"}`, "ValidationException", "does not exist"},
		{"describe bad version", "DescribeModelPackage", `{"ModelPackageName":"good/v1"}`, "ValidationException", "modelPackageName"},
		{"describe other account", "DescribeModelPackage", `{"ModelPackageName":"arn:aws:sagemaker:us-east-1:111111111111:model-package/good/1"}`, "ValidationException", "does not exist"},
		{"list bad approval", "ListModelPackages", `{"ModelApprovalStatus":"approved"}`, "ValidationException", "modelApprovalStatus"},
		{"list bad type", "ListModelPackages", `{"ModelPackageType":"All"}`, "ValidationException", "modelPackageType"},
		{"list bad order", "ListModelPackages", `{"SortOrder":"Down"}`, "ValidationException", "sortOrder"},
		{"update without arn", "UpdateModelPackage", `{"ModelApprovalStatus":"Approved"}`, "ValidationException", "modelPackageArn"},
		{"update by name", "UpdateModelPackage", `{"ModelPackageArn":"good/1","ModelApprovalStatus":"Approved"}`, "ValidationException", "modelPackageArn"},
		{"update invalid approval", "UpdateModelPackage", `{"ModelPackageArn":"` + arn + `","ModelApprovalStatus":"OK"}`, "ValidationException", "modelApprovalStatus"},
		{"update approval note too long", "UpdateModelPackage", `{"ModelPackageArn":"` + arn + `","ModelApprovalStatus":"Approved","ApprovalDescription":"` + long + `"}`, "ValidationException", "approvalDescription"},
		{"update set and remove", "UpdateModelPackage", `{"ModelPackageArn":"` + arn + `","ModelApprovalStatus":"Approved","CustomerMetadataProperties":{"a":"1"},"CustomerMetadataPropertiesToRemove":["a"]}`, "ValidationException", "both set and listed"},
		{"update unknown version", "UpdateModelPackage", `{"ModelPackageArn":"` + strings.TrimSuffix(arn, "1") + `42","ModelApprovalStatus":"Approved"}`, "ValidationException", "does not exist"},
		{"delete unknown version", "DeleteModelPackage", `{"ModelPackageName":"good/42"}`, "ValidationException", "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, srv, tc.op, tc.body)
			msg, _ := body["message"].(string)
			if status != http.StatusBadRequest || body["__type"] != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("%s %s: HTTP %d %v %q; want %s containing %q", tc.op, tc.body[:min(len(tc.body), 120)], status, body["__type"], msg, tc.code, tc.msg)
			}
		})
	}
	// Nothing a rejected request touched changed: one version, still pending, one event.
	d, err := c.DescribeModelPackage(ctx, &sm.DescribeModelPackageInput{ModelPackageName: aws.String(arn)})
	if err != nil || d.ModelApprovalStatus != types.ModelApprovalStatusPendingManualApproval || len(d.CustomerMetadataProperties) != 0 {
		t.Fatalf("after rejected requests: %+v, %v", d, err)
	}
	dg, _ := c.DescribeModelPackageGroup(ctx, &sm.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("good")})
	list, _ := c.ListModelPackages(ctx, &sm.ListModelPackagesInput{ModelPackageGroupName: dg.ModelPackageGroupArn})
	if len(list.ModelPackageSummaryList) != 1 {
		t.Fatalf("rejected creates left %d versions", len(list.ModelPackageSummaryList))
	}
	if evs := listEvents(t, srv, 0); len(evs) != 1 {
		t.Fatalf("rejected requests wrote events: %d", len(evs))
	}
}

func TestConcurrentCreateModelPackage(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.SageMaker()
	ctx := context.Background()
	if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("busy")}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var arns []string
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String("busy")})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			arns = append(arns, aws.ToString(out.ModelPackageArn))
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(arns)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("arn:aws:sagemaker:us-east-1:000000000000:model-package/busy/%d", i+1)
	}
	sort.Strings(want)
	if fmt.Sprint(arns) != fmt.Sprint(want) {
		t.Fatalf("concurrent creates got %v", arns)
	}
}

type envelope struct {
	DetailType string               `json:"detail-type"`
	Source     string               `json:"source"`
	Resources  []string             `json:"resources"`
	Detail     registry.StateChange `json:"detail"`
	Cursor     int64                `json:"cursor"`
}

func listEvents(t *testing.T, srv *servertest.Server, after int64) []envelope {
	t.Helper()
	resp := signed(t, srv, http.MethodGet, fmt.Sprintf("/api/v1/events?after=%d", after), "", nil)
	defer resp.Body.Close()
	var page struct{ Events []envelope }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/events: HTTP %d, %v", resp.StatusCode, err)
	}
	return page.Events
}

func TestApprovalEvents(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.SageMaker()
	ctx := context.Background()
	c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("ev")})

	// Follow the stream from the start while the changes happen.
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, srv.URL()+"/api/v1/events/stream", nil)
	creds, _ := srv.AWS().Credentials.Retrieve(ctx)
	sum := sha256.Sum256(nil)
	v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sagemaker", srv.Config.Region, time.Now())
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	out, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String("ev"), InferenceSpecification: &types.InferenceSpecification{
		Containers: []types.ModelPackageContainerDefinition{{Image: aws.String("img"), ModelDataUrl: aws.String("s3://b/model.tar.gz")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ModelPackageArn)
	if _, err := c.UpdateModelPackage(ctx, &sm.UpdateModelPackageInput{ModelPackageArn: out.ModelPackageArn, ModelApprovalStatus: types.ModelApprovalStatusApproved, ApprovalDescription: aws.String("ship it")}); err != nil {
		t.Fatal(err)
	}
	// An update that leaves the status alone announces nothing.
	if _, err := c.UpdateModelPackage(ctx, &sm.UpdateModelPackageInput{ModelPackageArn: out.ModelPackageArn, CustomerMetadataProperties: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateModelPackage(ctx, &sm.UpdateModelPackageInput{ModelPackageArn: out.ModelPackageArn, ModelApprovalStatus: types.ModelApprovalStatusRejected}); err != nil {
		t.Fatal(err)
	}

	evs := listEvents(t, srv, 0)
	if len(evs) != 3 {
		t.Fatalf("%d events, want create + approve + reject", len(evs))
	}
	want := []struct {
		status, prev registry.ApprovalStatus
	}{{registry.PendingManualApproval, ""}, {registry.Approved, registry.PendingManualApproval}, {registry.Rejected, registry.Approved}}
	for i, ev := range evs {
		d := ev.Detail
		if ev.DetailType != "SageMaker Model Package State Change" || ev.Source != "aws.sagemaker" || len(ev.Resources) != 1 || ev.Resources[0] != arn ||
			d.ModelPackageArn != arn || d.ModelPackageGroupName != "ev" || d.ModelPackageVersion != 1 || d.ModelApprovalStatus != want[i].status ||
			d.PreviousModelApprovalStatus != want[i].prev || d.ModelPackageStatus != "Completed" || !strings.Contains(string(d.InferenceSpecification), "s3://b/model.tar.gz") {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
	if evs[1].Detail.ApprovalDescription != "ship it" || evs[1].Detail.LastModifiedBy == nil || evs[1].Detail.LastModifiedBy.UserProfileName != "root" {
		t.Fatalf("approval event does not say who approved and why: %+v", evs[1].Detail)
	}
	if rest := listEvents(t, srv, evs[0].Cursor); len(rest) != 2 || rest[0].Cursor != evs[1].Cursor {
		t.Fatalf("events after cursor %d: %+v", evs[0].Cursor, rest)
	}

	// The stream delivered the same three, in order.
	sc := bufio.NewScanner(stream.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var streamed []envelope
	for len(streamed) < 3 && sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev envelope
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			streamed = append(streamed, ev)
		}
	}
	if len(streamed) != 3 || streamed[2].Detail.ModelApprovalStatus != registry.Rejected || streamed[1].Detail.Effect() != registry.DeployThis || streamed[2].Detail.Effect() != registry.DeployLatestApproved {
		t.Fatalf("streamed %+v (scan error %v)", streamed, sc.Err())
	}
}
