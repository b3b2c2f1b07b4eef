// Package project scaffolds new Sluice projects from templates: a build pipeline, a deploy
// pipeline with its environments and endpoint tests, the project's own test script and CI
// configurations that drive the sluice CLI.
package project

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/sluice-ml/sluice/examples/abalone"
	"github.com/sluice-ml/sluice/examples/deploy"
)

// templateFS holds every template; files ending in .tmpl are rendered, the rest copied.
//
//go:embed all:templates
var templateFS embed.FS

// ErrUnknownTemplate is returned for a template name that is not embedded.
var ErrUnknownTemplate = errors.New("unknown template")

// ErrNotEmpty is returned when the target directory has files and Force is not set.
var ErrNotEmpty = errors.New("directory is not empty")

// namePattern is SageMaker's pattern for pipeline, endpoint and model package group names.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)

// maxNameLen leaves room for the "-staging" and "-deploy" suffixes within SageMaker's 63
// characters for endpoint names.
const maxNameLen = 50

// Options says what to scaffold where.
type Options struct {
	Template string // a name from Templates
	Dir      string // the directory to write into; created if missing
	Name     string // project name; default: Dir's base name
	Force    bool   // write into a non-empty directory, replacing files of the same name
}

// Templates lists the embedded template names, sorted.
func Templates() []string {
	ents, _ := fs.ReadDir(templateFS, "templates")
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// ValidateName checks name against SageMaker's resource name pattern, since the project name
// becomes the model package group, pipeline and endpoint names.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("project name: empty")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("project name %q: longer than %d characters", name, maxNameLen)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("project name %q: use letters, digits and single hyphens inside (SageMaker's ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$)", name)
	}
	return nil
}

// data is what templates see.
type data struct {
	Name           string // project name, also the model package group
	BuildPipeline  string // pipeline names on the server
	DeployPipeline string
	BuildDef       string // rendered definitions and configs
	DeployDef      string
	StagingConfig  string
	ProdConfig     string
	EndpointTests  string
}

// Init renders the template into opts.Dir and returns the paths it wrote, relative to Dir.
func Init(opts Options) ([]string, error) {
	if opts.Template == "" {
		return nil, fmt.Errorf("project init: no template (available: %s)", strings.Join(Templates(), ", "))
	}
	root := path.Join("templates", opts.Template)
	if st, err := fs.Stat(templateFS, root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("project init: %w %q (available: %s)", ErrUnknownTemplate, opts.Template, strings.Join(Templates(), ", "))
	}
	name := opts.Name
	if name == "" {
		abs, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("project init: %w", err)
		}
		name = filepath.Base(abs)
	}
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("project init: %w (pick one with --name)", err)
	}
	if ents, err := os.ReadDir(opts.Dir); err == nil && len(ents) > 0 && !opts.Force {
		return nil, fmt.Errorf("project init: %s: %w (use --force to write into it)", opts.Dir, ErrNotEmpty)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("project init: %w", err)
	}
	d, err := newData(name)
	if err != nil {
		return nil, fmt.Errorf("project init: %w", err)
	}
	var written []string
	err = fs.WalkDir(templateFS, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, root+"/")
		b, err := templateFS.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(rel, ".tmpl") {
			rel = strings.TrimSuffix(rel, ".tmpl")
			// [[ ]] delimiters leave GitHub's ${{ }} and CircleCI's << >> alone.
			t, err := template.New(rel).Delims("[[", "]]").Option("missingkey=error").Parse(string(b))
			if err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			var buf bytes.Buffer
			if err := t.Execute(&buf, d); err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			b = buf.Bytes()
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		dst := filepath.Join(opts.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return err
		}
		// WriteFile keeps an existing file's mode; a script must stay executable.
		if err := os.Chmod(dst, mode); err != nil {
			return err
		}
		written = append(written, rel)
		return nil
	})
	if err != nil {
		return written, fmt.Errorf("project init: %w", err)
	}
	sort.Strings(written)
	return written, nil
}

// newData derives the project's definitions from the examples' so the scaffold stays in step
// with them: the abalone build pipeline registering into the project's group, and the deploy
// pipeline and environments with the project's endpoint names.
func newData(name string) (data, error) {
	d := data{Name: name, BuildPipeline: name + "-build", DeployPipeline: name + "-deploy"}
	group := `"` + abalone.ModelPackageGroup + `"`
	if !strings.Contains(abalone.Definition, group) {
		return d, fmt.Errorf("build pipeline: example no longer names %s", group)
	}
	d.BuildDef = strings.ReplaceAll(abalone.Definition, group, `"`+name+`"`)
	rename := func(s string) string { return strings.ReplaceAll(s, "abalone", name) }
	d.DeployDef = rename(deploy.Definition)
	d.StagingConfig = rename(deploy.StagingConfig)
	d.ProdConfig = rename(deploy.ProdConfig)
	tests, err := endpointTests(deploy.Definition)
	if err != nil {
		return d, err
	}
	d.EndpointTests = tests
	return d, nil
}

// endpointTests lifts the payloads and assertions of the deploy pipeline's endpoint-test step
// into a file of their own, the part a project edits when its model's input changes.
func endpointTests(def string) (string, error) {
	var doc struct {
		Steps []struct {
			Type      string
			Arguments map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(def), &doc); err != nil {
		return "", fmt.Errorf("deploy pipeline: %w", err)
	}
	for _, s := range doc.Steps {
		if s.Type != "Sluice:EndpointTest" {
			continue
		}
		out := map[string]json.RawMessage{}
		for k, v := range s.Arguments {
			if k != "Environment" && k != "EndpointName" {
				out[k] = v
			}
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return "", err
		}
		return string(b) + "\n", nil
	}
	return "", errors.New("deploy pipeline: no Sluice:EndpointTest step")
}
