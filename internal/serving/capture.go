package serving

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
)

// CaptureConfig is an endpoint's DataCaptureConfig as the router applies it.
type CaptureConfig struct {
	// Destination is the s3:// prefix (DestinationS3Uri). Files are written under
	// <Destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/.
	Destination string
	// SamplingPercentage is the share of requests captured, 0 to 100.
	SamplingPercentage float64
	// CaptureInput and CaptureOutput select the sides recorded (CaptureOptions).
	CaptureInput, CaptureOutput bool
	// CSVContentTypes and JSONContentTypes are stored as text with encoding CSV or JSON; any
	// other content type is stored as BASE64 (CaptureContentTypeHeader).
	CSVContentTypes, JSONContentTypes []string
}

// captureSpec is a validated CaptureConfig.
type captureSpec struct {
	dest      blob.URI
	percent   float64
	in, out   bool
	csv, json []string
}

func (c *CaptureConfig) compile() (*captureSpec, error) {
	u, err := blob.ParseURI(c.Destination)
	if err != nil {
		return nil, fmt.Errorf("data capture destination: %w", err)
	}
	if !(c.SamplingPercentage >= 0 && c.SamplingPercentage <= 100) {
		return nil, fmt.Errorf("data capture sampling percentage %v is not between 0 and 100", c.SamplingPercentage)
	}
	if !c.CaptureInput && !c.CaptureOutput {
		return nil, errors.New("data capture records neither input nor output")
	}
	lower := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = strings.ToLower(strings.TrimSpace(s))
		}
		return out
	}
	return &captureSpec{dest: u, percent: c.SamplingPercentage, in: c.CaptureInput, out: c.CaptureOutput,
		csv: lower(c.CSVContentTypes), json: lower(c.JSONContentTypes)}, nil
}

// encoding is how a captured payload is stored.
func (s *captureSpec) encoding(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch {
	case slices.Contains(s.csv, mt):
		return "CSV"
	case slices.Contains(s.json, mt):
		return "JSON"
	}
	return "BASE64"
}

// captureRecord is one sampled invocation on its way to the writer.
type captureRecord struct {
	spec              *captureSpec
	endpoint, variant string
	at                time.Time
	inferenceID       string
	inType, outType   string
	in, out           []byte
}

// CapturerConfig configures a Capturer.
type CapturerConfig struct {
	// Store receives the capture files.
	Store blob.Store
	// FlushInterval is how often buffered records are written; default 5 s.
	FlushInterval time.Duration
	// FileBytes is the buffered size at which a file is written at once; default 4 MiB.
	FileBytes int
	// Queue is how many records may wait for the writer; beyond it records are dropped (and
	// counted) so that capture never slows the hot path. Default 4096.
	Queue int
	Log   *slog.Logger
}

// Capturer writes sampled request/response records as JSON Lines in SageMaker's data capture
// format. The router hands it records without blocking; Run buffers them per file and writes
// each file in one Put.
type Capturer struct {
	store     blob.Store
	every     time.Duration
	fileBytes int
	log       *slog.Logger
	records   chan captureRecord
	flushes   chan chan error

	captured atomic.Uint64
	dropped  atomic.Uint64
	failed   atomic.Uint64
}

