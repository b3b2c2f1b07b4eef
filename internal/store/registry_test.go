package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

const groupARNPrefix = "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/"

func newGroup(t *testing.T, s *store.Store, name string, created time.Time) store.ModelPackageGroup {
	t.Helper()
	g := store.ModelPackageGroup{ARN: groupARNPrefix + strings.ToLower(name), Name: name, Status: "Completed", CreatedAt: created, CreatedBy: json.RawMessage(`{"UserProfileName":"alice"}`)}
	if err := s.InTx(context.Background(), func(tx *store.Tx) error { return tx.InsertModelPackageGroup(context.Background(), &g) }); err != nil {
		t.Fatalf("insert group %s: %v", name, err)
	}
	return g
}

// addVersion creates the next version of a group the way the registry does.
func addVersion(ctx context.Context, s *store.Store, groupARN, status string, now time.Time) (store.ModelPackage, error) {
	var p store.ModelPackage
	err := s.InTx(ctx, func(tx *store.Tx) error {
		g, v, created, err := tx.NextVersion(ctx, groupARN, now)
		if err != nil {
			return err
		}
		p = store.ModelPackage{
			GroupID: g.ID, GroupName: g.Name, Name: g.Name, Version: v,
			ARN:            fmt.Sprintf("arn:aws:sagemaker:us-east-1:000000000000:model-package/%s/%d", strings.ToLower(g.Name), v),
			ApprovalStatus: status, Status: "Completed", CreatedAt: created, ModifiedAt: created,
			Spec: json.RawMessage(`{"InferenceSpecification":{"Containers":[{"Image":"img"}]}}`),
		}
		return tx.InsertModelPackage(ctx, &p)
	})
	return p, err
}

func TestModelPackageGroupRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		g := newGroup(t, s, "Churn", now)
		dup := store.ModelPackageGroup{ARN: g.ARN, Name: "churn", Status: "Completed", CreatedAt: now}
		err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertModelPackageGroup(ctx, &dup) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate group: got %v, want ErrConflict", err)
		}
		got, err := s.ModelPackageGroup(ctx, g.ARN)
		if err != nil || got.Name != "Churn" || !got.CreatedAt.Equal(now) || string(got.CreatedBy) != `{"UserProfileName":"alice"}` {
			t.Fatalf("ModelPackageGroup = %+v, %v", got, err)
		}
		if _, err := s.ModelPackageGroup(ctx, groupARNPrefix+"nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing group: %v", err)
		}
		if _, err := addVersion(ctx, s, g.ARN, "Approved", now); err != nil {
			t.Fatal(err)
		}
		// The foreign key refuses to drop a group that still holds versions.
		err = s.InTx(ctx, func(tx *store.Tx) error {
			locked, err := tx.LockModelPackageGroup(ctx, g.ARN)
			if err != nil {
				return err
			}
			if n, err := tx.CountModelPackages(ctx, locked.ID); err != nil || n != 1 {
				t.Errorf("CountModelPackages = %d, %v", n, err)
			}
			return tx.DeleteModelPackageGroup(ctx, locked.ID)
		})
		if err == nil {
			t.Fatal("deleted a group that holds a version")
		}
		if _, err := s.ModelPackageGroup(ctx, g.ARN); err != nil {
			t.Fatalf("group gone after a refused delete: %v", err)
		}
	})
}

func TestNextVersionUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		g := newGroup(t, s, "race", time.Now())
		other := newGroup(t, s, "other", time.Now())
		const n = 60
		var wg sync.WaitGroup
		errs := make(chan error, n)
		// A fixed clock makes every create ask for the same time: the group row must still hand
		// out strictly increasing creation times.
		fixed := time.Now().UTC().Truncate(time.Microsecond)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				arn := g.ARN
				if i%4 == 0 {
					arn = other.ARN
				}
				_, err := addVersion(ctx, s, arn, "PendingManualApproval", fixed)
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, grp := range []store.ModelPackageGroup{g, other} {
			ps, err := s.ListModelPackages(ctx, store.ModelPackageQuery{GroupARN: grp.ARN, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			want := n * 3 / 4
			if grp.ARN == other.ARN {
				want = n / 4
			}
			if len(ps) != want {
				t.Fatalf("%s: %d versions, want %d", grp.Name, len(ps), want)
			}
			for i, p := range ps {
				if p.Version != int64(i+1) {
					t.Fatalf("%s: version at position %d is %d; versions must be 1..%d in creation order", grp.Name, i, p.Version, want)
				}
				if i > 0 && !p.CreatedAt.After(ps[i-1].CreatedAt) {
					t.Fatalf("%s: version %d created at %v, not after version %d at %v", grp.Name, p.Version, p.CreatedAt, ps[i-1].Version, ps[i-1].CreatedAt)
				}
			}
			locked, _ := s.ModelPackageGroup(ctx, grp.ARN)
			if locked.LatestVersion != int64(want) {
				t.Fatalf("%s: latest_version = %d, want %d", grp.Name, locked.LatestVersion, want)
			}
		}
	})
}

func TestModelPackageRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		g := newGroup(t, s, "rows", time.Now())
		p, err := addVersion(ctx, s, g.ARN, "PendingManualApproval", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ModelPackage(ctx, p.ARN)
		if err != nil || got.Version != 1 || got.GroupID != g.ID || string(got.Spec) != string(p.Spec) || got.CustomerMetadata != nil {
			t.Fatalf("ModelPackage = %+v, %v", got, err)
		}
		err = s.InTx(ctx, func(tx *store.Tx) error {
			locked, err := tx.LockModelPackage(ctx, p.ARN)
			if err != nil {
				return err
			}
			locked.ApprovalStatus = "Approved"
			locked.ApprovalDescription = "looks good"
			locked.CustomerMetadata = map[string]string{"team": "risk"}
			locked.ModifiedAt = time.Now()
			locked.ModifiedBy = json.RawMessage(`{"UserProfileName":"bob"}`)
			return tx.UpdateModelPackage(ctx, locked)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = s.ModelPackage(ctx, p.ARN)
		if got.ApprovalStatus != "Approved" || got.ApprovalDescription != "looks good" || got.CustomerMetadata["team"] != "risk" || string(got.ModifiedBy) != `{"UserProfileName":"bob"}` {
			t.Fatalf("after update: %+v", got)
		}

		// Unversioned packages live beside versions and are listed by default without a group.
		u := store.ModelPackage{ARN: "arn:aws:sagemaker:us-east-1:000000000000:model-package/solo", Name: "solo", ApprovalStatus: "", Status: "Completed", CreatedAt: time.Now(), ModifiedAt: time.Now(), ClientToken: "tok-1"}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertModelPackage(ctx, &u) }); err != nil {
			t.Fatal(err)
		}
		dup := u
		dup.ARN += "-2"
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertModelPackage(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("reused client token: %v", err)
		}
		err = s.InTx(ctx, func(tx *store.Tx) error {
			byTok, err := tx.ModelPackageByClientToken(ctx, "tok-1")
			if err != nil || byTok.ARN != u.ARN {
				t.Errorf("ModelPackageByClientToken = %+v, %v", byTok, err)
			}
			return nil
		})
		for typ, want := range map[string]int{"": 1, store.PackagesUnversioned: 1, store.PackagesVersioned: 1, store.PackagesBoth: 2} {
			ps, err := s.ListModelPackages(ctx, store.ModelPackageQuery{Type: typ, Limit: 10})
			if err != nil || len(ps) != want {
				t.Fatalf("type %q: %d packages, %v; want %d", typ, len(ps), err, want)
			}
		}
		if ps, _ := s.ListModelPackages(ctx, store.ModelPackageQuery{GroupARN: g.ARN, Type: store.PackagesUnversioned, Limit: 10}); len(ps) != 0 {
			t.Fatalf("a group holds no unversioned packages, got %d", len(ps))
		}

		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteModelPackage(ctx, got.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ModelPackage(ctx, p.ARN); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		// A deleted version's number is not issued again.
		next, err := addVersion(ctx, s, g.ARN, "Approved", time.Now())
		if err != nil || next.Version != 2 {
			t.Fatalf("version after delete = %d, %v; want 2", next.Version, err)
		}
	})
}

func TestListModelPackagesFiltersAndPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		g := newGroup(t, s, "pages", base)
		other := newGroup(t, s, "pages-other", base)
		statuses := []string{"Approved", "Rejected", "PendingManualApproval"}
		var all []store.ModelPackage
		for i := 0; i < 30; i++ {
			p, err := addVersion(ctx, s, g.ARN, statuses[i%3], base.Add(time.Duration(i)*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, p)
			if _, err := addVersion(ctx, s, other.ARN, "Approved", base.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		// Latest approved: newest Approved version of the group.
		latest, err := s.ListModelPackages(ctx, store.ModelPackageQuery{GroupARN: g.ARN, ApprovalStatus: "Approved", Descending: true, Limit: 1})
		if err != nil || len(latest) != 1 || latest[0].Version != 28 {
			t.Fatalf("latest approved = %+v, %v; want version 28", latest, err)
		}
		// Time window, exclusive at both ends.
		win, _ := s.ListModelPackages(ctx, store.ModelPackageQuery{GroupARN: g.ARN, CreatedAfter: all[4].CreatedAt, CreatedBefore: all[10].CreatedAt, Limit: 100})
		if len(win) != 5 || win[0].Version != 6 || win[4].Version != 10 {
			t.Fatalf("window: %d rows from %v", len(win), versions(win))
		}
		for _, desc := range []bool{false, true} {
			// Page through by 7 while new versions arrive: every original row is seen once, in order.
			var seen []int64
			var after *store.Cursor
			for page := 0; ; page++ {
				ps, err := s.ListModelPackages(ctx, store.ModelPackageQuery{GroupARN: g.ARN, ApprovalStatus: "Approved", Descending: desc, After: after, Limit: 7})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					seen = append(seen, p.Version)
				}
				if len(ps) < 7 {
					break
				}
				c := ps[len(ps)-1].SortKey(false)
				after = &c
				if page == 0 {
					if _, err := addVersion(ctx, s, g.ARN, "Approved", base.Add(-time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
			}
			sorted := sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] < seen[j] })
			if desc {
				sorted = sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] > seen[j] })
			}
			if !sorted || len(seen) < 10 {
				t.Fatalf("desc=%v: pages gave %v", desc, seen)
			}
			dups := map[int64]bool{}
			for _, v := range seen {
				if dups[v] {
					t.Fatalf("desc=%v: version %d seen twice: %v", desc, v, seen)
				}
				dups[v] = true
			}
		}
		// Name sort and NameContains across groups.
		byName, err := s.ListModelPackages(ctx, store.ModelPackageQuery{Type: store.PackagesVersioned, NameContains: "OTHER", SortByName: true, Limit: 100})
		if err != nil || len(byName) != 30 || byName[0].GroupName != "pages-other" {
			t.Fatalf("NameContains OTHER: %d rows, %v", len(byName), err)
		}
		groups, err := s.ListModelPackageGroups(ctx, store.ModelPackageGroupQuery{SortByName: true, Descending: true, Limit: 10})
		if err != nil || len(groups) != 2 || groups[0].Name != "pages-other" {
			t.Fatalf("groups by name desc: %+v, %v", groups, err)
		}
		c := groups[0].SortKey(true)
		rest, err := s.ListModelPackageGroups(ctx, store.ModelPackageGroupQuery{SortByName: true, Descending: true, After: &c, Limit: 10})
		if err != nil || len(rest) != 1 || rest[0].Name != "pages" {
			t.Fatalf("groups page 2: %+v, %v", rest, err)
		}
		wild, _ := s.ListModelPackageGroups(ctx, store.ModelPackageGroupQuery{NameContains: "%", Limit: 10})
		if len(wild) != 0 {
			t.Fatalf("NameContains %% matched %d groups; LIKE wildcards must be literal", len(wild))
		}
	})
}

