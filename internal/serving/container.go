package serving

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-ml/sluice/internal/runtime"
)

// Defaults of a container fleet.
const (
	defaultConcurrency = 64
	// defaultQueueWait is how long a request waits for a free slot (or a healthy replica)
	// before it is refused as overloaded.
	defaultQueueWait = 5 * time.Second
	// defaultMaxQueue bounds the requests waiting per fleet.
	defaultMaxQueue = 1024
	// maxRestartBackoff caps the wait between restarts of a crashing replica.
	maxRestartBackoff = 30 * time.Second
	// unhealthyAfter consecutive failed pings take a replica out of rotation and restart it.
	unhealthyAfter = 3
)

// containerConfig is what a container fleet runs.
type containerConfig struct {
	model     string // SageMaker model name, for logs and errors
	container string // ContainerHostname or "primary"
	kind      string // "container" or "framework"
	command   runtime.Command
	workspace string // host folder the replicas see as /opt/ml
	logDir    string
	env       []string
	startup   time.Duration
	timeout   time.Duration
	conc      int
	// isolate runs each replica in a network namespace of its own, reached by dialing
	// through its runtime handle.
	isolate bool
}

// containerFleet runs replicas of one container and balances requests over the healthy ones.
type containerFleet struct {
	host *Host
	cfg  containerConfig
	log  *slog.Logger
	// ctx bounds every replica process; Close cancels it last, as a safety net.
	ctx    context.Context
	cancel context.CancelFunc
	// removeDir is deleted after Close (the fleet's folder, when the fleet owns it).
	removeDir string

	// live holds the healthy replicas; the hot path reads it with one atomic load.
	live    atomic.Pointer[[]*replica]
	waiters atomic.Int32

	mu      sync.Mutex
	all     []*replica
	next    int // index of the next replica started
	closed  bool
	changed chan struct{} // closed and replaced when capacity may have freed up
}

// replica is one process of a fleet.
type replica struct {
	index   int
	sem     chan struct{}
	healthy atomic.Bool
	// inflight counts requests sent to the replica, for least-outstanding-requests balancing
	// and for draining.
	inflight atomic.Int32
	suspect  chan struct{} // a failed connection asks for a health check now
	stop     chan struct{}
	done     chan struct{}
	logs     *logTail

	mu       sync.Mutex // guards the fields below, which change on restart
	port     int
	model    *modelClient // POST /invocations
	pingURL  string
	client   *http.Client // GET /ping
	handle   *runtime.Handle
	restarts int
}

func (r *replica) modelClient() *modelClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.model
}

func newContainerFleet(h *Host, cfg containerConfig) *containerFleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &containerFleet{host: h, cfg: cfg, ctx: ctx, cancel: cancel, changed: make(chan struct{}),
		log: h.log.With("model", cfg.model, "container", cfg.container)}
	empty := []*replica{}
	f.live.Store(&empty)
	return f
}

// grow starts n more replicas and waits until every one is healthy; if one fails, the new
// replicas are stopped and the first failure is returned.
func (f *containerFleet) grow(ctx context.Context, n int) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return fmt.Errorf("serving: model %s is closed: %w", f.cfg.model, ErrUnavailable)
	}
	fresh := make([]*replica, n)
	for i := range fresh {
		fresh[i] = &replica{index: f.next, sem: make(chan struct{}, f.cfg.conc), suspect: make(chan struct{}, 1),
			stop: make(chan struct{}), done: make(chan struct{}), logs: &logTail{}}
		f.next++
	}
	f.all = append(f.all, fresh...)
	f.mu.Unlock()

	ready := make(chan error, n)
	for _, r := range fresh {
		go f.run(r, ready)
	}
	var errs []error
	for range n {
		select {
		case err := <-ready:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("serving: model %s: waiting for replicas: %w", f.cfg.model, ctx.Err()))
		}
		if len(errs) > 0 {
			break
		}
	}
	if len(errs) > 0 {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		f.retire(sctx, fresh)
		cancel()
		return errs[0]
	}
	return nil
}

