package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

type arns struct{}

func (arns) For(kind, name string) string {
	return "arn:aws:sagemaker:us-east-1:000000000000:" + kind + "/" + strings.ToLower(name)
}

var alice = registry.Actor{Name: "alice", PrincipalID: "AKSLALICE", ARN: "arn:aws:iam::000000000000:user/alice"}

const inferenceSpec = `{"Containers":[{"Image":"sluice/xgboost:1.7","ModelDataUrl":"s3://models/churn/model.tar.gz"}],"SupportedContentTypes":["text/csv"],"SupportedResponseMIMETypes":["text/csv"]}`

func newService(t *testing.T, s *store.Store) *registry.Service {
	return &registry.Service{Store: s, ARNs: arns{}}
}

func stateChanges(t *testing.T, s *store.Store) []registry.StateChange {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []registry.StateChange
	for _, ev := range evs {
		if ev.DetailType != events.ModelPackageStateChange {
			continue
		}
		var c registry.StateChange
		if err := json.Unmarshal(ev.Detail, &c); err != nil {
			t.Fatalf("event detail: %v", err)
		}
		if len(ev.Resources) != 1 || ev.Resources[0] != c.ModelPackageArn {
			t.Fatalf("event resources %v, want [%s]", ev.Resources, c.ModelPackageArn)
		}
		out = append(out, c)
	}
	return out
}

func TestGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := newService(t, s)
		g, err := svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "Churn-Model", Description: "churn", Tags: []registry.Tag{{Key: "team", Value: "risk"}}})
		if err != nil {
			t.Fatal(err)
		}
		if g.ARN != "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/churn-model" || g.Status != "Completed" || g.CreatedBy.UserProfileName != "alice" {
			t.Fatalf("created %+v", g)
		}
		if _, err := svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "churn-MODEL"}); !errors.Is(err, registry.ErrExists) {
			t.Fatalf("same name in other case: %v, want ErrExists", err)
		}
		for _, bad := range []string{"", "-lead", "trail-", "under_score", strings.Repeat("a", 64)} {
			if _, err := svc.CreateGroup(ctx, alice, registry.NewGroup{Name: bad}); !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("CreateGroup(%q) = %v, want ErrInvalid", bad, err)
			}
		}
		for _, ref := range []string{"Churn-Model", "churn-model", g.ARN} {
			got, err := svc.Group(ctx, ref)
			if err != nil || got.Name != "Churn-Model" || got.Description != "churn" {
				t.Fatalf("Group(%q) = %+v, %v", ref, got, err)
			}
		}
		for ref, want := range map[string]error{
			"nope": registry.ErrNotFound,
			"arn:aws:sagemaker:eu-west-1:000000000000:model-package-group/churn-model": registry.ErrNotFound,
			"arn:aws:sagemaker:us-east-1:000000000000:endpoint/churn-model":            registry.ErrInvalid,
		} {
			if _, err := svc.Group(ctx, ref); !errors.Is(err, want) {
				t.Errorf("Group(%q) = %v, want %v", ref, err, want)
			}
		}
		tags, _ := s.Tags(ctx, g.ARN, "", 10)
		if len(tags) != 1 || tags[0].Value != "risk" {
			t.Fatalf("tags %+v", tags)
		}
		if err := svc.DeleteGroup(ctx, "churn-model"); err != nil {
			t.Fatal(err)
		}
		if tags, _ := s.Tags(ctx, g.ARN, "", 10); len(tags) != 0 {
			t.Fatalf("tags outlived their group: %+v", tags)
		}
		if err := svc.DeleteGroup(ctx, "churn-model"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestCreatePackage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := newService(t, s)
		if _, err := svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "abalone"}); err != nil {
			t.Fatal(err)
		}
		spec := registry.Spec{
			InferenceSpecification: json.RawMessage(inferenceSpec),
			ModelMetrics:           json.RawMessage(`{"ModelQuality":{"Statistics":{"ContentType":"application/json","S3Uri":"s3://b/evaluation.json"}}}`),
			MetadataProperties:     json.RawMessage(`{"GeneratedBy":"arn:aws:sagemaker:us-east-1:000000000000:pipeline/abalone/execution/abc"}`),
			Domain:                 "MACHINE_LEARNING", Task: "REGRESSION", SamplePayloadUrl: "s3://b/payload.tar.gz",
		}
		bad := []struct {
			name string
			in   registry.NewPackage
			want error
		}{
			{"neither group nor name", registry.NewPackage{}, registry.ErrInvalid},
			{"both group and name", registry.NewPackage{GroupName: "abalone", Name: "x"}, registry.ErrInvalid},
			{"unknown group", registry.NewPackage{GroupName: "ghost"}, registry.ErrNotFound},
			{"approval on unversioned", registry.NewPackage{Name: "solo", ApprovalStatus: registry.Approved}, registry.ErrInvalid},
			{"unversioned name pattern", registry.NewPackage{Name: "no_underscores"}, registry.ErrInvalid},
			{"invalid approval", registry.NewPackage{GroupName: "abalone", ApprovalStatus: "Maybe"}, registry.ErrInvalid},
			{"too much metadata", registry.NewPackage{GroupName: "abalone", CustomerMetadata: manyMetadata(51)}, registry.ErrInvalid},
			{"oversized documents", registry.NewPackage{GroupName: "abalone", Spec: registry.Spec{ModelCard: json.RawMessage(`{"ModelCardContent":"` + strings.Repeat("x", 1<<20) + `"}`)}}, registry.ErrInvalid},
		}
		for _, tc := range bad {
			if _, err := svc.CreatePackage(ctx, alice, tc.in); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
		if n := len(stateChanges(t, s)); n != 0 {
			t.Fatalf("rejected creates wrote %d events", n)
		}
		if g, _ := svc.Group(ctx, "abalone"); g.LatestVersion != 0 {
			t.Fatalf("rejected creates consumed version numbers: latest %d", g.LatestVersion)
		}

		p1, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "abalone", Description: "first", Spec: spec, CustomerMetadata: map[string]string{"rmse": "2.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if p1.Version != 1 || p1.Name != "abalone" || p1.GroupName != "abalone" || p1.ApprovalStatus != registry.PendingManualApproval ||
			p1.ARN != "arn:aws:sagemaker:us-east-1:000000000000:model-package/abalone/1" || p1.Status != "Completed" {
			t.Fatalf("version 1 = %+v", p1)
		}
		p2, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/abalone", ApprovalStatus: registry.Approved, Spec: spec})
		if err != nil || p2.Version != 2 || p2.ApprovalStatus != registry.Approved {
			t.Fatalf("version 2 = %+v, %v", p2, err)
		}
		for _, ref := range []string{p1.ARN, "abalone/1", "ABALONE/1"} {
			got, err := svc.Package(ctx, ref)
			if err != nil || got.ARN != p1.ARN || got.Description != "first" || got.CustomerMetadata["rmse"] != "2.1" {
				t.Fatalf("Package(%q) = %+v, %v", ref, got, err)
			}
			if string(got.Spec.InferenceSpecification) != inferenceSpec || got.Spec.Task != "REGRESSION" || got.Spec.SamplePayloadUrl != spec.SamplePayloadUrl {
				t.Fatalf("Package(%q) lost a document: %+v", ref, got.Spec)
			}
			cs, err := got.Containers()
			if err != nil || len(cs) != 1 || cs[0].ModelDataUrl != "s3://models/churn/model.tar.gz" {
				t.Fatalf("Containers = %+v, %v", cs, err)
			}
		}
		_, err = svc.Package(ctx, "abalone")
		if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "abalone/VERSION") {
			t.Fatalf("Package(group name) = %v; want a not-found hint naming GROUP/VERSION", err)
		}

		changes := stateChanges(t, s)
		if len(changes) != 2 {
			t.Fatalf("%d state-change events, want one per create", len(changes))
		}
		c := changes[1]
		if c.ModelPackageGroupName != "abalone" || c.ModelPackageVersion != 2 || c.ModelApprovalStatus != registry.Approved ||
			c.ModelPackageStatus != "Completed" || string(c.InferenceSpecification) != inferenceSpec || c.CreatedBy == nil || c.CreatedBy.UserProfileName != "alice" ||
			c.PreviousModelApprovalStatus != "" || c.Effect() != registry.DeployThis {
			t.Fatalf("create event detail %+v", c)
		}
		if _, err := time.Parse(time.RFC3339, c.CreationTime); err != nil {
			t.Fatalf("CreationTime %q: %v", c.CreationTime, err)
		}

		// Idempotency: the same token returns the same version; another target is a conflict.
		t1, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "abalone", ClientToken: "run-42", Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		t2, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "Abalone", ClientToken: "run-42", Spec: spec})
		if err != nil || t2.ARN != t1.ARN {
			t.Fatalf("retry with the same token = %s, %v; want %s", t2.ARN, err, t1.ARN)
		}
		if _, err := svc.CreatePackage(ctx, alice, registry.NewPackage{Name: "solo", ClientToken: "run-42"}); !errors.Is(err, registry.ErrConflict) {
			t.Fatalf("token reused for another package: %v", err)
		}

		// Unversioned packages are addressed by name.
		u, err := svc.CreatePackage(ctx, alice, registry.NewPackage{Name: "Solo", Spec: spec})
		if err != nil || u.ARN != "arn:aws:sagemaker:us-east-1:000000000000:model-package/solo" || u.Version != 0 || u.ApprovalStatus != "" {
			t.Fatalf("unversioned = %+v, %v", u, err)
		}
		if _, err := svc.CreatePackage(ctx, alice, registry.NewPackage{Name: "solo"}); !errors.Is(err, registry.ErrExists) {
			t.Fatalf("duplicate unversioned: %v", err)
		}
		if got, err := svc.Package(ctx, "solo"); err != nil || got.ARN != u.ARN {
			t.Fatalf("Package(solo) = %+v, %v", got, err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func manyMetadata(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m["k"+strconv.Itoa(i)] = "v"
	}
	return m
}

func TestConcurrentVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := newService(t, s)
		if _, err := svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "busy"}); err != nil {
			t.Fatal(err)
		}
		const n = 50
		var wg sync.WaitGroup
		arnsSeen := make(chan string, n)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "busy", Spec: registry.Spec{InferenceSpecification: json.RawMessage(inferenceSpec)}})
				if err != nil {
					errs <- err
					return
				}
				arnsSeen <- p.ARN
			}()
		}
		wg.Wait()
		close(errs)
		close(arnsSeen)
		for err := range errs {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for a := range arnsSeen {
			if seen[a] {
				t.Fatalf("two creates got %s", a)
			}
			seen[a] = true
		}
		for v := 1; v <= n; v++ {
			if !seen[fmt.Sprintf("arn:aws:sagemaker:us-east-1:000000000000:model-package/busy/%d", v)] {
				t.Fatalf("version %d missing; versions must be 1..%d without gaps", v, n)
			}
		}
		if got := len(stateChanges(t, s)); got != n {
			t.Fatalf("%d events for %d creates", got, n)
		}
	})
}

