package serving

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
)

// HostConfig configures a Host.
type HostConfig struct {
	// Blob holds model artifacts (ModelDataUrl).
	Blob blob.Store
	// Catalog resolves images to serving commands.
	Catalog *runtime.Catalog
	// Runtime starts container replicas.
	Runtime *runtime.Process
	// WorkDir holds one folder per started model: artifacts, code and replica logs.
	WorkDir string
	// PreferredPort is the port a model's only replica gets when it is free (SageMaker's
	// 8080, so a server that ignores SAGEMAKER_BIND_TO_PORT still works); 0 means 8080 and a
	// negative value always picks a free port.
	PreferredPort int
	// HealthInterval is how often running replicas are pinged; default 5 s.
	HealthInterval time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when a replica stops; default 30 s,
	// as SageMaker gives containers.
	StopGrace time.Duration
	Log       *slog.Logger
}

// Host starts model servers on this machine. It is safe for concurrent use.
type Host struct {
	blob        blob.Store
	catalog     *runtime.Catalog
	runtime     *runtime.Process
	workDir     string
	preferPort  int
	healthEvery time.Duration
	stopGrace   time.Duration
	log         *slog.Logger

	shimOnce sync.Once
	shimPath string
	shimErr  error

	portsMu sync.Mutex
	ports   map[int]bool // ports handed to replicas that are still running
}