// run is a replica's life: start, wait for /ping, serve while healthy, restart with backoff
// when the process ends or stops answering, until stopped. The first start's outcome goes to
// ready; a replica that never became healthy is not restarted.
func (f *containerFleet) run(r *replica, ready chan<- error) {
	defer close(r.done)
	backoff := time.Second
	first := true
	for {
		h, err := f.start(r)
		if err != nil {
			if first {
				ready <- err
				return
			}
			f.log.Warn("model replica failed to restart", "replica", r.index, slog.Any("error", err))
		} else {
			backoff = time.Second
			f.setHealthy(r, true)
			if first {
				first = false
				ready <- nil
			}
			reason, stopping := f.watch(r, h)
			f.setHealthy(r, false)
			if stopping {
				f.shutdown(r, h)
				return
			}
			f.log.Warn("model replica is unhealthy; restarting it", "replica", r.index, "reason", reason, "logs", r.logs.Tail(512))
			f.shutdown(r, h)
		}
		r.mu.Lock()
		r.restarts++
		r.mu.Unlock()
		select {
		case <-r.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxRestartBackoff)
	}
}

// start launches the replica's process on a free port and waits for its first good /ping.
func (f *containerFleet) start(r *replica) (*runtime.Handle, error) {
	f.mu.Lock()
	alone := len(f.all) == 1
	f.mu.Unlock()
	port, err := f.host.takePort(alone)
	if err != nil {
		return nil, err
	}
	env := append(slices.Clone(f.cfg.env),
		"SAGEMAKER_BIND_TO_PORT="+strconv.Itoa(port),
		"SAGEMAKER_SAFE_PORT_RANGE="+strconv.Itoa(port)+"-"+strconv.Itoa(port))
	logFile, err := os.OpenFile(filepath.Join(f.cfg.logDir, fmt.Sprintf("%s-%d.log", f.cfg.container, r.index)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.host.releasePort(port)
		return nil, fmt.Errorf("serving: replica log: %w", err)
	}
	out := io.MultiWriter(logFile, r.logs)
	h, err := f.host.runtime.Start(f.ctx, runtime.Spec{
		Command:   f.cfg.command,
		Workspace: f.cfg.workspace,
		Env:       env,
		StopGrace: f.host.stopGrace,
		Stdout:    out,
		Stderr:    out,

		NetworkIsolation: f.cfg.isolate,
	})
	if err != nil {
		logFile.Close()
		f.host.releasePort(port)
		return nil, fmt.Errorf("serving: model %s: start container %s: %w", f.cfg.model, f.cfg.container, err)
	}
	go func() {
		<-h.Done()
		logFile.Close()
		f.host.releasePort(port)
	}()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		return h.DialContext(ctx, network, address)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:        dial,
		MaxIdleConns:       1,
		IdleConnTimeout:    time.Minute,
		DisableCompression: true,
	}}
	r.mu.Lock()
	r.port, r.model, r.pingURL, r.client, r.handle = port, newModelClient(addr, f.cfg.conc, dial), "http://"+addr+"/ping", client, h
	r.mu.Unlock()

	deadline := time.Now().Add(f.cfg.startup)
	wait := 20 * time.Millisecond
	for {
		if f.ping(r) == nil {
			return h, nil
		}
		select {
		case <-h.Done():
			exit, _ := h.Wait()
			return nil, fmt.Errorf("serving: model %s: container %s exited with code %d before passing its /ping health check; its last output: %s",
				f.cfg.model, f.cfg.container, exit.Code, r.logs.Tail(1024))
		case <-r.stop:
			f.shutdown(r, h)
			return nil, fmt.Errorf("serving: model %s: stopped while starting: %w", f.cfg.model, ErrUnavailable)
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			f.shutdown(r, h)
			return nil, fmt.Errorf("serving: model %s: container %s did not pass its /ping health check within %s (it must answer GET /ping with 200 on the port in SAGEMAKER_BIND_TO_PORT); its last output: %s",
				f.cfg.model, f.cfg.container, f.cfg.startup, r.logs.Tail(1024))
		}
		wait = min(wait*3/2, 500*time.Millisecond)
	}
}