func TestApproval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		clock := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		svc := &registry.Service{Store: s, ARNs: arns{}, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
		svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "g"})
		p, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "g", Spec: registry.Spec{InferenceSpecification: json.RawMessage(inferenceSpec)}})
		if err != nil {
			t.Fatal(err)
		}
		bob := registry.Actor{Name: "bob", PrincipalID: "AKSLBOB"}
		note := "rmse 2.1 beats baseline"
		got, err := svc.UpdatePackage(ctx, bob, p.ARN, registry.PackageUpdate{ApprovalStatus: registry.Approved, ApprovalDescription: &note, CustomerMetadata: map[string]string{"a": "1", "b": "2"}})
		if err != nil {
			t.Fatal(err)
		}
		if got.ApprovalStatus != registry.Approved || got.ApprovalDescription != note || got.ModifiedBy.UserProfileName != "bob" || got.CreatedBy.UserProfileName != "alice" || !got.ModifiedAt.After(got.CreatedAt) {
			t.Fatalf("after approve: %+v", got)
		}
		changes := stateChanges(t, s)
		last := changes[len(changes)-1]
		if len(changes) != 2 || last.ModelApprovalStatus != registry.Approved || last.PreviousModelApprovalStatus != registry.PendingManualApproval ||
			last.ApprovalDescription != note || last.LastModifiedBy == nil || last.LastModifiedBy.IamIdentity.PrincipalId != "AKSLBOB" || last.Effect() != registry.DeployThis {
			t.Fatalf("approval event %+v (of %d)", last, len(changes))
		}

		// Changes that are not approval changes write no event.
		if _, err := svc.UpdatePackage(ctx, bob, p.ARN, registry.PackageUpdate{CustomerMetadata: map[string]string{"c": "3"}, RemoveMetadata: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		got, _ = svc.Package(ctx, p.ARN)
		if fmt.Sprint(got.CustomerMetadata) != "map[b:2 c:3]" || got.ApprovalDescription != note {
			t.Fatalf("metadata after add/remove: %v (note %q)", got.CustomerMetadata, got.ApprovalDescription)
		}
		if n := len(stateChanges(t, s)); n != 2 {
			t.Fatalf("metadata update wrote an event (%d events)", n)
		}

		// Rejected updates change nothing.
		before, _ := svc.Package(ctx, p.ARN)
		bad := []struct {
			name string
			arn  string
			u    registry.PackageUpdate
			want error
		}{
			{"invalid status", p.ARN, registry.PackageUpdate{ApprovalStatus: "approved"}, registry.ErrInvalid},
			{"set and remove one key", p.ARN, registry.PackageUpdate{ApprovalStatus: registry.Rejected, CustomerMetadata: map[string]string{"b": "x"}, RemoveMetadata: []string{"b"}}, registry.ErrInvalid},
			{"metadata over the limit", p.ARN, registry.PackageUpdate{ApprovalStatus: registry.Rejected, CustomerMetadata: manyMetadata(49)}, registry.ErrInvalid},
			{"unknown package", p.ARN + "9", registry.PackageUpdate{ApprovalStatus: registry.Rejected}, registry.ErrNotFound},
			{"duplicate inference spec names", p.ARN, registry.PackageUpdate{ApprovalStatus: registry.Rejected, AddInferenceSpecifications: json.RawMessage(`[{"Name":"x","Containers":[{"Image":"i"}]},{"Name":"x","Containers":[{"Image":"i"}]}]`)}, registry.ErrInvalid},
		}
		for _, tc := range bad {
			if _, err := svc.UpdatePackage(ctx, bob, tc.arn, tc.u); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
		after, _ := svc.Package(ctx, p.ARN)
		if b, a := mustJSON(t, before), mustJSON(t, after); a != b || len(stateChanges(t, s)) != 2 {
			t.Fatalf("a rejected update changed the package:\nbefore %+v\nafter  %+v", before, after)
		}

		// Withdrawing an approval clears the old note and tells deployers to fall back.
		got, err = svc.UpdatePackage(ctx, bob, p.ARN, registry.PackageUpdate{ApprovalStatus: registry.Rejected})
		if err != nil || got.ApprovalDescription != "" {
			t.Fatalf("reject: %+v, %v", got, err)
		}
		changes = stateChanges(t, s)
		if last := changes[len(changes)-1]; last.Effect() != registry.DeployLatestApproved || last.ModelApprovalStatus != registry.Rejected {
			t.Fatalf("reject event %+v", last)
		}
		got, err = svc.UpdatePackage(ctx, bob, p.ARN, registry.PackageUpdate{AddInferenceSpecifications: json.RawMessage(`[{"Name":"gpu","Containers":[{"Image":"i"}]}]`)})
		if err != nil || !strings.Contains(string(got.Spec.AdditionalInferenceSpecifications), `"gpu"`) {
			t.Fatalf("add inference spec: %s, %v", got.Spec.AdditionalInferenceSpecifications, err)
		}

		// Deleting announces the withdrawal; the group then empties and can go.
		if err := svc.DeleteGroup(ctx, "g"); !errors.Is(err, registry.ErrInUse) {
			t.Fatalf("delete a group with versions: %v", err)
		}
		if err := svc.DeletePackage(ctx, bob, "g/1"); err != nil {
			t.Fatal(err)
		}
		changes = stateChanges(t, s)
		if last := changes[len(changes)-1]; last.ModelPackageStatus != "Deleting" || last.ModelPackageVersion != 1 {
			t.Fatalf("delete event %+v", last)
		}
		if err := svc.DeletePackage(ctx, bob, "g/1"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if err := svc.DeleteGroup(ctx, "g"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestListAndLatestApproved(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := newService(t, s)
		svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "list"})
		if _, err := svc.LatestApproved(ctx, "list"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("latest approved of an empty group: %v", err)
		}
		statuses := []registry.ApprovalStatus{registry.Approved, registry.Approved, registry.Rejected, registry.PendingManualApproval, registry.Approved, registry.PendingManualApproval}
		for _, st := range statuses {
			if _, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "list", ApprovalStatus: st}); err != nil {
				t.Fatal(err)
			}
		}
		latest, err := svc.LatestApproved(ctx, "list")
		if err != nil || latest.Version != 5 {
			t.Fatalf("latest approved = v%d, %v; want v5", latest.Version, err)
		}
		var versions []int
		var after *registry.Cursor
		for {
			page, err := svc.ListPackages(ctx, registry.PackageQuery{Group: "list", Descending: true, After: after, Limit: 4})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Packages {
				versions = append(versions, p.Version)
			}
			if page.Next == nil {
				break
			}
			after = page.Next
		}
		if fmt.Sprint(versions) != "[6 5 4 3 2 1]" {
			t.Fatalf("paged descending: %v", versions)
		}
		page, err := svc.ListPackages(ctx, registry.PackageQuery{Group: "ghost", Limit: 10})
		if err != nil || len(page.Packages) != 0 {
			t.Fatalf("unknown group lists %d, %v; want empty", len(page.Packages), err)
		}
		// Without a group the default is unversioned packages only, as in SageMaker.
		page, _ = svc.ListPackages(ctx, registry.PackageQuery{Limit: 10})
		if len(page.Packages) != 0 {
			t.Fatalf("default listing without a group returned %d versions", len(page.Packages))
		}
	})
}