// NewCapturer returns a capturer; call Run to write.
func NewCapturer(cfg CapturerConfig) *Capturer {
	c := &Capturer{store: cfg.Store, every: cfg.FlushInterval, fileBytes: cfg.FileBytes, log: cfg.Log,
		records: make(chan captureRecord, max(cfg.Queue, 1)), flushes: make(chan chan error)}
	if cfg.Queue <= 0 {
		c.records = make(chan captureRecord, 4096)
	}
	if c.every <= 0 {
		c.every = 5 * time.Second
	}
	if c.fileBytes <= 0 {
		c.fileBytes = 4 << 20
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// CaptureStats counts records.
type CaptureStats struct {
	// Captured records were written to the store; Dropped never reached the writer (queue
	// full); Failed were lost to a failed write.
	Captured, Dropped, Failed uint64
}

// Stats returns the capturer's counters.
func (c *Capturer) Stats() CaptureStats {
	return CaptureStats{Captured: c.captured.Load(), Dropped: c.dropped.Load(), Failed: c.failed.Load()}
}

// offer samples one invocation and queues it without blocking.
func (c *Capturer) offer(t *table, rt *route, req *Request, resp *Response, at time.Time, rnd func() uint64) {
	s := t.capture
	if s.percent < 100 && unit(rnd())*100 >= s.percent {
		return
	}
	rec := captureRecord{spec: s, endpoint: t.endpoint, variant: rt.variant, at: at, inferenceID: req.InferenceID,
		inType: req.ContentType, outType: resp.ContentType}
	if s.in {
		rec.in = slices.Clone(req.Body)
	}
	if s.out {
		rec.out = slices.Clone(resp.Body)
	}
	select {
	case c.records <- rec:
	default:
		c.dropped.Add(1)
	}
}

// Flush writes everything queued so far and waits for it; Run must be running.
func (c *Capturer) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case c.flushes <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// captureFile is the buffer of one output file: one endpoint variant and hour.
type captureFile struct {
	dir blob.URI
	buf bytes.Buffer
	n   int
}

// Run writes records until ctx ends, then writes what is buffered and returns.
func (c *Capturer) Run(ctx context.Context) error {
	files := map[string]*captureFile{}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	write := func(ctx context.Context, key string, f *captureFile) error {
		delete(files, key)
		if f.n == 0 {
			return nil
		}
		now := time.Now().UTC()
		name := fmt.Sprintf("%s-%03d-%s.jsonl", now.Format("04-05"), now.Nanosecond()/1e6, newUUID())
		u := f.dir.Join(name)
		err := c.store.Put(ctx, u, bytes.NewReader(f.buf.Bytes()), int64(f.buf.Len()))
		if errors.Is(err, blob.ErrNotExist) && blob.EnsureBucket(ctx, c.store, u.Bucket) == nil {
			// Like jobs' outputs, capture creates its bucket when the backend lacks it.
			err = c.store.Put(ctx, u, bytes.NewReader(f.buf.Bytes()), int64(f.buf.Len()))
		}
		if err != nil {
			c.failed.Add(uint64(f.n))
			c.log.Warn("data capture write failed", "uri", u.String(), "records", f.n, slog.Any("error", err))
			return err
		}
		c.captured.Add(uint64(f.n))
		return nil
	}
	writeAll := func(ctx context.Context) error {
		var errs []error
		for k, f := range files {
			if err := write(ctx, k, f); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	add := func(rec captureRecord) {
		hour := rec.at.UTC().Format("2006/01/02/15")
		key := rec.spec.dest.String() + "\x00" + rec.endpoint + "\x00" + rec.variant + "\x00" + hour
		f := files[key]
		if f == nil {
			f = &captureFile{dir: rec.spec.dest.Join(path.Join(rec.endpoint, rec.variant, hour) + "/")}
			files[key] = f
		}
		line, err := encodeCapture(rec)
		if err != nil {
			c.failed.Add(1)
			return
		}
		f.buf.Write(line)
		f.buf.WriteByte('\n')
		f.n++
		if f.buf.Len() >= c.fileBytes {
			write(ctx, key, f)
		}
	}
	drain := func() {
		for {
			select {
			case rec := <-c.records:
				add(rec)
			default:
				return
			}
		}
	}
	for {
		select {
		case rec := <-c.records:
			add(rec)
		case <-tick.C:
			writeAll(ctx)
		case done := <-c.flushes:
			drain()
			done <- writeAll(ctx)
		case <-ctx.Done():
			drain()
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			writeAll(wctx)
			cancel()
			return nil
		}
	}
}

type captureData struct {
	ObservedContentType string `json:"observedContentType"`
	Mode                string `json:"mode"`
	Data                string `json:"data"`
	Encoding            string `json:"encoding"`
}

type captureLine struct {
	CaptureData struct {
		EndpointInput  *captureData `json:"endpointInput,omitempty"`
		EndpointOutput *captureData `json:"endpointOutput,omitempty"`
	} `json:"captureData"`
	EventMetadata struct {
		EventID       string `json:"eventId"`
		InferenceID   string `json:"inferenceId,omitempty"`
		InferenceTime string `json:"inferenceTime"`
	} `json:"eventMetadata"`
	EventVersion string `json:"eventVersion"`
}

func encodeCapture(rec captureRecord) ([]byte, error) {
	side := func(ct, mode string, body []byte) *captureData {
		d := &captureData{ObservedContentType: ct, Mode: mode, Encoding: rec.spec.encoding(ct)}
		if d.Encoding == "BASE64" {
			d.Data = base64.StdEncoding.EncodeToString(body)
		} else {
			d.Data = string(body)
		}
		return d
	}
	var l captureLine
	if rec.spec.in {
		l.CaptureData.EndpointInput = side(rec.inType, "INPUT", rec.in)
	}
	if rec.spec.out {
		l.CaptureData.EndpointOutput = side(rec.outType, "OUTPUT", rec.out)
	}
	l.EventMetadata.EventID = newUUID()
	l.EventMetadata.InferenceID = rec.inferenceID
	l.EventMetadata.InferenceTime = rec.at.UTC().Format("2006-01-02T15:04:05.000Z")
	l.EventVersion = "0"
	return json.Marshal(l)
}

// newUUID returns a random version-4 UUID.
func newUUID() string {
	a, b := rand.Uint64(), rand.Uint64()
	b = b&^(0xc0<<56) | 0x80<<56
	a = a&^(0xf<<12) | 0x4<<12
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}