func (f *containerFleet) ping(r *replica) error {
	r.mu.Lock()
	client, url := r.client, r.pingURL
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(f.ctx, PingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /ping answered %d", resp.StatusCode)
	}
	return nil
}

// watch health-checks a running replica until its process ends, it fails unhealthyAfter pings
// in a row, or it is stopped (stopping is then true).
func (f *containerFleet) watch(r *replica, h *runtime.Handle) (reason string, stopping bool) {
	tick := time.NewTicker(f.host.healthEvery)
	defer tick.Stop()
	fails := 0
	check := func() string {
		if err := f.ping(r); err != nil {
			fails++
			f.setHealthy(r, false)
			if fails >= unhealthyAfter {
				return fmt.Sprintf("%d health checks failed in a row, the last with: %v", fails, err)
			}
			return ""
		}
		if fails > 0 {
			fails = 0
			f.setHealthy(r, true)
		}
		return ""
	}
	for {
		select {
		case <-h.Done():
			exit, _ := h.Wait()
			return fmt.Sprintf("the process exited with code %d", exit.Code), false
		case <-r.stop:
			return "", true
		case <-r.suspect:
			if reason := check(); reason != "" {
				return reason, false
			}
		case <-tick.C:
			if reason := check(); reason != "" {
				return reason, false
			}
		}
	}
}

// shutdown stops a replica's process as `docker stop` would and waits for it.
func (f *containerFleet) shutdown(r *replica, h *runtime.Handle) {
	h.Stop(f.host.stopGrace)
	h.Wait()
	r.mu.Lock()
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	if r.model != nil {
		r.model.close()
	}
	r.mu.Unlock()
}

// setHealthy adds the replica to, or removes it from, the set that takes traffic.
func (f *containerFleet) setHealthy(r *replica, ok bool) {
	if r.healthy.Swap(ok) == ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	live := make([]*replica, 0, len(f.all))
	for _, x := range f.all {
		if x.healthy.Load() {
			live = append(live, x)
		}
	}
	f.live.Store(&live)
	f.broadcastLocked()
}

func (f *containerFleet) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// acquire takes a request slot on the least busy healthy replica, waiting up to
// defaultQueueWait when all are busy or none is healthy.
func (f *containerFleet) acquire(ctx context.Context) (*replica, error) {
	if r := f.tryAcquire(); r != nil {
		return r, nil
	}
	if f.waiters.Add(1) > defaultMaxQueue {
		f.waiters.Add(-1)
		return nil, fmt.Errorf("serving: model %s: %d requests are already waiting: %w", f.cfg.model, defaultMaxQueue, ErrOverloaded)
	}
	defer f.waiters.Add(-1)
	timer := time.NewTimer(defaultQueueWait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		changed, closed := f.changed, f.closed
		f.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("serving: model %s is closed: %w", f.cfg.model, ErrUnavailable)
		}
		if r := f.tryAcquire(); r != nil {
			return r, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			if len(*f.live.Load()) == 0 {
				return nil, fmt.Errorf("serving: model %s: no replica became healthy within %s: %w", f.cfg.model, defaultQueueWait, ErrUnavailable)
			}
			return nil, fmt.Errorf("serving: model %s: every replica stayed busy for %s: %w", f.cfg.model, defaultQueueWait, ErrOverloaded)
		}
	}
}

func (f *containerFleet) tryAcquire() *replica {
	live := *f.live.Load()
	for len(live) > 0 {
		best := -1
		var least int32
		for i, r := range live {
			if n := r.inflight.Load(); best < 0 || n < least {
				best, least = i, n
			}
		}
		r := live[best]
		select {
		case r.sem <- struct{}{}:
			r.inflight.Add(1)
			return r
		default:
		}
		live = slices.Delete(slices.Clone(live), best, best+1)
	}
	return nil
}

func (f *containerFleet) release(r *replica) {
	<-r.sem
	r.inflight.Add(-1)
	if f.waiters.Load() > 0 {
		f.mu.Lock()
		f.broadcastLocked()
		f.mu.Unlock()
	}
}

