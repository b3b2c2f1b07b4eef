package hosting

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluice-ml/sluice/internal/store"
)

func TestCreateModel(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		tests := []struct {
			name string
			in   NewModel
			kind error
			text string
			want []ResolvedContainer
		}{
			{"image and artifacts", NewModel{ModelName: "m1", PrimaryContainer: &ContainerDefinition{Image: "sluice/xgboost", ModelDataUrl: "s3://bkt/m.tar.gz", Environment: map[string]string{"X": "1"}}},
				nil, "", []ResolvedContainer{{Image: "sluice/xgboost", ModelDataURL: "s3://bkt/m.tar.gz", Environment: map[string]string{"X": "1"}}}},
			{"uncompressed prefix", NewModel{ModelName: "m2", PrimaryContainer: &ContainerDefinition{Image: "sluice/xgboost",
				ModelDataSource: &ModelDataSource{S3DataSource: &S3ModelDataSource{S3Uri: "s3://bkt/model", S3DataType: "S3Prefix", CompressionType: "None"}}}},
				nil, "", []ResolvedContainer{{Image: "sluice/xgboost", ModelDataURL: "s3://bkt/model/", Uncompressed: true}}},
			{"approved package, environment laid over", NewModel{ModelName: "m3", PrimaryContainer: &ContainerDefinition{
				ModelPackageName: "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1", Environment: map[string]string{"B": "mine"}}}, nil, "",
				[]ResolvedContainer{{Image: "sluice/xgboost", ModelDataURL: "s3://models/churn/1/model.tar.gz", Environment: map[string]string{"A": "pkg", "B": "mine"},
					ModelPackage: "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1"}}},
			{"unapproved package with the opt-in tag", NewModel{ModelName: "m4", PrimaryContainer: &ContainerDefinition{ModelPackageName: "churn/2"},
				Tags: []Tag{{Key: AllowUnapprovedTag, Value: "true"}}}, nil, "",
				[]ResolvedContainer{{Image: "sluice/xgboost", ModelDataURL: "s3://models/churn/2/model.tar.gz", ModelPackage: "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/2"}}},
			{"pipeline", NewModel{ModelName: "m5", Containers: []ContainerDefinition{{Image: "a/pre"}, {Image: "a/post"}}}, nil, "",
				[]ResolvedContainer{{Image: "a/pre"}, {Image: "a/post"}}},
			{"duplicate", NewModel{ModelName: "M1", PrimaryContainer: &ContainerDefinition{Image: "x"}}, ErrExists, `Cannot create already existing model "arn:aws:sagemaker:us-east-1:123456789012:model/m1"`, nil},
			{"unapproved package", NewModel{ModelName: "bad1", PrimaryContainer: &ContainerDefinition{ModelPackageName: "churn/2"}}, ErrInvalid, "is PendingManualApproval; only Approved versions can be deployed", nil},
			{"unknown package", NewModel{ModelName: "bad2", PrimaryContainer: &ContainerDefinition{ModelPackageName: "churn/9"}}, ErrInvalid, "ModelPackage churn/9 does not exist", nil},
			{"package and image", NewModel{ModelName: "bad3", PrimaryContainer: &ContainerDefinition{ModelPackageName: "churn/2", Image: "x"}}, ErrInvalid, "do not set Image", nil},
			{"no container", NewModel{ModelName: "bad4"}, ErrInvalid, "A model needs a container", nil},
			{"both container forms", NewModel{ModelName: "bad5", PrimaryContainer: &ContainerDefinition{Image: "x"}, Containers: []ContainerDefinition{{Image: "y"}}}, ErrInvalid, "not both", nil},
			{"no image", NewModel{ModelName: "bad6", PrimaryContainer: &ContainerDefinition{ModelDataUrl: "s3://bkt/k"}}, ErrInvalid, "Image is required", nil},
			{"unknown image", NewModel{ModelName: "bad7", PrimaryContainer: &ContainerDefinition{Image: "registry/unknown:1"}}, ErrInvalid, "image registry/unknown:1 cannot be served here: not a built-in image", nil},
			{"model data not s3", NewModel{ModelName: "bad8", PrimaryContainer: &ContainerDefinition{Image: "x", ModelDataUrl: "https://example.com/m.tar.gz"}}, ErrInvalid, "is not an s3:// URI", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				m, err := w.svc.CreateModel(ctx, tc.in)
				if tc.kind != nil {
					wantKind(t, err, tc.kind, tc.text)
					if _, err := w.svc.DescribeModel(ctx, tc.in.ModelName); err == nil && tc.kind != ErrExists {
						t.Fatal("a refused model was stored")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := w.svc.DescribeModel(ctx, tc.in.ModelName)
				if err != nil {
					t.Fatal(err)
				}
				a, _ := json.Marshal(got.Resolved)
				b, _ := json.Marshal(tc.want)
				if string(a) != string(b) || got.ModelArn != m.ModelArn || !got.CreationTime.Equal(m.CreationTime) {
					t.Fatalf("resolved %s, want %s", a, b)
				}
			})
		}
		page, err := w.svc.ListModels(ctx, ListQuery{SortBy: "Name", Limit: 2})
		if err != nil || len(page.Models) != 2 || page.Models[0].ModelName != "m1" || page.Next == nil {
			t.Fatalf("ListModels page 1: %+v, %v", page, err)
		}
		page, err = w.svc.ListModels(ctx, ListQuery{SortBy: "Name", Limit: 10, After: page.Next})
		if err != nil || len(page.Models) != 3 || page.Next != nil {
			t.Fatalf("ListModels page 2: %d models, %v", len(page.Models), err)
		}
		if err := w.svc.DeleteModel(ctx, "m5"); err != nil {
			t.Fatal(err)
		}
		wantKind(t, w.svc.DeleteModel(ctx, "m5"), ErrNotFound, `Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/m5"`)
		_, err = w.svc.DescribeModel(ctx, "m5")
		wantKind(t, err, ErrNotFound, "Could not find model")
	})
}

