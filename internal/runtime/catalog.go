package runtime

import (
	"errors"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Mode is how SageMaker starts a container: the argument of `docker run <image>`.
type Mode string

// The three ways a container is started.
const (
	// ModeTrain is a training job (`docker run <image> train`).
	ModeTrain Mode = "train"
	// ModeProcess is a processing job (`docker run <image>`).
	ModeProcess Mode = "process"
	// ModeServe is a model server for an endpoint or a transform job
	// (`docker run <image> serve`).
	ModeServe Mode = "serve"
)

func (m Mode) valid() bool {
	return m == ModeTrain || m == ModeProcess || m == ModeServe
}

// BuiltinPrefix starts the name of every built-in image: "sluice/<name>[:tag]".
const BuiltinPrefix = "sluice/"

// PythonEnvVar is the environment variable the configuration layer reads into
// [CatalogConfig.Python].
const PythonEnvVar = "SLUICE_PYTHON"

// Errors callers branch on. Resolve wraps them with the image and the reason.
var (
	// ErrUnknownImage means no mapping, built-in or first-party image matches.
	ErrUnknownImage = errors.New("unknown image")
	// ErrUnsupportedMode means the image is known but cannot run in the requested
	// mode without a ContainerEntrypoint (or a sagemaker_program).
	ErrUnsupportedMode = errors.New("image does not support this mode")
)

// Command is a host program: what an image's ENTRYPOINT and CMD become.
type Command struct {
	// Path is the program: an absolute path, or a name looked up on the job's PATH
	// when the job starts.
	Path string
	// Args are the program's arguments, without the program name itself.
	Args []string
	// Env holds "KEY=value" entries the image contributes (as an image's ENV does).
	Env []string
	// Dir is the working directory as the job sees it (e.g. /opt/ml/code); empty
	// means /opt/ml.
	Dir string
}

// Mapping maps images to a local command, for images that are not built in.
type Mapping struct {
	// Image is the ImageUri pattern: an exact name, or a pattern in which '*'
	// matches any run of characters, '/' included ("registry.local/team/*",
	// "*.dkr.ecr.*.amazonaws.com/my-algo:*").
	Image string `json:"image" yaml:"image"`
	// Entrypoint is the host command that stands for the image's ENTRYPOINT. As
	// with the real image, SageMaker's mode argument follows it: "train" for
	// training and "serve" for serving; nothing for processing.
	Entrypoint []string `json:"entrypoint" yaml:"entrypoint"`
	// Env holds extra "KEY=value" entries for every job that uses the image.
	Env []string `json:"env,omitempty" yaml:"env,omitempty"`
}

// CatalogConfig configures a [Catalog].
type CatalogConfig struct {
	// Executable is the sluice binary that built-in images re-execute
	// (os.Executable() in production). Required.
	Executable string
	// Python is the interpreter that "python3" in an image means: a path, or a
	// name looked up on PATH when a command is resolved. Default "python3". The
	// configuration layer fills it from SLUICE_PYTHON.
	Python string
	// Builtins are the names of the built-in images (sluice/<name>). Default
	// [DefaultBuiltins].
	Builtins []string
	// Mappings are user images, tried in order before anything else.
	Mappings []Mapping
}

// DefaultBuiltins returns the names of the algorithms the sluice binary ships.
func DefaultBuiltins() []string {
	return []string{"xgboost", "prep", "evaluate", "synth"}
}

// Catalog resolves image URIs to host commands. It is safe for concurrent use.
type Catalog struct {
	exe      string
	python   string
	builtins []string
	mappings []Mapping
	// lookPath finds a program on the server's PATH; a seam for tests.
	lookPath func(string) (string, error)
}

// NewCatalog validates cfg and returns a catalog.
func NewCatalog(cfg CatalogConfig) (*Catalog, error) {
	if cfg.Executable == "" {
		return nil, errors.New("runtime: catalog: Executable (the sluice binary) is required")
	}
	c := &Catalog{
		exe:      cfg.Executable,
		python:   cfg.Python,
		builtins: slices.Clone(cfg.Builtins),
		lookPath: exec.LookPath,
	}
	if c.python == "" {
		c.python = "python3"
	}
	if c.builtins == nil {
		c.builtins = DefaultBuiltins()
	}
	for i, m := range cfg.Mappings {
		if m.Image == "" {
			return nil, fmt.Errorf("runtime: catalog: image mapping %d: image pattern is empty", i)
		}
		if len(m.Entrypoint) == 0 || m.Entrypoint[0] == "" {
			return nil, fmt.Errorf("runtime: catalog: image mapping %q: entrypoint is empty; give the local command that runs the image", m.Image)
		}
		for _, kv := range m.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return nil, fmt.Errorf("runtime: catalog: image mapping %q: env entry %q is not KEY=value", m.Image, kv)
			}
		}
		c.mappings = append(c.mappings, Mapping{
			Image:      m.Image,
			Entrypoint: slices.Clone(m.Entrypoint),
			Env:        slices.Clone(m.Env),
		})
	}
	return c, nil
}