// errConnect marks a request that never reached the replica (the connection was refused), so
// it may go to another one.
var errConnect = errors.New("could not connect to the model server")

func (f *containerFleet) Invoke(ctx context.Context, req *Request, resp *Response) error {
	for attempt := 0; ; attempt++ {
		r, err := f.acquire(ctx)
		if err != nil {
			return err
		}
		err = f.send(ctx, r, req, resp)
		f.release(r)
		if errors.Is(err, errConnect) {
			select {
			case r.suspect <- struct{}{}:
			default:
			}
			f.setHealthy(r, false)
			if attempt < 2 {
				continue
			}
			return fmt.Errorf("serving: model %s: %w: %w", f.cfg.model, ErrUnavailable, err)
		}
		return err
	}
}

// send posts req to /invocations of r as SageMaker's serving contract says.
func (f *containerFleet) send(ctx context.Context, r *replica, req *Request, resp *Response) error {
	err := r.modelClient().post(ctx, time.Now().Add(f.cfg.timeout), "/invocations", req, resp, MaxPayload)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errModelDeadline):
		return fmt.Errorf("serving: model %s: no answer within %s: %w", f.cfg.model, f.cfg.timeout, ErrModelTimeout)
	case errors.Is(err, errConnect):
		return err
	case errors.Is(err, ErrResponseTooLarge), ctx.Err() != nil:
		return fmt.Errorf("serving: model %s: %w", f.cfg.model, err)
	}
	// The request may have reached the model (which may have crashed on it), so it is not
	// retried, but the replica is checked at once.
	select {
	case r.suspect <- struct{}{}:
	default:
	}
	return fmt.Errorf("serving: model %s: the model server dropped the request: %w: %w", f.cfg.model, ErrUnavailable, err)
}

// readBody appends r to buf, reusing its capacity, and fails beyond limit bytes.
func readBody(buf []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, fmt.Errorf("the answer exceeds %d bytes: %w", limit, ErrResponseTooLarge)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (f *containerFleet) Scale(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("serving: scale to %d replicas: the count cannot be negative", n)
	}
	f.mu.Lock()
	cur := len(f.all)
	var gone []*replica
	if n < cur {
		gone = slices.Clone(f.all[n:])
	}
	f.mu.Unlock()
	switch {
	case n > cur:
		return f.grow(ctx, n-cur)
	case n < cur:
		f.retire(ctx, gone)
	}
	return nil
}

// retire takes replicas out of rotation, lets their in-flight requests finish while ctx
// allows, and stops them.
func (f *containerFleet) retire(ctx context.Context, rs []*replica) {
	f.mu.Lock()
	f.all = slices.DeleteFunc(f.all, func(x *replica) bool { return slices.Contains(rs, x) })
	f.mu.Unlock()
	for _, r := range rs {
		r.healthy.Store(true) // so setHealthy below rebuilds the live set without it
		f.setHealthy(r, false)
	}
	for _, r := range rs {
		for r.inflight.Load() > 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		close(r.stop)
	}
	for _, r := range rs {
		select {
		case <-r.done:
		case <-ctx.Done():
		}
	}
}

func (f *containerFleet) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Status{Kind: f.cfg.kind, Replicas: len(f.all), Healthy: len(*f.live.Load())}
}

func (f *containerFleet) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	rs := slices.Clone(f.all)
	f.broadcastLocked()
	f.mu.Unlock()
	f.retire(ctx, rs)
	f.cancel()
	if f.removeDir != "" {
		os.RemoveAll(f.removeDir)
	}
	return nil
}

// Restarts reports how often each replica has been restarted, for tests and diagnostics.
func (f *containerFleet) restarts() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, len(f.all))
	for i, r := range f.all {
		r.mu.Lock()
		out[i] = r.restarts
		r.mu.Unlock()
	}
	return out
}

// logTail keeps the last bytes a replica wrote, for failure reasons.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

const logTailBytes = 16 << 10

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - logTailBytes; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

// Tail returns up to n of the last bytes written, or "(no output)".
func (l *logTail) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := bytes.TrimSpace(l.buf)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	if len(b) == 0 {
		return "(no output)"
	}
	return string(b)
}