func TestEffect(t *testing.T) {
	cases := []struct {
		name      string
		prev, cur registry.ApprovalStatus
		want      registry.DeployEffect
	}{
		{"created pending", "", registry.PendingManualApproval, registry.NoDeploy},
		{"created approved", "", registry.Approved, registry.DeployThis},
		{"pending to approved", registry.PendingManualApproval, registry.Approved, registry.DeployThis},
		{"pending to rejected", registry.PendingManualApproval, registry.Rejected, registry.NoDeploy},
		{"rejected to approved", registry.Rejected, registry.Approved, registry.DeployThis},
		{"approved to rejected", registry.Approved, registry.Rejected, registry.DeployLatestApproved},
		{"approved to pending", registry.Approved, registry.PendingManualApproval, registry.DeployLatestApproved},
		{"approved deleted", registry.Approved, "", registry.DeployLatestApproved},
		{"rejected deleted", registry.Rejected, "", registry.NoDeploy},
		{"unchanged", registry.Approved, registry.Approved, registry.NoDeploy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := registry.Effect(tc.prev, tc.cur); got != tc.want {
				t.Fatalf("Effect(%q, %q) = %v, want %v", tc.prev, tc.cur, got, tc.want)
			}
		})
	}
}

// TestDomainImports keeps the registry free of HTTP and SQL drivers: it reaches the database
// through the store only.
func TestDomainImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	forbidden := []string{"net/http", "database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/sluice-ml/sluice/internal/awsapi"}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s; the registry must reach the database through the store and leave the wire to the api package", f, path)
				}
			}
		}
	}
}

