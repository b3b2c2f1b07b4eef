package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
)

// maxLine bounds the part of a log line that metric definitions look at.
const maxLine = 64 << 10

// logSink receives a job's stdout and stderr: it appends them to the log file and feeds every
// complete line to the metric scanner.
type logSink struct {
	mu      sync.Mutex
	f       *os.File
	partial []byte
	metrics *metricScanner
	now     func() time.Time
}

// unlinkStoredLog gives a job that runs again after a crash a log file of its own when the
// one it had was already stored by linking (blob.PutFile): the job's next lines must not change
// the stored object. What the log held is kept in the new file.
func unlinkStoredLog(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || singleLink(fi) {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func openLog(path string, metrics *metricScanner, now func() time.Time) (*logSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logSink{f: f, metrics: metrics, now: now}, nil
}

// Write implements io.Writer.
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.f.Write(p)
	if s.metrics != nil {
		s.scan(p[:n])
	}
	return n, err
}

func (s *logSink) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(s.partial) < maxLine {
				s.partial = append(s.partial, p[:min(len(p), maxLine-len(s.partial))]...)
			}
			return
		}
		line := p[:i]
		if len(s.partial) > 0 {
			line = append(s.partial, line[:min(len(line), max(0, maxLine-len(s.partial)))]...)
		}
		s.metrics.observe(string(line), s.now())
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
}

// note writes a line of the runner's own into the log, marked as such.
func (s *logSink) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.f, "[sluice] "+format+"\n", args...)
}

// Close flushes a last line without a newline to the scanner and closes the file.
func (s *logSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metrics != nil && len(s.partial) > 0 {
		s.metrics.observe(string(s.partial), s.now())
		s.partial = nil
	}
	return s.f.Close()
}

// metricScanner applies MetricDefinitions to log lines and keeps each metric's last value.
type metricScanner struct {
	mu   sync.Mutex
	defs []metricDef
	last map[string]MetricData
}

type metricDef struct {
	name string
	re   *regexp.Regexp
}

// compileMetrics compiles the definitions; a regex that does not compile is an invalid request.
func compileMetrics(defs []MetricDefinition) (*metricScanner, error) {
	m := &metricScanner{last: map[string]MetricData{}}
	for i, d := range defs {
		re, err := regexp.Compile(d.Regex)
		if err != nil {
			return nil, invalid("AlgorithmSpecification.MetricDefinitions.%d.Regex %q (metric %q) is not a valid regular expression (RE2 syntax, as in Go; lookarounds are not supported): %v", i+1, d.Regex, d.Name, err)
		}
		m.defs = append(m.defs, metricDef{name: d.Name, re: re})
	}
	return m, nil
}

// observe records the value that each definition finds in line: its first capture group, or
// the whole match when it has none.
func (m *metricScanner) observe(line string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// SageMaker applies MetricDefinitions to the log as CloudWatch stores it, where a tab reads
	// "#011"; regexes written for it (as SageMaker's XGBoost samples are) expect that form, while
	// regexes written by hand may expect a real tab. Try both.
	syslog := strings.ReplaceAll(line, "\t", "#011")
	for _, d := range m.defs {
		sub := d.re.FindStringSubmatch(line)
		if sub == nil && syslog != line {
			sub = d.re.FindStringSubmatch(syslog)
		}
		if sub == nil {
			continue
		}
		text := sub[0]
		if len(sub) > 1 {
			text = sub[1]
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			continue
		}
		m.last[d.name] = MetricData{MetricName: d.name, Value: v, Timestamp: at.UTC()}
	}
}

// final returns the last value of every metric seen, in definition order.
func (m *metricScanner) final() []MetricData {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []MetricData
	seen := map[string]bool{}
	for _, d := range m.defs {
		if v, ok := m.last[d.name]; ok && !seen[d.name] {
			seen[d.name] = true
			out = append(out, v)
		}
	}
	return out
}

// StreamLog copies a job's log, from byte offset on, to w, calling flush after each chunk.
// With follow it keeps copying what the job writes until the job ends. A log whose local file is
// gone (the job ran on another replica, or the data folder was cleaned) is read from the
// artifact store once the job has ended.
func (r *Runner) StreamLog(ctx context.Context, kind Kind, name string, offset int64, follow bool, w io.Writer, flush func()) error {
	if flush == nil {
		flush = func() {}
	}
	path := r.LogPath(kind, name)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		// Read the status before the file: a job is terminal only after its log is complete, so
		// reading to the end afterwards cannot miss a line.
		rec, err := r.load(ctx, kind, name)
		if err != nil {
			return err
		}
		done := Terminal(rec.Status)
		if f == nil {
			f, err = os.Open(path)
			switch {
			case err == nil:
				if offset > 0 {
					if _, err := f.Seek(offset, io.SeekStart); err != nil {
						return fmt.Errorf("jobs: log of %s: %w", name, err)
					}
				}
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("jobs: log of %s: %w", name, err)
			case done:
				return r.streamStoredLog(ctx, kind, name, offset, w, flush)
			}
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			flush()
		}
		if done || !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *Runner) streamStoredLog(ctx context.Context, kind Kind, name string, offset int64, w io.Writer, flush func()) error {
	rc, err := r.blob.Get(ctx, r.logURI(kind, name))
	if errors.Is(err, blob.ErrNotExist) {
		return nil // the job ended before it wrote anything
	}
	if err != nil {
		return fmt.Errorf("jobs: stored log of %s: %w", name, err)
	}
	defer rc.Close()
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
			return nil
		}
	}
	_, err = io.Copy(w, rc)
	flush()
	return err
}

// uploadLog copies a finished job's log to the artifact store. The log is not written again
// once the job has ended, so a store on the same disk may keep the file itself.
func (r *Runner) uploadLog(ctx context.Context, kind Kind, name string) error {
	u, path := r.logURI(kind, name), r.LogPath(kind, name)
	// A job with no log file fails with fs.ErrNotExist, which the caller passes over.
	return r.inBucket(ctx, u.Bucket, func() error { return blob.PutFile(ctx, r.blob, u, path) })
}

// put stores an object, creating the bucket first if the backend says it is missing.
func (r *Runner) put(ctx context.Context, u blob.URI, rd io.ReadSeeker, size int64) error {
	return r.inBucket(ctx, u.Bucket, func() error {
		if _, err := rd.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return r.blob.Put(ctx, u, rd, size)
	})
}

// inBucket runs store and, when the backend says the bucket is missing, creates the bucket
// and runs store once more.
func (r *Runner) inBucket(ctx context.Context, bucket string, store func() error) error {
	err := store()
	if errors.Is(err, blob.ErrNotExist) {
		if berr := blob.EnsureBucket(ctx, r.blob, bucket); berr == nil {
			err = store()
		}
	}
	return err
}