// NewHost returns a Host.
func NewHost(cfg HostConfig) (*Host, error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("serving: host: WorkDir is required")
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("serving: host: %w", err)
	}
	h := &Host{blob: cfg.Blob, catalog: cfg.Catalog, runtime: cfg.Runtime, workDir: cfg.WorkDir,
		preferPort: cfg.PreferredPort, healthEvery: cfg.HealthInterval, stopGrace: cfg.StopGrace, log: cfg.Log,
		ports: map[int]bool{}}
	if h.preferPort == 0 {
		h.preferPort = 8080
	}
	if h.healthEvery <= 0 {
		h.healthEvery = 5 * time.Second
	}
	if h.stopGrace <= 0 {
		h.stopGrace = 30 * time.Second
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// StartModel fetches the model's artifacts, starts spec.Replicas replicas of it and returns
// once all are healthy. On failure nothing is left running.
func (h *Host) StartModel(ctx context.Context, spec ModelSpec) (ModelServer, error) {
	if len(spec.Containers) == 0 {
		return nil, fmt.Errorf("serving: model %s has no container", spec.Name)
	}
	if spec.Replicas < 0 {
		return nil, fmt.Errorf("serving: model %s: %d replicas: the count cannot be negative", spec.Name, spec.Replicas)
	}
	dir := filepath.Join(h.workDir, fleetID(spec.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	var stages []ModelServer
	fail := func(err error) (ModelServer, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, s := range stages {
			s.Close(cctx)
		}
		os.RemoveAll(dir)
		return nil, err
	}
	for i, c := range spec.Containers {
		s, err := h.startContainer(ctx, spec, i, c, filepath.Join(dir, "c"+strconv.Itoa(i)), filepath.Join(dir, "logs"))
		if err != nil {
			return fail(err)
		}
		stages = append(stages, s)
	}
	if len(stages) == 1 {
		switch s := stages[0].(type) {
		case *containerFleet:
			s.removeDir = dir
		default:
			os.RemoveAll(dir)
		}
		return stages[0], nil
	}
	return &pipelineServer{name: spec.Name, stages: stages, dir: dir}, nil
}

// fleetID names a started model's folder: the model name and a random suffix.
func fleetID(model string) string {
	var b [4]byte
	rand.Read(b[:])
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, model)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return clean + "-" + hex.EncodeToString(b[:])
}

// serverKind is how a container is served.
type serverKind int

const (
	kindNative serverKind = iota
	kindFramework
	kindContainer
)

// ecrRepository returns the repository of a SageMaker ECR image URI.
var ecrImage = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)(?::[A-Za-z0-9._-]+)?(?:@sha256:[0-9a-f]{64})?$`)

func ecrRepository(image string) string {
	if m := ecrImage.FindStringSubmatch(image); m != nil {
		return m[1]
	}
	return ""
}

// Frameworks whose serving Sluice implements with the inference toolkit's contract.
var frameworkImages = map[string]string{
	"sagemaker-scikit-learn": "sklearn",
	"sagemaker-xgboost":      "xgboost",
}

// classify decides how a container is served: user mappings in the catalog win; the
// built-in XGBoost server becomes the in-process native server; the scikit-learn image, and
// the XGBoost image with a user script (SAGEMAKER_PROGRAM), run the framework server.
func (h *Host) classify(c ContainerSpec) (serverKind, runtime.Command, string, error) {
	if h.catalog == nil {
		return 0, runtime.Command{}, "", errors.New("serving: no image catalog configured")
	}
	framework := frameworkImages[ecrRepository(c.Image)]
	cmd, err := h.catalog.Resolve(runtime.Request{Image: c.Image, Mode: runtime.ModeServe})
	if err == nil {
		builtinXGB := len(cmd.Args) >= 3 && cmd.Args[0] == "algo" && cmd.Args[1] == "xgboost" && cmd.Args[2] == "serve"
		switch {
		case builtinXGB && framework != "" && c.Environment["SAGEMAKER_PROGRAM"] != "":
			return kindFramework, runtime.Command{}, framework, nil
		case builtinXGB:
			return kindNative, runtime.Command{}, "", nil
		}
		return kindContainer, cmd, "", nil
	}
	if errors.Is(err, runtime.ErrUnsupportedMode) && framework != "" {
		return kindFramework, runtime.Command{}, framework, nil
	}
	return 0, runtime.Command{}, "", fmt.Errorf("serving: %w", err)
}

func (h *Host) startContainer(ctx context.Context, spec ModelSpec, i int, c ContainerSpec, ws, logDir string) (ModelServer, error) {
	name := c.Hostname
	if name == "" {
		name = "primary"
		if len(spec.Containers) > 1 {
			name = "container-" + strconv.Itoa(i+1)
		}
	}
	kind, cmd, framework, err := h.classify(c)
	if err != nil {
		return nil, fmt.Errorf("serving: model %s, container %s: %w", spec.Name, name, err)
	}
	modelDir := filepath.Join(ws, "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	if err := h.fetch(ctx, c, modelDir); err != nil {
		return nil, fmt.Errorf("serving: model %s, container %s: %w", spec.Name, name, err)
	}
	if kind == kindNative {
		pred, err := LoadXGBoostDir(modelDir)
		if err != nil {
			return nil, fmt.Errorf("serving: model %s, container %s: %w", spec.Name, name, err)
		}
		return NewNativeServer(pred, c.Environment["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"], spec.Replicas), nil
	}

	env := slices.Clone(spec.Env)
	for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
		env = append(env, k+"="+c.Environment[k])
	}
	kindName := "container"
	if kind == kindFramework {
		kindName = "framework"
		cmd, env, err = h.frameworkCommand(ctx, c, framework, ws, env)
		if err != nil {
			return nil, fmt.Errorf("serving: model %s, container %s: %w", spec.Name, name, err)
		}
	}
	if h.runtime == nil {
		return nil, errors.New("serving: no process runtime configured")
	}
	if spec.NetworkIsolation {
		if err := h.runtime.ServerIsolation(ctx); err != nil {
			return nil, fmt.Errorf("serving: model %s asks for network isolation (EnableNetworkIsolation): %w", spec.Name, err)
		}
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	cfg := containerConfig{model: spec.Name, container: name, kind: kindName, command: cmd, workspace: ws, logDir: logDir, env: env,
		startup: spec.StartupTimeout, timeout: spec.InvocationTimeout, conc: spec.Concurrency, isolate: spec.NetworkIsolation}
	if cfg.startup <= 0 {
		cfg.startup = DefaultStartupTimeout
	}
	if cfg.timeout <= 0 {
		cfg.timeout = DefaultInvocationTimeout
	}
	if cfg.conc <= 0 {
		cfg.conc = defaultConcurrency
	}
	f := newContainerFleet(h, cfg)
	if spec.Replicas > 0 {
		if err := f.grow(ctx, spec.Replicas); err != nil {
			f.Close(context.Background())
			return nil, err
		}
	}
	return f, nil
}

// fetch places the container's model artifacts in modelDir.
func (h *Host) fetch(ctx context.Context, c ContainerSpec, modelDir string) error {
	if c.ModelDataURL == "" {
		return nil
	}
	if h.blob == nil {
		return errors.New("no artifact store configured")
	}
	u, err := blob.ParseURI(c.ModelDataURL)
	if err != nil {
		return fmt.Errorf("model data: %w", err)
	}
	if c.ModelDataUncompressed {
		if u.IsPrefix() {
			if err := blob.DownloadPrefix(ctx, h.blob, u, modelDir, nil); err != nil {
				return fmt.Errorf("model data %s: %w", u, err)
			}
			return nil
		}
		return copyObject(ctx, h.blob, u, filepath.Join(modelDir, u.Base()))
	}
	rc, err := h.blob.Get(ctx, u)
	if err != nil {
		if errors.Is(err, blob.ErrNotExist) {
			return fmt.Errorf("model data %s does not exist; upload the model.tar.gz there or fix ModelDataUrl", u)
		}
		return fmt.Errorf("model data %s: %w", u, err)
	}
	defer rc.Close()
	if err := blob.UnpackTarGz(rc, modelDir); err != nil {
		return fmt.Errorf("model data %s: not a model.tar.gz SageMaker could extract: %w", u, err)
	}
	return nil
}

func copyObject(ctx context.Context, s blob.Store, u blob.URI, dst string) error {
	rc, err := s.Get(ctx, u)
	if err != nil {
		return fmt.Errorf("model data %s: %w", u, err)
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("model data %s: %w", u, err)
	}
	return f.Close()
}

// takePort returns a free loopback port for a replica: the preferred port when the replica
// is its fleet's only one and the port is free, otherwise one the kernel picks.
func (h *Host) takePort(alone bool) (int, error) {
	h.portsMu.Lock()
	defer h.portsMu.Unlock()
	if alone && h.preferPort > 0 && !h.ports[h.preferPort] {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(h.preferPort)); err == nil {
			l.Close()
			h.ports[h.preferPort] = true
			return h.preferPort, nil
		}
	}
	for range 16 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("serving: find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !h.ports[port] {
			h.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("serving: find a free port: the kernel kept offering ports in use")
}

func (h *Host) releasePort(port int) {
	h.portsMu.Lock()
	delete(h.ports, port)
	h.portsMu.Unlock()
}

// CheckImage reports whether an image can be served here, without starting anything: an image
// the catalog cannot resolve for serving is refused with the catalog's explanation.
func (h *Host) CheckImage(image string, env map[string]string) error {
	_, _, _, err := h.classify(ContainerSpec{Image: image, Environment: env})
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "serving: "), "runtime: ")
		return errors.New(msg)
	}
	return nil
}
