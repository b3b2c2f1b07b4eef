package transform

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/serving"
)

// batch is one invocation's worth of records of one file.
type batch struct {
	seq int
	// firstLine is the file line of the payload's first line.
	firstLine int64
	records   int
	payload   []byte
	// buf is the pooled buffer payload lives in, returned once the batch is written.
	buf *[]byte
	// For batches built record by record: each record's line, and its original text (for a
	// join) as inBuf[inEnds[i-1]:inEnds[i]].
	lines  []int64
	inBuf  []byte
	inEnds []int
	// bytesIn is how much of the object (as stored) had been read when the batch was cut.
	bytesIn int64
	out     []byte
	err     *recordError
}

func (b *batch) input(i int) []byte {
	start := 0
	if i > 0 {
		start = b.inEnds[i-1]
	}
	return b.inBuf[start:b.inEnds[i]]
}

// recordError is a file's failure, placed at a line of it when it can be.
type recordError struct {
	first, last int64 // the lines of the failing record (first == last) or mini-batch; 0 when unknown
	msg         string
}

func (e *recordError) Error() string {
	switch {
	case e.first == 0:
		return e.msg
	case e.first == e.last:
		return fmt.Sprintf("line %d: %s", e.first, e.msg)
	}
	return fmt.Sprintf("lines %d-%d: %s", e.first, e.last, e.msg)
}

// fileRun transforms one input file.
type fileRun struct {
	pl    *plan
	model serving.ModelServer
	blob  blob.Store
	st    *fileState
	pool  *sync.Pool // *[]byte of cap ≥ maxPayload
	logf  func(format string, args ...any)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// run transforms the file: the object is read, cut and sent in mini-batches by a reader, up to
// concurrency invokers call the model, and the answers are written in order to the output
// object as they arrive. The output is stored only if the whole file succeeds. The error is a
// *recordError for a failure of the file, or the context's error.
func (fr *fileRun) run(ctx context.Context) error {
	in, err := blob.ParseURI(fr.st.row.InputURI)
	if err != nil {
		return &recordError{msg: err.Error()}
	}
	out, err := blob.ParseURI(fr.st.row.OutputURI)
	if err != nil {
		return &recordError{msg: err.Error()}
	}
	rc, err := fr.blob.Get(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &recordError{msg: fmt.Sprintf("the input object cannot be read: %v", err)}
	}
	defer rc.Close()
	counted := &countingReader{r: rc}
	var src io.Reader = counted
	if fr.pl.gzip {
		zr, err := gzip.NewReader(counted)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &recordError{msg: fmt.Sprintf("TransformInput.CompressionType is Gzip, but the object is not gzip data: %v", err)}
		}
		src = zr
	}

	// The output streams into the store; closing the pipe with an error aborts the object.
	pr, pw := io.Pipe()
	putErr := make(chan error, 1)
	go func() {
		err := fr.blob.Put(ctx, out, pr, -1)
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
		putErr <- err
	}()

	conc := max(fr.pl.concurrency, 1)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	work := make(chan *batch)
	results := make(chan *batch, conc)
	// slots bounds the mini-batches read but not yet written, and so the memory a file holds.
	slots := make(chan struct{}, 2*conc)
	var readErr error
	go func() {
		defer close(work)
		readErr = fr.produce(readCtx, src, counted, func(b *batch) bool {
			select {
			case slots <- struct{}{}:
			case <-readCtx.Done():
				fr.release(b)
				return false
			}
			select {
			case work <- b:
				return true
			case <-readCtx.Done():
				<-slots
				fr.release(b)
				return false
			}
		})
	}()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			resp := &serving.Response{}
			for b := range work {
				fr.process(ctx, b, resp)
				results <- b
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	// Write in input order, as the answers arrive.
	pending := map[int]*batch{}
	next := 0
	var failure *recordError
	failSeq := -1
	var writeErr error
	for b := range results {
		if b.err != nil && (failure == nil || b.seq < failSeq) {
			failure, failSeq = b.err, b.seq
			stopReading()
		}
		pending[b.seq] = b
		for {
			nb, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if failure == nil && writeErr == nil {
				if _, err := pw.Write(nb.out); err != nil {
					writeErr = err
					stopReading()
				} else {
					fr.st.records.Add(int64(nb.records))
					fr.st.bytesRead.Store(nb.bytesIn)
				}
			}
			fr.release(nb)
			<-slots
			next++
		}
	}
	for _, b := range pending {
		fr.release(b)
	}

	switch {
	case ctx.Err() != nil:
		pw.CloseWithError(ctx.Err())
		<-putErr
		return ctx.Err()
	case failure != nil:
		pw.CloseWithError(failure)
		<-putErr
		return failure
	case readErr != nil:
		pw.CloseWithError(readErr)
		<-putErr
		var re *recordError
		if errors.As(readErr, &re) {
			return re
		}
		return &recordError{msg: readErr.Error()}
	case writeErr != nil:
		err := <-putErr
		return &recordError{msg: fmt.Sprintf("writing the output %s failed: %v", out, errors.Join(err, writeErr))}
	}
	pw.Close()
	if err := <-putErr; err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &recordError{msg: fmt.Sprintf("writing the output %s failed: %v", out, err)}
	}
	fr.st.bytesRead.Store(counted.n.Load())
	return nil
}

