package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/store"
)

// openBlobStore opens the artifact store of cfg.Blob, with the job log bucket in place.
func openBlobStore(ctx context.Context, cfg config.Config) (blob.Store, error) {
	bc := blob.Config{
		Backend:   cfg.Blob.Backend,
		LocalRoot: cfg.Path("blobs"),
		S3: blob.S3Config{
			Endpoint:  cfg.Blob.S3Endpoint,
			Region:    cfg.Blob.S3Region,
			AccessKey: cfg.Blob.S3AccessKey,
			SecretKey: cfg.Blob.S3SecretKey,
			PathStyle: cfg.Blob.S3PathStyle,
		},
		Buckets: []string{jobs.DefaultLogBucket},
	}
	s, err := blob.Open(ctx, bc)
	if err != nil {
		return nil, fmt.Errorf("server: artifact store: %w", err)
	}
	return s, nil
}

// closeBlobStore releases the artifact store if its backend holds resources.
func closeBlobStore(s blob.Store) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}

// newJobRunner builds the job runner: the image catalog (built-in images run this executable
// as `sluice algo`, mapped images run their configured command) and the process runtime.
func newJobRunner(cfg config.Config, st *store.Store, bs blob.Store, log *slog.Logger) (*jobs.Runner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("server: finding the sluice executable: %w", err)
	}
	mappings, err := imageMappings(cfg.Jobs.Images)
	if err != nil {
		return nil, err
	}
	catalog, err := runtime.NewCatalog(runtime.CatalogConfig{Executable: exe, Python: cfg.Jobs.Python, Mappings: mappings})
	if err != nil {
		return nil, fmt.Errorf("server: jobs.images: %w", err)
	}
	proc, err := runtime.NewProcess(runtime.ProcessConfig{InitPath: exe, Logger: log})
	if err != nil {
		return nil, err
	}
	return jobs.New(jobs.Config{
		Store: st, Blob: bs, Catalog: catalog, Process: proc,
		Dir: cfg.Path("jobs"), Slots: cfg.Jobs.Slots,
		Region: cfg.Region, AccountID: cfg.AccountID,
		Log: log,
	})
}

// imageMappings turns the configuration's image → command line map into catalog mappings,
// in a stable order (longest pattern first, so that a specific pattern wins over a wildcard).
func imageMappings(images map[string]string) ([]runtime.Mapping, error) {
	patterns := make([]string, 0, len(images))
	for p := range images {
		patterns = append(patterns, p)
	}
	slices.SortFunc(patterns, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	var out []runtime.Mapping
	for _, p := range patterns {
		argv, err := splitCommand(images[p])
		if err != nil {
			return nil, fmt.Errorf("server: jobs.images[%q]: %w", p, err)
		}
		if len(argv) == 0 {
			return nil, fmt.Errorf("server: jobs.images[%q]: the command is empty", p)
		}
		out = append(out, runtime.Mapping{Image: p, Entrypoint: argv})
	}
	return out, nil
}

// splitCommand splits a command line into words the way a shell would for plain words, single
// and double quotes and backslash escapes; it expands nothing.
func splitCommand(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