func TestCreateEndpointConfig(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.model(t, "m", "sluice/xgboost")
		tests := []struct {
			name string
			in   EndpointConfig
			kind error
			text string
		}{
			{"two variants", EndpointConfig{EndpointConfigName: "c1", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1), variant("b", "m", 0, 2)}}, nil, ""},
			{"shadow and capture", EndpointConfig{EndpointConfigName: "c2", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1)},
				ShadowProductionVariants: []ProductionVariant{variant("s", "m", 1, 1)},
				DataCaptureConfig:        &DataCaptureConfig{InitialSamplingPercentage: 50, DestinationS3Uri: "s3://cap/x", CaptureOptions: []CaptureOption{{CaptureMode: "Input"}}}}, nil, ""},
			{"duplicate name", EndpointConfig{EndpointConfigName: "C1", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1)}}, ErrExists, "Cannot create already existing endpoint configuration"},
			{"duplicate variant names", EndpointConfig{EndpointConfigName: "bad1", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1), variant("A", "m", 1, 1)}}, ErrInvalid, `Variant name "A" appears more than once`},
			{"shadow reuses a name", EndpointConfig{EndpointConfigName: "bad2", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1)}, ShadowProductionVariants: []ProductionVariant{variant("a", "m", 1, 1)}}, ErrInvalid, "appears more than once"},
			{"unknown model", EndpointConfig{EndpointConfigName: "bad3", ProductionVariants: []ProductionVariant{variant("a", "nope", 1, 1)}}, ErrInvalid, `Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/nope" for variant a`},
			{"all weights zero", EndpointConfig{EndpointConfigName: "bad4", ProductionVariants: []ProductionVariant{variant("a", "m", 0, 1), variant("b", "m", 0, 1)}}, ErrInvalid, "Every production variant has InitialVariantWeight 0"},
			{"no variants", EndpointConfig{EndpointConfigName: "bad5"}, ErrInvalid, "at least one production variant"},
			{"no instance count", EndpointConfig{EndpointConfigName: "bad6", ProductionVariants: []ProductionVariant{{VariantName: "a", ModelName: "m"}}}, ErrInvalid, "needs InitialInstanceCount"},
			{"two production with a shadow", EndpointConfig{EndpointConfigName: "bad7", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1), variant("b", "m", 1, 1)},
				ShadowProductionVariants: []ProductionVariant{variant("s", "m", 1, 1)}}, ErrInvalid, "exactly one production variant and one shadow variant"},
			{"capture destination", EndpointConfig{EndpointConfigName: "bad8", ProductionVariants: []ProductionVariant{variant("a", "m", 1, 1)},
				DataCaptureConfig: &DataCaptureConfig{DestinationS3Uri: "/tmp/x", CaptureOptions: []CaptureOption{{CaptureMode: "Input"}}}}, ErrInvalid, "DestinationS3Uri"},
			{"negative weight", EndpointConfig{EndpointConfigName: "bad9", ProductionVariants: []ProductionVariant{variant("a", "m", -1, 1)}}, ErrInvalid, "weights are numbers ≥ 0"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := w.svc.CreateEndpointConfig(ctx, tc.in, nil)
				if tc.kind != nil {
					wantKind(t, err, tc.kind, tc.text)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := w.svc.DescribeEndpointConfig(ctx, tc.in.EndpointConfigName)
				if err != nil || len(got.ProductionVariants) != len(tc.in.ProductionVariants) || got.EndpointConfigArn == "" {
					t.Fatalf("describe: %+v, %v", got, err)
				}
			})
		}
		page, err := w.svc.ListEndpointConfigs(ctx, ListQuery{NameContains: "c", Limit: 10})
		if err != nil || len(page.EndpointConfigs) != 2 {
			t.Fatalf("ListEndpointConfigs: %+v, %v", page, err)
		}
		_, err = w.svc.DescribeEndpointConfig(ctx, "nope")
		wantKind(t, err, ErrNotFound, `Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/nope"`)
	})
}