func (fr *fileRun) getBuf() *[]byte {
	bp := fr.pool.Get().(*[]byte)
	*bp = (*bp)[:0]
	return bp
}

// release returns a written batch's buffer to the pool.
func (fr *fileRun) release(b *batch) {
	if b.buf != nil {
		fr.pool.Put(b.buf)
		b.buf = nil
	}
}

// cutter reads a stream in chunks of whole lines of at most limit bytes.
type cutter struct {
	src   io.Reader
	limit int
	carry []byte
	line  int64 // the number of the next line, from 1
	eof   bool
}

// next fills buf (cap ≥ limit) with the next chunk of whole lines and returns it with the
// number of its first line, or io.EOF at the end.
func (c *cutter) next(buf []byte) ([]byte, int64, error) {
	buf = append(buf[:0], c.carry...)
	c.carry = c.carry[:0]
	for !c.eof && len(buf) < c.limit {
		n, err := c.src.Read(buf[len(buf):c.limit])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			c.eof = true
		case err != nil:
			return nil, 0, &recordError{msg: fmt.Sprintf("reading the input: %v", err)}
		}
	}
	if len(buf) == 0 {
		return nil, 0, io.EOF
	}
	chunk := buf
	if !c.eof {
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 {
			return nil, 0, &recordError{first: c.line, last: c.line, msg: fmt.Sprintf("the record is longer than MaxPayloadInMB (%d MB); raise MaxPayloadInMB (up to %d)", c.limit>>20, MaxPayloadLimitInMB)}
		}
		chunk = buf[:i+1]
		c.carry = append(c.carry, buf[i+1:]...)
	}
	first := c.line
	c.line += int64(bytes.Count(chunk, []byte{'\n'}))
	if chunk[len(chunk)-1] != '\n' {
		c.line++
	}
	return chunk, first, nil
}

// produce cuts the stream into mini-batches and hands them to emit in order; it stops when
// emit returns false.
func (fr *fileRun) produce(ctx context.Context, src io.Reader, counted *countingReader, emit func(*batch) bool) error {
	pl := fr.pl
	if pl.split == SplitNone {
		return fr.produceWhole(src, counted, emit)
	}
	c := &cutter{src: src, limit: pl.maxPayload, carry: make([]byte, 0, pl.maxPayload), line: 1}
	if !pl.perRecord() {
		// Runs of whole lines go to the model as read, without copying a record.
		for seq := 0; ; {
			bp := fr.getBuf()
			chunk, first, err := c.next(*bp)
			if err != nil {
				fr.pool.Put(bp)
				if err == io.EOF {
					return nil
				}
				return err
			}
			n := countRecords(chunk)
			if n == 0 {
				fr.pool.Put(bp)
				continue
			}
			*bp = chunk
			if !emit(&batch{seq: seq, firstLine: first, records: n, payload: chunk, buf: bp, bytesIn: counted.n.Load()}) {
				return nil
			}
			seq++
		}
	}
	return fr.produceRecords(ctx, c, counted, emit)
}

