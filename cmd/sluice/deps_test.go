package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// domainPackages hold business rules; they must not serve HTTP or speak SQL directly.
var domainPackages = []string{
	"registry", "jobs", "runtime", "algo", "pipeline", "hosting", "serving", "alarm", "promotion", "events", "blob",
}

// forbidden maps an import to the packages allowed to use it despite being a domain package.
var forbidden = map[string][]string{
	"database/sql":                   nil,
	"github.com/jackc/pgx/v5":        nil,
	"github.com/jackc/pgx/v5/stdlib": nil,
	"modernc.org/sqlite":             nil,
}

type pkg struct {
	ImportPath string
	Imports    []string
	CgoFiles   []string
}

func listPackages(t *testing.T, env ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/sluice-ml/sluice/...")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("SKIPPED: go list unavailable: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDomainPackagesStayPure guards the layering of DESIGN.md: domain packages never import SQL
// drivers or database/sql; they reach the database through internal/store.
func TestDomainPackagesStayPure(t *testing.T) {
	for _, p := range listPackages(t) {
		dom := ""
		for _, d := range domainPackages {
			if strings.HasPrefix(p.ImportPath, "github.com/sluice-ml/sluice/internal/"+d) {
				dom = d
			}
		}
		if dom == "" {
			continue
		}
		for _, imp := range p.Imports {
			if _, bad := forbidden[imp]; bad {
				t.Errorf("%s imports %s; domain packages reach the database through internal/store", p.ImportPath, imp)
			}
		}
	}
}

// TestNoCgo guards the single pure-Go binary: the default build needs no C compiler.
func TestNoCgo(t *testing.T) {
	for _, p := range listPackages(t, "CGO_ENABLED=0") {
		if len(p.CgoFiles) > 0 {
			t.Errorf("%s has cgo files %v; the default build must be pure Go", p.ImportPath, p.CgoFiles)
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build failed: %v\n%s", err, out)
	}
}