// Request is what SageMaker's API says about how to start a container.
type Request struct {
	// Image is the ImageUri (TrainingImage, AppSpecification.ImageUri,
	// ContainerDefinition.Image).
	Image string
	// Mode is how the container is started.
	Mode Mode
	// Entrypoint is ContainerEntrypoint, if any.
	Entrypoint []string
	// Arguments is ContainerArguments, if any.
	Arguments []string
	// HyperParameters are a training job's hyperparameters, as sent (string to
	// string, framework values JSON-encoded). They select script mode.
	HyperParameters map[string]string
}

// imageDef is what the catalog knows about one image: docker's ENTRYPOINT and
// per-mode CMD, translated to the host.
type imageDef struct {
	// entrypoint is the host ENTRYPOINT; nil when the image has no runnable
	// default of its own here.
	entrypoint []string
	// cmd is the default CMD per mode; a missing mode is unsupported without an
	// explicit entrypoint.
	cmd map[Mode][]string
	// scriptMode marks framework images that run sagemaker_program in training.
	scriptMode bool
	// env is the image's ENV.
	env []string
	// why explains a missing mode in errors.
	why string
}

// Resolve returns the host command for r.
func (c *Catalog) Resolve(r Request) (Command, error) {
	if r.Image == "" {
		return Command{}, errors.New("runtime: image is empty")
	}
	if !r.Mode.valid() {
		return Command{}, fmt.Errorf("runtime: image %q: mode %q is not one of train, process, serve", r.Image, r.Mode)
	}
	def, err := c.lookup(r.Image)
	if err != nil {
		return Command{}, err
	}

	// An explicit entrypoint wins over everything the image would do (docker
	// semantics): its CMD is dropped and ContainerArguments follow it.
	if len(r.Entrypoint) > 0 {
		argv := append(slices.Clone(r.Entrypoint), r.Arguments...)
		return c.command(r.Image, argv, def.env, "", def.entrypoint)
	}

	if r.Mode == ModeTrain && def.scriptMode {
		program, ok, err := scriptProgram(r.HyperParameters)
		if err != nil {
			return Command{}, fmt.Errorf("runtime: image %q: %w", r.Image, err)
		}
		if ok {
			return c.scriptCommand(r.Image, program, r.HyperParameters, def.env)
		}
	}

	cmd, ok := def.cmd[r.Mode]
	if !ok || def.entrypoint == nil {
		hint := "set ContainerEntrypoint"
		switch {
		case r.Mode == ModeServe:
			hint = "map the image to a local command in the server configuration"
		case r.Mode == ModeTrain && def.scriptMode:
			hint = "set the sagemaker_program hyperparameter (script mode) or ContainerEntrypoint"
		}
		if def.why != "" {
			hint = def.why + "; " + hint
		}
		return Command{}, fmt.Errorf("runtime: image %q cannot %s by itself (%s): %w", r.Image, r.Mode, hint, ErrUnsupportedMode)
	}
	if r.Arguments != nil {
		cmd = r.Arguments
	}
	argv := append(slices.Clone(def.entrypoint), cmd...)
	return c.command(r.Image, argv, def.env, "", def.entrypoint)
}

// lookup finds the definition of an image: mappings, built-ins, first-party.
func (c *Catalog) lookup(image string) (imageDef, error) {
	for _, m := range c.mappings {
		if matchImage(m.Image, image) {
			return imageDef{
				entrypoint: m.Entrypoint,
				cmd:        map[Mode][]string{ModeTrain: {"train"}, ModeProcess: nil, ModeServe: {"serve"}},
				env:        m.Env,
			}, nil
		}
	}
	if rest, ok := strings.CutPrefix(image, BuiltinPrefix); ok {
		name, _, _ := strings.Cut(rest, ":")
		name, _, _ = strings.Cut(name, "@")
		if !slices.Contains(c.builtins, name) {
			return imageDef{}, fmt.Errorf("runtime: image %q: no built-in image %q (built-ins: %s): %w",
				image, name, c.builtinList(), ErrUnknownImage)
		}
		return c.builtinDef(name, map[Mode][]string{
			ModeTrain: {"train"}, ModeProcess: {"process"}, ModeServe: {"serve"},
		}, false, ""), nil
	}
	if repo, ok := firstPartyRepository(image); ok {
		if fp, ok := firstPartyImages[repo]; ok {
			if fp.builtin == "" {
				return imageDef{scriptMode: fp.scriptMode, env: pythonEnv(), why: fp.why}, nil
			}
			cmd := map[Mode][]string{}
			for _, m := range fp.builtinModes {
				cmd[m] = []string{string(m)}
			}
			def := c.builtinDef(fp.builtin, cmd, fp.scriptMode, fp.why)
			def.env = pythonEnv()
			return def, nil
		}
		return imageDef{}, fmt.Errorf("runtime: image %q: SageMaker repository %q is not one sluice can run (known: %s); map the image to a local command in the server configuration: %w",
			image, repo, strings.Join(firstPartyNames(), ", "), ErrUnknownImage)
	}
	return imageDef{}, fmt.Errorf("runtime: image %q: not a built-in image (%s) or a SageMaker image; map it to a local command (an image pattern and its entrypoint) in the server configuration: %w",
		image, c.builtinList(), ErrUnknownImage)
}