// produceWhole sends the whole object as one record (SplitType None).
func (fr *fileRun) produceWhole(src io.Reader, counted *countingReader, emit func(*batch) bool) error {
	limit := fr.pl.maxPayload
	body, err := io.ReadAll(io.LimitReader(src, int64(limit)+1))
	if err != nil {
		return &recordError{msg: fmt.Sprintf("reading the input: %v", err)}
	}
	if len(body) > limit {
		return &recordError{msg: fmt.Sprintf("the object is larger than MaxPayloadInMB (%d MB), and with SplitType None each object is sent whole; use SplitType Line or raise MaxPayloadInMB (up to %d)", limit>>20, MaxPayloadLimitInMB)}
	}
	b := &batch{firstLine: 1, records: 1, payload: body, bytesIn: counted.n.Load(), lines: []int64{1}}
	if fr.pl.perRecord() {
		rec := bytes.TrimRight(body, "\r\n")
		var fields [][]byte
		payload, err := fr.pl.filterInput(nil, rec, &fields)
		if err != nil {
			return &recordError{msg: "InputFilter " + fr.pl.inFilter.String() + ": " + err.Error()}
		}
		b.payload, b.inBuf, b.inEnds = payload, rec, []int{len(rec)}
	}
	emit(b)
	return nil
}

// produceRecords builds mini-batches record by record: filtered for the model, with each
// record's line and original text kept for the join and for errors.
func (fr *fileRun) produceRecords(ctx context.Context, c *cutter, counted *countingReader, emit func(*batch) bool) error {
	pl := fr.pl
	single := pl.strategy == StrategySingleRecord
	var cur *batch
	seq := 0
	var fields [][]byte
	var scratch []byte
	flush := func() bool {
		if cur == nil {
			return true
		}
		b := cur
		cur = nil
		b.bytesIn = counted.n.Load()
		ok := emit(b)
		seq++
		return ok
	}
	buf := make([]byte, 0, pl.maxPayload)
	for {
		chunk, first, err := c.next(buf)
		if err == io.EOF {
			flush()
			return nil
		}
		if err != nil {
			return err
		}
		var stop bool
		err = eachLine(chunk, func(i int, line []byte) error {
			if blank(line) {
				return nil
			}
			if n := len(line); line[n-1] == '\r' {
				line = line[:n-1]
			}
			ln := first + int64(i)
			var err error
			scratch, err = pl.filterInput(scratch[:0], line, &fields)
			if err != nil {
				return &recordError{first: ln, last: ln, msg: "InputFilter " + pl.inFilter.String() + ": " + err.Error()}
			}
			if len(scratch) > pl.maxPayload {
				return &recordError{first: ln, last: ln, msg: fmt.Sprintf("the record is longer than MaxPayloadInMB (%d MB)", pl.maxPayload>>20)}
			}
			if cur != nil && (single || len(cur.payload)+1+len(scratch) > pl.maxPayload) {
				if !flush() {
					stop = true
					return errStop
				}
			}
			if cur == nil {
				cur = &batch{seq: seq, firstLine: ln}
			} else {
				cur.payload = append(cur.payload, '\n')
			}
			cur.payload = append(cur.payload, scratch...)
			cur.records++
			cur.lines = append(cur.lines, ln)
			if pl.join {
				cur.inBuf = append(cur.inBuf, line...)
				cur.inEnds = append(cur.inEnds, len(cur.inBuf))
			}
			return nil
		})
		if stop || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var errStop = errors.New("stop")

// process invokes the model for one mini-batch and assembles its output, or finds the record
// that fails.
func (fr *fileRun) process(ctx context.Context, b *batch, resp *serving.Response) {
	if err := fr.invoke(ctx, b.payload, resp, fr.pl.retries); err != nil {
		if ctx.Err() != nil {
			b.err = &recordError{msg: ctx.Err().Error()}
			return
		}
		b.err = fr.locate(ctx, b, err, resp)
		return
	}
	if err := fr.assemble(b, resp); err != nil {
		b.err = err
	}
}

// invokeError is a mini-batch the model did not answer with success.
type invokeError struct{ msg string }

func (e *invokeError) Error() string { return e.msg }

// invoke calls the model, retrying a failure up to retries times.
func (fr *fileRun) invoke(ctx context.Context, payload []byte, resp *serving.Response, retries int) error {
	var last error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			wait := min(100*time.Millisecond<<(attempt-1), 2*time.Second)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		resp.Reset()
		ictx, cancel := context.WithTimeout(ctx, fr.pl.timeout)
		err := fr.model.Invoke(ictx, &serving.Request{Body: payload, ContentType: fr.pl.contentType, Accept: fr.pl.accept}, resp)
		timedOut := ictx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, serving.ErrModelTimeout) || (err != nil && timedOut):
			last = &invokeError{fmt.Sprintf("the model did not answer within %s (ModelClientConfig.InvocationsTimeoutInSeconds)", fr.pl.timeout)}
		case err != nil:
			last = &invokeError{fmt.Sprintf("the model could not be called: %v", err)}
		case !resp.OK():
			body := strings.TrimSpace(string(resp.Body))
			if len(body) > 300 {
				body = body[:300] + "…"
			}
			last = &invokeError{fmt.Sprintf("the model answered %d: %s", resp.Status, body)}
		default:
			return nil
		}
	}
	if retries > 0 {
		return &invokeError{fmt.Sprintf("%s (after %d retries)", last, retries)}
	}
	return last
}

