package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/store"
)

// SecondaryTransforming is the step of a transform job's timeline while records flow.
const SecondaryTransforming = "Transforming"

// fileState is one input file while the job runs: its row, and counters the workers update
// and the progress writer reads.
type fileState struct {
	mu  sync.Mutex
	row store.TransformFile

	records   atomic.Int64
	bytesRead atomic.Int64
}

func (f *fileState) setStatus(status, errMsg string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.row.Status, f.row.Error = status, errMsg
	if status == store.TransformFileRunning {
		f.row.StartedAt = now
	}
}

// snapshot returns the row with the current counters.
func (f *fileState) snapshot(now time.Time) store.TransformFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	row := f.row
	row.Records, row.BytesRead, row.UpdatedAt = f.records.Load(), f.bytesRead.Load(), now
	return row
}

// Execute runs one attempt of a transform job for the job runner (jobs.Executor).
func (s *Service) Execute(run *jobs.Run) jobs.Result {
	ctx := run.Context()
	clientError := func(format string, args ...any) jobs.Result {
		msg := "ClientError: " + fmt.Sprintf(format, args...)
		return jobs.Result{Status: jobs.StatusFailed, Message: "Transform job failed", Reason: msg}
	}
	stopped := func() jobs.Result {
		return jobs.Result{Status: jobs.StatusStopped, Message: "The transform job was stopped."}
	}
	var spec Spec
	if err := json.Unmarshal(run.Spec(), &spec); err != nil {
		return jobs.Result{Err: fmt.Errorf("the stored request cannot be read: %w", err)}
	}
	pl, err := newPlan(&spec)
	if err != nil {
		return clientError("%v", err)
	}
	model, err := s.cfg.Models.DescribeModel(ctx, spec.ModelName)
	if err != nil {
		var he *hosting.Error
		if errors.As(err, &he) {
			return clientError("%s", he.Message)
		}
		if ctx.Err() != nil {
			return stopped()
		}
		return jobs.Result{Err: err}
	}
	files, err := s.inputFiles(ctx, run.ARN(), &spec)
	if err != nil {
		var ce *clientErr
		switch {
		case ctx.Err() != nil:
			return stopped()
		case errors.As(err, &ce):
			return clientError("%s", ce.msg)
		}
		return jobs.Result{Err: err}
	}
	states, todo := s.resume(ctx, run, files)
	run.Logf("%d input file(s), %s in all; %d to transform", len(files), byteSize(totalSize(files)), len(todo))

	start := time.Now()
	images := make([]string, len(model.Resolved))
	for i, c := range model.Resolved {
		images[i] = c.Image
	}
	run.Logf("starting model %s (%s)", model.ModelName, strings.Join(images, ", "))
	server, err := s.cfg.Host.StartModel(ctx, modelSpec(model, pl, &spec))
	if err != nil {
		if ctx.Err() != nil {
			return stopped()
		}
		return clientError("the model %s could not start: %v", model.ModelName, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		server.Close(cctx)
	}()
	ep, ok, err := pl.resolve(ctx, server)
	switch {
	case err != nil:
		run.Logf("the model's execution parameters could not be read (%v); using the job's settings and the defaults", err)
	case ok:
		run.Logf("the model's execution parameters: MaxConcurrentTransforms %d, BatchStrategy %s, MaxPayloadInMB %d", ep.MaxConcurrentTransforms, ep.BatchStrategy, ep.MaxPayloadInMB)
	}
	run.Logf("model %s is up (%s server) after %s; %s", model.ModelName, server.Status().Kind, time.Since(start).Round(time.Millisecond), pl.describe())
	if err := run.Step(SecondaryTransforming, "Transforming the input data", true); err != nil {
		return jobs.Result{Err: err}
	}
	if len(todo) > 0 {
		out, _ := blob.ParseURI(spec.TransformOutput.S3OutputPath)
		if err := blob.EnsureBucket(ctx, s.cfg.Blob, out.Bucket); err != nil && ctx.Err() == nil {
			return clientError("the output bucket %s cannot be used: %v", out.Bucket, err)
		}
	}

	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		s.writeProgress(ctx, states, progressDone)
	}()

	pool := &sync.Pool{New: func() any { b := make([]byte, 0, pl.maxPayload); return &b }}
	var failed []*fileState
	var failedMu sync.Mutex
	var wg sync.WaitGroup
	for w := range pl.instances {
		wg.Go(func() {
			for _, st := range todo {
				if st.row.Seq%pl.instances != w {
					continue
				}
				if ctx.Err() != nil {
					return
				}
				began := time.Now()
				st.records.Store(0)
				st.bytesRead.Store(0)
				st.setStatus(store.TransformFileRunning, "", s.cfg.Now().UTC())
				fr := &fileRun{pl: pl, model: server, blob: s.cfg.Blob, st: st, pool: pool, logf: run.Logf}
				err := fr.run(ctx)
				switch {
				case err == nil:
					st.setStatus(store.TransformFileDone, "", time.Time{})
					el := time.Since(began)
					run.Logf("%s: %d records in %s (%s/s) -> %s", st.row.InputURI, st.records.Load(), el.Round(time.Millisecond),
						byteSize(int64(float64(st.bytesRead.Load())/max(el.Seconds(), 1e-9))), st.row.OutputURI)
				case ctx.Err() != nil:
					st.setStatus(store.TransformFilePending, "", time.Time{})
				default:
					st.setStatus(store.TransformFileFailed, err.Error(), time.Time{})
					run.Logf("%s failed: %v", st.row.InputURI, err)
					failedMu.Lock()
					failed = append(failed, st)
					failedMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(progressDone)
	<-progressStopped

	if ctx.Err() != nil {
		return stopped()
	}
	if len(failed) > 0 {
		sort.Slice(failed, func(i, j int) bool { return failed[i].row.Seq < failed[j].row.Seq })
		first := failed[0].snapshot(time.Time{})
		prefix := ""
		if len(failed) > 1 {
			prefix = fmt.Sprintf("%d of %d input files failed; the first: ", len(failed), len(files))
		}
		return clientError("%s%s, %s", prefix, first.InputURI, first.Error)
	}
	var records int64
	for _, st := range states {
		records += st.records.Load()
	}
	return jobs.Result{Status: jobs.StatusCompleted, Message: fmt.Sprintf("Transform job completed: %d file(s), %d records", len(files), records)}
}

// clientErr is a problem with the job's input that the job's owner must fix.
type clientErr struct{ msg string }

func (e *clientErr) Error() string { return e.msg }

// inputFiles returns the job's input files: those an earlier attempt listed, or the objects
// under the prefix (or in the manifest), each with its output location, recorded now.
func (s *Service) inputFiles(ctx context.Context, arn string, spec *Spec) ([]store.TransformFile, error) {
	files, err := s.cfg.Store.TransformFiles(ctx, arn)
	if err != nil || len(files) > 0 {
		return files, err
	}
	ds := spec.TransformInput.DataSource.S3DataSource
	src, err := blob.ParseURI(ds.S3Uri)
	if err != nil {
		return nil, &clientErr{err.Error()}
	}
	outPrefix, err := blob.ParseURI(spec.TransformOutput.S3OutputPath)
	if err != nil {
		return nil, &clientErr{err.Error()}
	}
	type object struct {
		u    blob.URI
		rel  string
		size int64
	}
	var objects []object
	seen := map[string]string{}
	add := func(prefix blob.URI, u blob.URI, size int64) error {
		rel, err := blob.RelPath(prefix, u.Key)
		if err != nil {
			return &clientErr{err.Error()}
		}
		if other, dup := seen[rel]; dup {
			return &clientErr{fmt.Sprintf("%s and %s would both be written to %s.out", other, u, rel)}
		}
		seen[rel] = u.String()
		objects = append(objects, object{u, rel, size})
		return nil
	}
	switch ds.S3DataType {
	case DataManifestFile:
		rc, err := s.cfg.Blob.Get(ctx, src)
		if err != nil {
			if errors.Is(err, blob.ErrNotExist) {
				return nil, &clientErr{fmt.Sprintf("the manifest %s does not exist", src)}
			}
			return nil, err
		}
		prefix, listed, err := blob.ParseManifest(rc)
		rc.Close()
		if err != nil {
			return nil, &clientErr{fmt.Sprintf("%v (in %s)", err, src)}
		}
		for _, u := range listed {
			info, err := s.cfg.Blob.Stat(ctx, u)
			if err != nil {
				if errors.Is(err, blob.ErrNotExist) {
					return nil, &clientErr{fmt.Sprintf("the manifest %s lists %s, which does not exist", src, u)}
				}
				return nil, err
			}
			if err := add(prefix, u, info.Size); err != nil {
				return nil, err
			}
		}
	default:
		err := s.cfg.Blob.List(ctx, src, func(oi blob.ObjectInfo) error {
			if strings.HasSuffix(oi.URI.Key, "/") {
				return nil // a folder marker
			}
			return add(src, oi.URI, oi.Size)
		})
		if err != nil && !errors.Is(err, blob.ErrNotExist) {
			return nil, err
		}
		if len(objects) == 0 {
			return nil, &clientErr{fmt.Sprintf("No S3 objects found under S3 URL %q given in input data source. Please ensure that the bucket exists and that objects exist under that S3 prefix.", ds.S3Uri)}
		}
	}
	now := s.cfg.Now().UTC()
	files = make([]store.TransformFile, len(objects))
	for i, o := range objects {
		files[i] = store.TransformFile{JobARN: arn, Seq: i, InputURI: o.u.String(), OutputURI: outPrefix.Join(o.rel + ".out").String(),
			Size: o.size, Status: store.TransformFilePending, UpdatedAt: now}
	}
	err = s.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.InsertTransformFiles(ctx, files) })
	if errors.Is(err, store.ErrConflict) {
		return s.cfg.Store.TransformFiles(ctx, arn) // listed by an attempt that raced this one
	}
	return files, err
}

// resume turns the rows into the run's states and picks the files to transform: all of them,
// except, when an earlier attempt was interrupted, those it finished whose output is there.
func (s *Service) resume(ctx context.Context, run *jobs.Run, files []store.TransformFile) ([]*fileState, []*fileState) {
	states := make([]*fileState, len(files))
	var todo []*fileState
	for i, f := range files {
		st := &fileState{row: f}
		st.records.Store(f.Records)
		st.bytesRead.Store(f.BytesRead)
		states[i] = st
		if f.Status == store.TransformFileDone {
			if u, err := blob.ParseURI(f.OutputURI); err == nil {
				if _, err := s.cfg.Blob.Stat(ctx, u); err == nil {
					continue
				}
			}
		}
		st.row.Status, st.row.Error = store.TransformFilePending, ""
		st.records.Store(0)
		st.bytesRead.Store(0)
		todo = append(todo, st)
	}
	if run.Attempt() > 1 && len(todo) < len(files) {
		run.Logf("attempt %d: %d file(s) were finished by an earlier attempt and are kept", run.Attempt(), len(files)-len(todo))
	}
	return states, todo
}

// writeProgress stores the files' progress every ProgressEvery until done is closed, and
// once more then.
func (s *Service) writeProgress(ctx context.Context, states []*fileState, done <-chan struct{}) {
	last := make([]store.TransformFile, len(states))
	for i, st := range states {
		last[i] = st.snapshot(time.Time{})
	}
	flush := func() {
		wctx := context.WithoutCancel(ctx)
		now := s.cfg.Now().UTC()
		for i, st := range states {
			row := st.snapshot(now)
			prev := last[i]
			if row.Status == prev.Status && row.Records == prev.Records && row.BytesRead == prev.BytesRead && row.Error == prev.Error {
				continue
			}
			if err := s.cfg.Store.UpdateTransformFile(wctx, &row); err != nil {
				s.log.Warn("transform: writing progress", "file", row.InputURI, "error", err)
				continue
			}
			last[i] = row
		}
	}
	tick := time.NewTicker(s.cfg.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			flush()
			return
		case <-tick.C:
			flush()
		}
	}
}

func totalSize(files []store.TransformFile) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

// byteSize formats a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