func versions(ps []store.ModelPackage) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.Version
	}
	return out
}

// TestLatestApprovedUsesIndex guards the query plan of the "latest approved" lookup that deploy
// pipelines and CI scripts run: it must probe the (group, status, time) index, not scan.
func TestLatestApprovedUsesIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		g := newGroup(t, s, "plan", time.Now())
		// Mostly unapproved versions, as in a real group: the status filter is selective.
		for i := 0; i < 200; i++ {
			status := "PendingManualApproval"
			if i%20 == 0 {
				status = "Approved"
			}
			if _, err := addVersion(ctx, s, g.ARN, status, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Read().ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		q := `SELECT id FROM model_packages WHERE group_id = (SELECT id FROM model_package_groups WHERE arn = $1) AND approval_status = $2 ORDER BY created_at DESC, id DESC LIMIT 2`
		db, ok := s.Read().(interface {
			Conn(context.Context) (*sql.Conn, error)
		})
		if !ok {
			t.Fatalf("Read() is %T, which gives no connection of its own", s.Read())
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain := "EXPLAIN QUERY PLAN "
		if s.Dialect() == store.Postgres {
			explain = "EXPLAIN "
			// A tiny table tempts the planner into a sequential scan; the plan at scale is what
			// matters, so make scans look expensive on this connection.
			if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := conn.QueryContext(ctx, explain+q, g.ARN, "Approved")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan strings.Builder
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			fmt.Fprintln(&plan, vals...)
		}
		if !strings.Contains(plan.String(), "model_packages_latest") {
			t.Fatalf("latest-approved query does not use model_packages_latest:\n%s", plan.String())
		}
	})
}

func TestBulkImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		g := newGroup(t, s, "bulk", now)
		if _, err := addVersion(ctx, s, g.ARN, "Approved", now); err != nil {
			t.Fatal(err)
		}
		const n = 1234
		err := s.InTx(ctx, func(tx *store.Tx) error {
			grp, first, created, err := tx.ReserveVersions(ctx, g.ARN, n, now)
			if err != nil {
				return err
			}
			if first != 2 || !created.Equal(now.Add(time.Millisecond)) {
				t.Errorf("ReserveVersions = first %d at %v; want 2 at %v (1 ms after version 1)", first, created, now.Add(time.Millisecond))
			}
			ps := make([]store.ModelPackage, n)
			for i := range ps {
				v := first + int64(i)
				at := created.Add(time.Duration(i) * time.Millisecond)
				ps[i] = store.ModelPackage{GroupID: grp.ID, GroupName: grp.Name, Name: grp.Name, Version: v, Status: "Completed", ApprovalStatus: "PendingManualApproval",
					ARN: fmt.Sprintf("arn:aws:sagemaker:us-east-1:000000000000:model-package/bulk/%d", v), CreatedAt: at, ModifiedAt: at}
			}
			return tx.InsertModelPackages(ctx, ps)
		})
		if err != nil {
			t.Fatal(err)
		}
		next, err := addVersion(ctx, s, g.ARN, "Approved", now)
		if err != nil || next.Version != n+2 || !next.CreatedAt.Equal(now.Add(time.Duration(n+1)*time.Millisecond)) {
			t.Fatalf("version after the import = %d at %v, %v", next.Version, next.CreatedAt, err)
		}
		latest, _ := s.ListModelPackages(ctx, store.ModelPackageQuery{GroupARN: g.ARN, Descending: true, Limit: 3})
		if fmt.Sprint(versions(latest)) != fmt.Sprintf("[%d %d %d]", n+2, n+1, n) {
			t.Fatalf("newest versions %v", versions(latest))
		}
		dup := []store.ModelPackage{{GroupID: g.ID, GroupName: "bulk", Name: "bulk", Version: 3, ARN: "arn:x", Status: "Completed"}}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.InsertModelPackages(ctx, dup) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("bulk insert of a taken version: %v", err)
		}
	})
}