func (c *Catalog) builtinDef(name string, cmd map[Mode][]string, scriptMode bool, why string) imageDef {
	return imageDef{
		entrypoint: []string{c.exe, "algo", name},
		cmd:        cmd,
		scriptMode: scriptMode,
		why:        why,
	}
}

func (c *Catalog) builtinList() string {
	names := make([]string, len(c.builtins))
	for i, b := range c.builtins {
		names[i] = BuiltinPrefix + b
	}
	return strings.Join(names, ", ")
}

// command turns an argv as the container would see it into a host command: the
// python interpreter and the sluice binary are the host's.
func (c *Catalog) command(image string, argv, env []string, dir string, imageEntrypoint []string) (Command, error) {
	prog := argv[0]
	switch {
	case isPython(prog):
		p, err := c.pythonPath(image)
		if err != nil {
			return Command{}, err
		}
		prog = p
	case prog == "sluice" && len(imageEntrypoint) > 0 && imageEntrypoint[0] == c.exe:
		// A built-in image's own binary.
		prog = c.exe
	}
	return Command{Path: prog, Args: slices.Clone(argv[1:]), Env: slices.Clone(env), Dir: dir}, nil
}

func (c *Catalog) pythonPath(image string) (string, error) {
	if strings.ContainsRune(c.python, '/') {
		return c.python, nil
	}
	p, err := c.lookPath(c.python)
	if err != nil {
		return "", fmt.Errorf("runtime: image %q needs a Python interpreter: %q is not on PATH (set %s to one): %w",
			image, c.python, PythonEnvVar, err)
	}
	return p, nil
}

// scriptCommand is SageMaker's script mode: the user's entry point from
// sagemaker_submit_directory (unpacked by the caller into /opt/ml/code) with the
// other hyperparameters as --name value arguments.
func (c *Catalog) scriptCommand(image, program string, hps map[string]string, env []string) (Command, error) {
	args := userArgs(hps)
	script := path.Join(CodeDir, program)
	var argv []string
	switch {
	case strings.HasSuffix(program, ".py"):
		argv = []string{"python3", script}
	case strings.HasSuffix(program, ".sh"):
		argv = []string{"/bin/sh", script}
	default:
		argv = []string{script}
	}
	return c.command(image, append(argv, args...), env, CodeDir, nil)
}

// scriptProgram returns the decoded sagemaker_program hyperparameter.
func scriptProgram(hps map[string]string) (string, bool, error) {
	raw, ok := hps["sagemaker_program"]
	if !ok {
		return "", false, nil
	}
	v, ok := decodeHyperParameter(raw).(string)
	if !ok || v == "" {
		return "", false, fmt.Errorf("hyperparameter sagemaker_program %q is not a file name", raw)
	}
	clean := path.Clean(v)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", false, fmt.Errorf("hyperparameter sagemaker_program %q must name a file inside the source directory", v)
	}
	return clean, true, nil
}

var pythonName = regexp.MustCompile(`^python[0-9.]*$`)

// isPython reports whether a container's program is a Python interpreter, by its
// base name: a container's interpreter path means nothing on the host.
func isPython(prog string) bool {
	return pythonName.MatchString(path.Base(prog))
}

// pythonEnv is the ENV SageMaker's Python images set so that logs stream.
func pythonEnv() []string {
	return []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}
}

// matchImage matches an image against a pattern in which '*' matches any run of
// characters.
func matchImage(pattern, image string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == image
	}
	if !strings.HasPrefix(image, parts[0]) {
		return false
	}
	image = image[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(image, p)
		if i < 0 {
			return false
		}
		image = image[i+len(p):]
	}
	return len(image) >= len(last) && strings.HasSuffix(image, last)
}