func TestEndpointRequestsRefused(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.model(t, "slow", "registry/slow")
		w.config(t, "cfg", variant("a", "slow", 1, 1))
		_, err := w.svc.CreateEndpoint(ctx, "ep", "missing", nil, nil)
		wantKind(t, err, ErrNotFound, "Could not find endpoint configuration")
		if _, err := w.svc.CreateEndpoint(ctx, "ep", "cfg", nil, nil); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.CreateEndpoint(ctx, "EP", "cfg", nil, nil)
		wantKind(t, err, ErrExists, `Cannot create already existing endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ep"`)
		e, err := w.svc.DescribeEndpoint(ctx, "ep")
		if err != nil || e.EndpointStatus != StatusCreating || *e.ProductionVariants[0].DesiredInstanceCount != 1 || e.ProductionVariants[0].CurrentWeight != nil ||
			e.ProductionVariants[0].VariantStatus[0].Status != "Creating" {
			t.Fatalf("while creating: %+v, %v", e, err)
		}
		_, err = w.svc.UpdateEndpoint(ctx, EndpointUpdate{EndpointName: "ep", EndpointConfigName: "cfg"})
		wantKind(t, err, ErrInvalid, "Cannot update in-progress endpoint")
		_, err = w.svc.UpdateWeightsAndCapacities(ctx, "ep", []DesiredWeightAndCapacity{{VariantName: "a", DesiredWeight: f64(2)}})
		wantKind(t, err, ErrInvalid, "its status is Creating")
		wantKind(t, w.svc.DeleteEndpointConfig(ctx, "cfg"), ErrInUse, "endpoint ep uses it")
		_, err = w.svc.DescribeEndpoint(ctx, "nope")
		wantKind(t, err, ErrNotFound, `Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/nope"`)
		wantKind(t, w.svc.DeleteEndpoint(ctx, "nope"), ErrNotFound, "Could not find endpoint")
		close(w.models.release)
		w.waitStatus(t, "ep", StatusInService)

		tests := []struct {
			name    string
			desired []DesiredWeightAndCapacity
			text    string
		}{
			{"unknown variant", []DesiredWeightAndCapacity{{VariantName: "zz", DesiredWeight: f64(1)}}, `The variant(s) ["zz"] are not part of endpoint`},
			{"all weights zero", []DesiredWeightAndCapacity{{VariantName: "a", DesiredWeight: f64(0)}}, "every variant of endpoint"},
			{"no instances anywhere", []DesiredWeightAndCapacity{{VariantName: "a", DesiredInstanceCount: i32(0)}}, "every variant of endpoint"},
			{"duplicate variant", []DesiredWeightAndCapacity{{VariantName: "a", DesiredWeight: f64(1)}, {VariantName: "a", DesiredWeight: f64(2)}}, "appears more than once"},
			{"nothing to change", []DesiredWeightAndCapacity{{VariantName: "a"}}, "give DesiredWeight, DesiredInstanceCount or both"},
			{"empty", nil, "at least one variant"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := w.svc.UpdateWeightsAndCapacities(ctx, "ep", tc.desired)
				wantKind(t, err, ErrInvalid, tc.text)
				if e, _ := w.svc.DescribeEndpoint(ctx, "ep"); e.EndpointStatus != StatusInService {
					t.Fatalf("a refused update changed the status to %s", e.EndpointStatus)
				}
			})
		}
		page, err := w.svc.ListEndpoints(ctx, ListQuery{StatusEquals: StatusInService, Limit: 10})
		if err != nil || len(page.Endpoints) != 1 {
			t.Fatalf("ListEndpoints: %+v, %v", page, err)
		}
		if page, _ := w.svc.ListEndpoints(ctx, ListQuery{StatusEquals: StatusFailed, Limit: 10}); len(page.Endpoints) != 0 {
			t.Fatalf("status filter: %+v", page)
		}
		if page, _ := w.svc.ListEndpoints(ctx, ListQuery{SortBy: store.EndpointsByStatus, Limit: 10}); len(page.Endpoints) != 1 {
			t.Fatalf("sort by status: %+v", page)
		}
	})
}