// locate narrows a failed mini-batch down to the first record that fails alone, halving it;
// when every part succeeds alone, the mini-batch as a whole is reported.
func (fr *fileRun) locate(ctx context.Context, b *batch, cause error, resp *serving.Response) *recordError {
	if fr.pl.split == SplitNone {
		return &recordError{msg: cause.Error()} // the whole object is the record
	}
	type rec struct {
		line int64
		text []byte
	}
	var recs []rec
	eachLine(b.payload, func(i int, line []byte) error {
		if blank(line) {
			return nil
		}
		ln := b.firstLine + int64(i)
		if len(recs) < len(b.lines) {
			ln = b.lines[len(recs)]
		}
		recs = append(recs, rec{ln, line})
		return nil
	})
	if len(recs) <= 1 {
		return &recordError{first: b.firstLine, last: b.firstLine, msg: cause.Error()}
	}
	join := func(rs []rec) []byte {
		var out []byte
		for i, r := range rs {
			if i > 0 {
				out = append(out, '\n')
			}
			out = append(out, r.text...)
		}
		return out
	}
	lo, hi := 0, len(recs)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fr.invoke(ctx, join(recs[lo:mid]), resp, 0) != nil {
			hi = mid
		} else {
			lo = mid
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := fr.invoke(ctx, recs[lo].text, resp, 0); err != nil && ctx.Err() == nil {
		fr.logf("%s, line %d: the record fails alone too: %v", fr.st.row.InputURI, recs[lo].line, err)
		return &recordError{first: recs[lo].line, last: recs[lo].line, msg: cause.Error()}
	}
	return &recordError{first: recs[0].line, last: recs[len(recs)-1].line, msg: cause.Error() + "; every part of the mini-batch succeeds alone"}
}

// assemble writes the mini-batch's part of the output.
func (fr *fileRun) assemble(b *batch, resp *serving.Response) *recordError {
	pl := fr.pl
	body := resp.Body
	if !pl.perRecord() {
		if pl.assembleLine {
			body = trimNewline(body)
			b.out = append(append(b.out[:0], body...), '\n')
		} else {
			b.out = append(b.out[:0], body...)
		}
		return nil
	}
	ansFmt := pl.acceptFmt
	if ansFmt == formatOther {
		ansFmt = formatOf(resp.ContentType)
	}
	last := b.firstLine
	if n := len(b.lines); n > 0 {
		last = b.lines[n-1]
	}
	answers, err := splitAnswer(body, b.records, ansFmt)
	if err != nil {
		return &recordError{first: b.firstLine, last: last, msg: strings.TrimPrefix(err.Error(), errAnswerShape.Error()+": ") + "; with DataProcessing the model must answer one record per input record"}
	}
	var fields [][]byte
	b.out = b.out[:0]
	for i, ans := range answers {
		var input []byte
		if pl.join {
			input = b.input(i)
		}
		b.out, err = pl.outputRecord(b.out, input, ans, ansFmt, &fields)
		if err != nil {
			ln := b.lines[i]
			return &recordError{first: ln, last: ln, msg: "OutputFilter " + pl.outFilter.String() + ": " + err.Error()}
		}
		if pl.assembleLine {
			b.out = append(b.out, '\n')
		}
	}
	return nil
}
