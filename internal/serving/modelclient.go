package serving

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"strconv"
	"sync"
	"time"
)

// modelClient posts invocations to one model server over pooled keep-alive connections. It
// speaks just the HTTP/1.1 a model server needs — one request, one answer, on the calling
// goroutine — instead of net/http's transport, whose reader and writer goroutines add two
// hand-offs to every call. It accepts what real model servers send: Content-Length, chunked or
// read-to-close bodies, HTTP/1.0 answers, and servers that close idle connections.
type modelClient struct {
	addr    string // host:port
	host    string // Host header
	maxIdle int
	// dial connects to addr (through the server's network namespace when it has its own).
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu   sync.Mutex
	idle []*modelConn
}

type modelConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// dialTimeout bounds connecting: SageMaker expects a model server to accept within 250 ms.
const dialTimeout = 2 * time.Second

func newModelClient(addr string, maxIdle int, dial func(ctx context.Context, network, address string) (net.Conn, error)) *modelClient {
	return &modelClient{addr: addr, host: addr, maxIdle: maxIdle, dial: dial}
}

func (m *modelClient) get() (*modelConn, bool, error) {
	for {
		m.mu.Lock()
		n := len(m.idle)
		if n == 0 {
			m.mu.Unlock()
			break
		}
		c := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		// A server may close an idle connection; such a one is dropped before it carries a
		// request, so that a request is never sent twice.
		if c.r.Buffered() == 0 && idleAlive(c.c) {
			return c, true, nil
		}
		c.c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, err := m.dial(ctx, "tcp", m.addr)
	if err != nil {
		return nil, false, err
	}
	return &modelConn{c: c, r: bufio.NewReaderSize(c, 8<<10), w: bufio.NewWriterSize(c, 8<<10)}, false, nil
}

func (m *modelClient) put(c *modelConn) {
	m.mu.Lock()
	if len(m.idle) < m.maxIdle {
		m.idle = append(m.idle, c)
		c = nil
	}
	m.mu.Unlock()
	if c != nil {
		c.c.Close()
	}
}

// close drops the idle connections.
func (m *modelClient) close() {
	m.mu.Lock()
	idle := m.idle
	m.idle = nil
	m.mu.Unlock()
	for _, c := range idle {
		c.c.Close()
	}
}

// errStale is a reused connection that failed while the request was being written, so the
// server cannot have acted on it: the request can go again on a fresh connection.
var errStale = errors.New("stale connection")

// errModelDeadline is an answer that did not come before the call's deadline.
var errModelDeadline = errors.New("no answer before the deadline")

// post sends req to path and fills resp. A connection that cannot be made wraps errConnect; an
// answer missing at deadline is errModelDeadline; ctx's cancellation ends the call with its error.
func (m *modelClient) post(ctx context.Context, deadline time.Time, path string, req *Request, resp *Response, limit int) error {
	for {
		c, reused, err := m.get()
		if err != nil {
			return fmt.Errorf("%w: %w", errConnect, err)
		}
		err = m.roundTrip(ctx, deadline, c, path, req, resp, limit, reused)
		if errors.Is(err, errStale) {
			continue
		}
		return err
	}
}

func (m *modelClient) roundTrip(ctx context.Context, deadline time.Time, c *modelConn, path string, req *Request, resp *Response, limit int, reused bool) (err error) {
	keep := false
	defer func() {
		if keep {
			m.put(c)
		} else {
			c.c.Close()
		}
	}()
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}

	w := c.w
	w.WriteString("POST ")
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(m.host)
	w.WriteString("\r\nContent-Length: ")
	var num [20]byte
	w.Write(strconv.AppendInt(num[:0], int64(len(req.Body)), 10))
	writeHeader(w, "Content-Type", req.ContentType)
	writeHeader(w, "Accept", req.Accept)
	writeHeader(w, "X-Amzn-SageMaker-Custom-Attributes", req.CustomAttributes)
	writeHeader(w, "X-Amzn-SageMaker-Inference-Id", req.InferenceID)
	w.WriteString("\r\n\r\n")
	w.Write(req.Body)
	if err := w.Flush(); err != nil {
		if reused && isClosedConn(err) {
			return errStale
		}
		return ctxErr(ctx, err)
	}

	line, err := readLine(c.r)
	for err == nil && len(line) >= 12 && line[9] == '1' { // 1xx interim answers precede the real one
		if err = skipHeaders(c.r); err == nil {
			line, err = readLine(c.r)
		}
	}
	if err != nil {
		return ctxErr(ctx, err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return fmt.Errorf("the model server answered %q, not HTTP", truncateBytes(line, 40))
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return fmt.Errorf("the model server answered status %q", line[9:12])
	}
	http10 := line[7] == '0'
	resp.Status = status
	length := int64(-1)
	chunked, closeAfter := false, http10
	for {
		h, err := readLine(c.r)
		if err != nil {
			return ctxErr(ctx, err)
		}
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "Content-Length"):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
				return fmt.Errorf("the model server sent Content-Length %q", v)
			}
		case asciiEqualFold(k, "Transfer-Encoding"):
			chunked = asciiEqualFold(v, "chunked")
		case asciiEqualFold(k, "Connection"):
			if asciiEqualFold(v, "close") {
				closeAfter = true
			} else if asciiEqualFold(v, "keep-alive") {
				closeAfter = false
			}
		case asciiEqualFold(k, "Content-Type"):
			resp.ContentType = string(v)
		case asciiEqualFold(k, "X-Amzn-SageMaker-Custom-Attributes"):
			resp.CustomAttributes = string(v)
		}
	}
	switch {
	case status == 204 || status == 304:
		resp.Body = resp.Body[:0]
	case chunked:
		resp.Body, err = readBody(resp.Body[:0], httputil.NewChunkedReader(c.r), limit)
		if err == nil {
			err = skipHeaders(c.r) // the trailer
		}
	case length >= 0:
		if length > int64(limit) {
			return fmt.Errorf("the answer is %d bytes, over %d: %w", length, limit, ErrResponseTooLarge)
		}
		resp.Body = growTo(resp.Body[:0], int(length))
		_, err = io.ReadFull(c.r, resp.Body)
	default:
		closeAfter = true
		resp.Body, err = readBody(resp.Body[:0], c.r, limit)
	}
	if err != nil {
		return ctxErr(ctx, err)
	}
	keep = !closeAfter
	return nil
}

func writeHeader(w *bufio.Writer, k, v string) {
	if v == "" {
		return
	}
	w.WriteString("\r\n")
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
}

// readLine reads one CRLF-terminated line without its terminator.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		var long []byte
		long = append(long, line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
			if len(long) > 64<<10 {
				return nil, errors.New("a header line of the model server's answer exceeds 64 KB")
			}
		}
		line = long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func skipHeaders(r *bufio.Reader) error {
	for {
		h, err := readLine(r)
		if err != nil {
			return err
		}
		if len(h) == 0 {
			return nil
		}
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isClosedConn(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)
}

// ctxErr reports a cancellation as the context's error, and a deadline as errModelDeadline,
// rather than the I/O error they caused.
func ctxErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errModelDeadline
	}
	return err
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
