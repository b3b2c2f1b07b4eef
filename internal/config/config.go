// Package config holds the server's typed configuration: defaults, a YAML file, SLUICE_*
// environment variables and command-line flags, layered in that order, then validated.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is everything `sluice server` needs to start.
type Config struct {
	// Listen is the address of the API (control plane, runtime, native API, metrics).
	Listen string `yaml:"listen"`
	// DataDir holds the embedded database, local artifacts, job workspaces and credentials.
	DataDir string `yaml:"data_dir"`
	// Database is empty for the embedded SQLite database, or a postgres:// DSN.
	Database string `yaml:"database"`
	// Region and AccountID appear in every ARN and in the credentials profile.
	Region    string `yaml:"region"`
	AccountID string `yaml:"account_id"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	Blob BlobConfig `yaml:"blob"`
	Jobs JobsConfig `yaml:"jobs"`
}

// BlobConfig chooses where artifacts live.
type BlobConfig struct {
	// Backend is "local" (folders under DataDir/blobs) or "s3".
	Backend     string `yaml:"backend"`
	S3Endpoint  string `yaml:"s3_endpoint"`
	S3Region    string `yaml:"s3_region"`
	S3AccessKey string `yaml:"s3_access_key"`
	S3SecretKey string `yaml:"s3_secret_key"`
	S3PathStyle bool   `yaml:"s3_path_style"`
}

// JobsConfig sizes the job runner.
type JobsConfig struct {
	// Slots is how many jobs run at once; more wait in the queue.
	Slots int `yaml:"slots"`
	// Python is the interpreter that runs SageMaker framework images (SKLearn, PyTorch, …).
	Python string `yaml:"python"`
	// Images maps user image URIs (exact, or a pattern in which '*' matches any characters) to
	// the local command line that stands for the image's ENTRYPOINT, split into words as a shell
	// would (quotes and backslashes), without expansion.
	Images map[string]string `yaml:"images"`
}

// Default returns the embedded-default configuration.
func Default() Config {
	return Config{
		Listen:    "127.0.0.1:7070",
		DataDir:   ".sluice",
		Region:    "us-east-1",
		AccountID: "000000000000",
		LogLevel:  "info",
		LogFormat: "text",
		Blob:      BlobConfig{Backend: "local", S3Region: "us-east-1", S3PathStyle: true},
		Jobs:      JobsConfig{Slots: 4, Python: "python3"},
	}
}

// DefaultDataDir is $SLUICE_HOME, or ./.sluice.
func DefaultDataDir() string {
	if h := os.Getenv("SLUICE_HOME"); h != "" {
		return h
	}
	return ".sluice"
}

// LoadFile overlays a YAML file onto c. Unknown keys are an error, so a typo is not ignored.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// envVars maps SLUICE_* variables to the fields they set.
func (c *Config) envVars() map[string]any {
	return map[string]any{
		"SLUICE_LISTEN":        &c.Listen,
		"SLUICE_HOME":          &c.DataDir,
		"SLUICE_DATABASE":      &c.Database,
		"SLUICE_REGION":        &c.Region,
		"SLUICE_ACCOUNT_ID":    &c.AccountID,
		"SLUICE_LOG_LEVEL":     &c.LogLevel,
		"SLUICE_LOG_FORMAT":    &c.LogFormat,
		"SLUICE_BLOB_BACKEND":  &c.Blob.Backend,
		"SLUICE_S3_ENDPOINT":   &c.Blob.S3Endpoint,
		"SLUICE_S3_REGION":     &c.Blob.S3Region,
		"SLUICE_S3_ACCESS_KEY": &c.Blob.S3AccessKey,
		"SLUICE_S3_SECRET_KEY": &c.Blob.S3SecretKey,
		"SLUICE_S3_PATH_STYLE": &c.Blob.S3PathStyle,
		"SLUICE_JOB_SLOTS":     &c.Jobs.Slots,
		"SLUICE_PYTHON":        &c.Jobs.Python,
	}
}

// LoadEnv overlays SLUICE_* environment variables onto c.
func (c *Config) LoadEnv(getenv func(string) string) error {
	for name, ptr := range c.envVars() {
		v := getenv(name)
		if v == "" {
			continue
		}
		switch p := ptr.(type) {
		case *string:
			*p = v
		case *int:
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("config: %s=%q: expected an integer", name, v)
			}
			*p = n
		case *bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("config: %s=%q: expected true or false", name, v)
			}
			*p = b
		}
	}
	return nil
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)
var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// Validate checks every field and reports all problems at once.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: expected host:port, e.g. 127.0.0.1:7070", c.Listen))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") && !strings.HasPrefix(c.Database, "sqlite:") {
		errs = append(errs, errors.New("database: expected empty (embedded SQLite), sqlite:PATH or postgres://…"))
	}
	if !regionRE.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("region %q: expected an AWS-style region such as us-east-1", c.Region))
	}
	if !accountRE.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("account_id %q: expected 12 digits", c.AccountID))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: expected debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: expected text or json", c.LogFormat))
	}
	switch c.Blob.Backend {
	case "local":
	case "s3":
		if c.Blob.S3Endpoint == "" {
			errs = append(errs, errors.New("blob.s3_endpoint: required when blob.backend is s3"))
		}
	default:
		errs = append(errs, fmt.Errorf("blob.backend %q: expected local or s3", c.Blob.Backend))
	}
	if c.Jobs.Slots < 1 || c.Jobs.Slots > 1024 {
		errs = append(errs, fmt.Errorf("jobs.slots %d: expected 1 to 1024", c.Jobs.Slots))
	}
	return errors.Join(errs...)
}

// Path returns a path inside the data directory.
func (c *Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.DataDir}, elem...)...)
}

// String prints the configuration with secrets masked, for `sluice server --print-config`.
func (c Config) String() string {
	if c.Blob.S3SecretKey != "" {
		c.Blob.S3SecretKey = "xxxxx"
	}
	b, _ := yaml.Marshal(c)
	return string(b)
}