// BenchmarkCreatePackage measures a version create without HTTP: the domain rules, the store
// transaction and the outbox event, on SQLite.
func BenchmarkCreatePackage(b *testing.B) {
	s := storetest.SQLite(b)
	svc := &registry.Service{Store: s, ARNs: arns{}}
	ctx := context.Background()
	svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "bench"})
	in := registry.NewPackage{GroupName: "bench", Spec: registry.Spec{InferenceSpecification: json.RawMessage(inferenceSpec)}, CustomerMetadata: map[string]string{"rmse": "2.1"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.CreatePackage(ctx, alice, in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentRetriesWithOneToken: clients retrying one request at the same moment (the same
// ClientToken) get one version between them.
func TestConcurrentRetriesWithOneToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := newService(t, s)
		svc.CreateGroup(ctx, alice, registry.NewGroup{Name: "retry"})
		const n = 12
		var wg sync.WaitGroup
		got := make(chan string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := svc.CreatePackage(ctx, alice, registry.NewPackage{GroupName: "retry", ClientToken: "same-request"})
				if err != nil {
					t.Error(err)
					return
				}
				got <- p.ARN
			}()
		}
		wg.Wait()
		close(got)
		for arn := range got {
			if arn != "arn:aws:sagemaker:us-east-1:000000000000:model-package/retry/1" {
				t.Fatalf("a retry got %s; every retry must get version 1", arn)
			}
		}
		if g, _ := svc.Group(ctx, "retry"); g.LatestVersion != 1 {
			t.Fatalf("%d versions issued for one request", g.LatestVersion)
		}
	})
}
