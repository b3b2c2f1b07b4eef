// Command serving benchmarks Sluice's real-time endpoints side by side with the usual Python
// model server, in one run on one machine:
//
//   - throughput and latency (wrk, single-row CSV) of a native Sluice endpoint serving a
//     100-tree depth-6 XGBoost model trained by real XGBoost, against the same model behind
//     Flask + gunicorn + python3-xgboost;
//   - p50/p99 at half of each server's peak, from an open-loop generator that charges queueing
//     to the request (no coordinated omission), and the router's own OverheadLatency;
//   - the proxy hop to a container model: a minimal model server called directly and through
//     the endpoint, one request at a time;
//   - endpoint creation from an Approved registry version, from the first API call until
//     DescribeEndpoint answers InService.
//
// The Sluice server runs as its own process (the sluice binary, built here), as in production.
// Run it with bench/serving/run.sh.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// echoCommand makes this binary the container model of the hop measurement; helloCommand makes
// it a bare net/http server, the ceiling any Go HTTP service reaches on this machine.
const (
	echoCommand  = "serving-echo"
	helloCommand = "serving-hello"
)

type config struct {
	python, wrk    string
	duration       time.Duration
	conns, threads int
	trees, depth   int
	cols           int
	workers        int
	creates        int
	rounds         int
	hopRequests    int
	skipPython     bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == echoCommand {
		os.Exit(echoServer())
	}
	if len(os.Args) > 2 && os.Args[1] == helloCommand {
		os.Exit(helloServer(os.Args[2]))
	}
	var c config
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "python with xgboost, flask and gunicorn (Debian's)")
	flag.StringVar(&c.wrk, "wrk", "wrk", "the wrk load generator")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each load run")
	flag.IntVar(&c.conns, "conns", 32, "wrk connections")
	flag.IntVar(&c.threads, "threads", 2, "wrk threads")
	flag.IntVar(&c.trees, "trees", 100, "boosting rounds of the model")
	flag.IntVar(&c.depth, "depth", 6, "max_depth of the model")
	flag.IntVar(&c.cols, "cols", 10, "features per row")
	flag.IntVar(&c.workers, "gunicorn-workers", 2, "gunicorn worker processes (each with 4 threads)")
	flag.IntVar(&c.creates, "creates", 10, "endpoints created from the registry to time creation")
	flag.IntVar(&c.rounds, "rounds", 3, "alternating wrk rounds per server (the median is reported)")
	flag.IntVar(&c.hopRequests, "hop-requests", 5000, "sequential requests per side of the hop measurement")
	flag.BoolVar(&c.skipPython, "skip-python", false, "skip the Python server")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sluice-bench-serving-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}

	step("training the model with real XGBoost (%d trees, depth %d, %d features)", c.trees, c.depth, c.cols)
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	out, err := exec.Command(c.python, "bench/serving/train.py", model, strconv.Itoa(c.trees), strconv.Itoa(c.depth), strconv.Itoa(c.cols)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("train: %v\n%s", err, out)
	}
	xgbVersion := strings.TrimSpace(string(out))
	row, err := os.ReadFile(filepath.Join(model, "row.csv"))
	if err != nil {
		return err
	}

	step("building and starting the sluice server")
	s, err := startSluice(ctx, dir, self)
	if err != nil {
		return err
	}
	defer s.stop()

	tarball, err := tarGz(filepath.Join(model, "xgboost-model"))
	if err != nil {
		return err
	}
	if err := s.put(ctx, "s3://bench/model/model.tar.gz", tarball); err != nil {
		return err
	}
	smc := s.sagemaker()
	if _, err := smc.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("bench")}); err != nil {
		return err
	}
	pkg, err := smc.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String("bench"), ModelApprovalStatus: types.ModelApprovalStatusApproved,
		InferenceSpecification: &types.InferenceSpecification{
			Containers:            []types.ModelPackageContainerDefinition{{Image: aws.String("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"), ModelDataUrl: aws.String("s3://bench/model/model.tar.gz")}},
			SupportedContentTypes: []string{"text/csv"}, SupportedResponseMIMETypes: []string{"text/csv"}}})
	if err != nil {
		return err
	}

	step("creating %d endpoints from the Approved registry version", c.creates)
	var creates []time.Duration
	for i := range c.creates + 2 {
		name := fmt.Sprintf("bench-%d", i)
		d, err := s.createFromPackage(ctx, name, aws.ToString(pkg.ModelPackageArn))
		if err != nil {
			return err
		}
		if i >= 2 {
			creates = append(creates, d)
			smc.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String(name)})
		}
	}
	peakEP, steadyEP := "bench-0", "bench-1"

	step("starting the container model for the hop measurement")
	portFile := filepath.Join(dir, "echo.port")
	if err := s.createEcho(ctx, "bench-echo", portFile); err != nil {
		return err
	}
	echoPort, err := os.ReadFile(portFile)
	if err != nil {
		return err
	}

	var py *pyServer
	if !c.skipPython {
		step("starting Flask + gunicorn (%d workers × 4 threads) with python3-xgboost %s", c.workers, xgbVersion)
		if py, err = startPython(c, filepath.Join(model, "xgboost-model")); err != nil {
			return err
		}
		defer py.stop()
	}

	res := results{xgb: xgbVersion, creates: creates}
	sluiceReq := s.signedInvocation(peakEP, row)
	steadyReq := s.signedInvocation(steadyEP, row)

	// Peak runs alternate between the servers, round after round, and the median of each is
	// reported, so that a change in what else the machine runs does not favour one of them.
	hello, err := startHello(self)
	if err != nil {
		return err
	}
	defer hello.stop()
	var hellos, sluices, pys []peak
	for round := 1; round <= c.rounds; round++ {
		step("round %d/%d: wrk on the bare net/http server, the sluice endpoint and Flask + gunicorn (%d connections, %s each)", round, c.rounds, c.conns, c.duration)
		p, err := measured(c, dir, hello.invocation(row), hello.cmd.Process.Pid)
		if err != nil {
			return err
		}
		hellos = append(hellos, p)
		if p, err = measured(c, dir, sluiceReq, s.cmd.Process.Pid); err != nil {
			return err
		}
		sluices = append(sluices, p)
		if py != nil {
			if p, err = measured(c, dir, py.invocation(row), py.cmd.Process.Pid); err != nil {
				return err
			}
			pys = append(pys, p)
		}
	}
	res.helloPeak, res.sluicePeak, res.pyPeak = median(hellos), median(sluices), median(pys)
	res.rounds = [][]peak{sluices, pys, hellos}
	res.sluiceHalfRate = res.sluicePeak.rps / 2
	step("open loop at %.0f req/s (half of sluice's peak) for %s", res.sluiceHalfRate, c.duration)
	res.sluiceHalf = openLoop(steadyReq, res.sluiceHalfRate, c.duration, 64)
	if res.overhead, err = s.metrics(ctx, steadyEP); err != nil {
		return err
	}
	step("open loop at the same %.0f req/s on the bare net/http server, as a control for the machine's own tail", res.sluiceHalfRate)
	res.helloHalf = openLoop(hello.invocation(row), res.sluiceHalfRate, c.duration, 64)
	if py != nil {
		res.pyHalfRate = res.pyPeak.rps / 2
		step("open loop at %.0f req/s (half of Python's peak) for %s", res.pyHalfRate, c.duration)
		res.pyHalf = openLoop(py.invocation(row), res.pyHalfRate, c.duration, 64)
	}

	step("proxy hop: %d sequential requests direct to the container model and through the endpoint", c.hopRequests)
	direct := request{method: "POST", url: "http://127.0.0.1:" + strings.TrimSpace(string(echoPort)) + "/invocations", body: row, headers: http.Header{"Content-Type": {"text/csv"}}}
	res.hopDirect = sequential(direct, c.hopRequests)
	res.hopVia = sequential(s.signedInvocation("bench-echo", row), c.hopRequests)
	if res.hopOverhead, err = s.metrics(ctx, "bench-echo"); err != nil {
		return err
	}
	res.print(os.Stdout, c)
	return nil
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "== "+format+"\n", args...)
}

// ---- the sluice server ----------------------------------------------------------------------------

type sluice struct {
	cmd  *exec.Cmd
	url  string
	aws  aws.Config
	logs *bytes.Buffer
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startSluice(ctx context.Context, dir, self string) (*sluice, error) {
	bin := filepath.Join(dir, "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sluice").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "home")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\nlog_level: warn\njobs:\n  images:\n    \"bench/echo:*\": %q\n", port, home, self+" "+echoCommand)
	cfgPath := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	s := &sluice{url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "server", "--config", cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitHTTP(s.url+"/readyz", 30*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("sluice server: %w\n%s", err, s.logs)
	}
	s.aws, err = awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(home, "credentials")}),
		awsconfig.WithSharedConfigFiles([]string{filepath.Join(home, "config")}),
		awsconfig.WithSharedConfigProfile("sluice"), awsconfig.WithRegion("us-east-1"))
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *sluice) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
		}
	}
}

func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", url, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sluice) sagemaker() *sm.Client {
	return sm.NewFromConfig(s.aws, func(o *sm.Options) { o.BaseEndpoint = aws.String(s.url) })
}

func (s *sluice) sign(req *http.Request, body []byte) error {
	creds, err := s.aws.Credentials.Retrieve(context.Background())
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", h)
	return v4.NewSigner().SignHTTP(context.Background(), creds, req, h, "sagemaker", s.aws.Region, time.Now())
}

func (s *sluice) put(ctx context.Context, uri string, data []byte) error {
	path := "/api/v1/objects/" + strings.TrimPrefix(uri, "s3://")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, s.url+path, bytes.NewReader(data))
	if err := s.sign(req, data); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("put %s: %d %s", uri, resp.StatusCode, b)
	}
	return nil
}

// signedInvocation is an InvokeEndpoint request whose SigV4 headers stay valid for the 15
// minutes of allowed clock skew, so every load generator can resend it unchanged.
func (s *sluice) signedInvocation(endpoint string, body []byte) request {
	u := s.url + "/endpoints/" + endpoint + "/invocations"
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	if err := s.sign(req, body); err != nil {
		panic(err)
	}
	return request{method: "POST", url: u, body: body, headers: req.Header}
}

// createFromPackage creates a model from the package, a config and an endpoint, and returns
// the time from the first call until DescribeEndpoint reports InService.
func (s *sluice) createFromPackage(ctx context.Context, name, pkg string) (time.Duration, error) {
	c := s.sagemaker()
	start := time.Now()
	if _, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String(name), PrimaryContainer: &types.ContainerDefinition{ModelPackageName: aws.String(pkg)}}); err != nil {
		return 0, err
	}
	if _, err := c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String(name), ProductionVariants: []types.ProductionVariant{
		{VariantName: aws.String("AllTraffic"), ModelName: aws.String(name), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
		return 0, err
	}
	if _, err := c.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(name)}); err != nil {
		return 0, err
	}
	for {
		d, err := c.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)})
		if err != nil {
			return 0, err
		}
		switch d.EndpointStatus {
		case types.EndpointStatusInService:
			return time.Since(start), nil
		case types.EndpointStatusFailed:
			return 0, fmt.Errorf("endpoint %s failed: %s", name, aws.ToString(d.FailureReason))
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *sluice) createEcho(ctx context.Context, name, portFile string) error {
	c := s.sagemaker()
	if _, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String(name), PrimaryContainer: &types.ContainerDefinition{
		Image: aws.String("bench/echo:1"), Environment: map[string]string{"BENCH_PORT_FILE": portFile}}}); err != nil {
		return err
	}
	if _, err := c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String(name), ProductionVariants: []types.ProductionVariant{
		{VariantName: aws.String("AllTraffic"), ModelName: aws.String(name), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
		return err
	}
	if _, err := c.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(name)}); err != nil {
		return err
	}
	w := sm.NewEndpointInServiceWaiter(c, func(o *sm.EndpointInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	return w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, time.Minute)
}

// variantMetrics is the part of /api/v1/endpoints/{name}/metrics the report uses.
type variantMetrics struct {
	Invocations                   uint64
	ModelLatency, OverheadLatency struct {
		Count                           uint64
		P50Micros, P90Micros, P99Micros float64
	}
}

func (s *sluice) metrics(ctx context.Context, endpoint string) (variantMetrics, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/endpoints/"+endpoint+"/metrics", nil)
	if err := s.sign(req, nil); err != nil {
		return variantMetrics{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return variantMetrics{}, err
	}
	defer resp.Body.Close()
	var m struct{ Variants []variantMetrics }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || len(m.Variants) == 0 {
		return variantMetrics{}, fmt.Errorf("metrics of %s: %v", endpoint, err)
	}
	return m.Variants[0], nil
}

func tarGz(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: filepath.Base(file), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	gz.Close()
	return buf.Bytes(), nil
}

// ---- the Python server ----------------------------------------------------------------------------

type pyServer struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func startPython(c config, model string) (*pyServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &pyServer{url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &bytes.Buffer{}}
	p.cmd = exec.Command(c.python, "-m", "gunicorn", "-w", strconv.Itoa(c.workers), "--threads", "4", "-b", fmt.Sprintf("127.0.0.1:%d", port),
		"--chdir", "bench/serving", "--log-level", "warning", "flask_app:app")
	p.cmd.Env = append(os.Environ(), "MODEL_PATH="+model, "OMP_NUM_THREADS=1")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitHTTP(p.url+"/ping", 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("gunicorn: %w\n%s", err, p.logs)
	}
	return p, nil
}

func (p *pyServer) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
	}
}

func (p *pyServer) invocation(body []byte) request {
	return request{method: "POST", url: p.url + "/invocations", body: body, headers: http.Header{"Content-Type": {"text/csv"}}}
}

// ---- the container model of the hop measurement -----------------------------------------------

// echoServer is a minimal model server: /ping, and /invocations answering a constant, so the
// measured hop is Sluice's, not the model's.
func echoServer() int {
	port := os.Getenv("SAGEMAKER_BIND_TO_PORT")
	if f := os.Getenv("BENCH_PORT_FILE"); f != "" {
		os.WriteFile(f, []byte(port), 0o644)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {})
	answer := []byte("0.5")
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"text/csv"}
		w.Write(answer)
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helloServer answers every POST with a constant: no auth, no routing, no model.
func helloServer(addr string) int {
	answer := []byte("0.5")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"text/csv"}
		w.Write(answer)
	})
	if err := http.ListenAndServe(addr, h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helloProc is the bare net/http server, as a process of its own like the others.
type helloProc struct {
	cmd  *exec.Cmd
	addr string
}

func startHello(self string) (*helloProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	h := &helloProc{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	h.cmd = exec.Command(self, helloCommand, h.addr)
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 {
		if c, err := net.Dial("tcp", h.addr); err == nil {
			c.Close()
			return h, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.stop()
	return nil, fmt.Errorf("the net/http reference server did not start")
}

func (h *helloProc) stop() {
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

func (h *helloProc) invocation(body []byte) request {
	return request{method: "POST", url: "http://" + h.addr + "/invocations", body: body, headers: http.Header{"Content-Type": {"text/csv"}}}
}

// median returns the run with the median rate.
func median(ps []peak) peak {
	if len(ps) == 0 {
		return peak{}
	}
	s := slices.Clone(ps)
	slices.SortFunc(s, func(a, b peak) int { return cmp.Compare(a.rps, b.rps) })
	return s[len(s)/2]
}

// treeCPU returns the CPU time (user and system) used so far by a process and its descendants,
// from /proc: how much of the machine a server spent, whatever else shared it.
func treeCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	total := time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		kids, _ := os.ReadFile(t)
		for _, k := range strings.Fields(string(kids)) {
			if n, err := strconv.Atoi(k); err == nil {
				total += treeCPU(n)
			}
		}
	}
	return total
}

// measured runs wrk against r and notes the CPU the server process tree spent meanwhile.
func measured(c config, dir string, r request, pid int) (peak, error) {
	before := treeCPU(pid)
	p, err := runWrk(c, dir, r)
	p.cpu = treeCPU(pid) - before
	return p, err
}

// ---- load ---------------------------------------------------------------------------------------

type request struct {
	method, url string
	body        []byte
	headers     http.Header
}

// peak is a wrk result.
type peak struct {
	// cpu is the CPU time the server spent during the run.
	cpu              time.Duration
	rps              float64
	p50, p90, p99    time.Duration
	errors, timeouts int
	requests         int
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkTotal   = regexp.MustCompile(`(\d+) requests in`)
)

func runWrk(c config, dir string, r request) (peak, error) {
	var lua strings.Builder
	fmt.Fprintf(&lua, "wrk.method = %q\nwrk.body = %q\n", r.method, string(r.body))
	for k, v := range r.headers {
		if strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") {
			continue
		}
		fmt.Fprintf(&lua, "wrk.headers[%q] = %q\n", k, v[0])
	}
	script := filepath.Join(dir, "request.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o644); err != nil {
		return peak{}, err
	}
	out, err := exec.Command(c.wrk, "-t", strconv.Itoa(c.threads), "-c", strconv.Itoa(c.conns), "-d", c.duration.String(), "--latency", "-s", script, r.url).CombinedOutput()
	if err != nil {
		return peak{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	text := string(out)
	var p peak
	if m := wrkRPS.FindStringSubmatch(text); m != nil {
		p.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range wrkPct.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		switch m[1] {
		case "50":
			p.p50 = d
		case "90":
			p.p90 = d
		case "99":
			p.p99 = d
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(text); m != nil {
		p.errors, _ = strconv.Atoi(m[1])
	}
	if m := wrkSockErr.FindStringSubmatch(text); m != nil {
		for _, x := range m[1:4] {
			n, _ := strconv.Atoi(x)
			p.errors += n
		}
		p.timeouts, _ = strconv.Atoi(m[4])
	}
	if m := wrkTotal.FindStringSubmatch(text); m != nil {
		p.requests, _ = strconv.Atoi(m[1])
	}
	if p.rps == 0 {
		return p, fmt.Errorf("wrk printed no rate:\n%s", text)
	}
	return p, nil
}

// latencies summarises a load run.
type latencies struct {
	sent, failed   int
	rate           float64
	p50, p99, p999 time.Duration
	max            time.Duration
}

func summarise(ds []time.Duration, failed int, elapsed time.Duration) latencies {
	slices.Sort(ds)
	q := func(f float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[min(len(ds)-1, int(f*float64(len(ds))))]
	}
	l := latencies{sent: len(ds) + failed, failed: failed, p50: q(0.5), p99: q(0.99), p999: q(0.999)}
	if len(ds) > 0 {
		l.max = ds[len(ds)-1]
	}
	l.rate = float64(len(ds)) / elapsed.Seconds()
	return l
}

// conn is a keep-alive HTTP/1.1 connection that sends one pre-serialised request over and
// over and reads only what it must of each answer (status line, Content-Length, body), so the
// load generator spends a few microseconds per request and leaves the CPU to the servers.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	raw []byte
}

func dial(r request) (*conn, error) {
	u, err := url.Parse(r.url)
	if err != nil {
		return nil, err
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", r.method, u.RequestURI(), u.Host, len(r.body))
	for k, vs := range r.headers {
		if strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return &conn{c: c, r: bufio.NewReaderSize(c, 16<<10), raw: b.Bytes()}, nil
}

// do sends the request and reads the answer; a non-200 status is an error.
func (c *conn) do() error {
	if _, err := c.c.Write(c.raw); err != nil {
		return err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	ok := bytes.HasPrefix(line, []byte("HTTP/1.1 200"))
	n := 0
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, found := bytes.Cut(h, []byte(":")); found && bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if _, err := c.r.Discard(n); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("answer %q", bytes.TrimSpace(line))
	}
	return nil
}

// openLoop sends requests at a fixed rate for d, whatever the answers' pace: each request has a
// scheduled start, and its latency runs from that schedule, so time spent queued behind slow
// answers counts (no coordinated omission).
func openLoop(r request, rate float64, d time.Duration, workers int) latencies {
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	sched := make(chan time.Time, n)
	var mu sync.Mutex
	var ds []time.Duration
	var failed atomic.Int64
	conns := make([]*conn, workers)
	for i := range conns {
		c, err := dial(r)
		if err != nil {
			panic(err)
		}
		c.do()
		conns[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.c.Close()
			local := make([]time.Duration, 0, n/workers+1)
			for at := range sched {
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
				}
				if err := c.do(); err != nil {
					failed.Add(1)
					continue
				}
				local = append(local, time.Since(at))
			}
			mu.Lock()
			ds = append(ds, local...)
			mu.Unlock()
		}()
	}
	start := time.Now().Add(10 * time.Millisecond)
	for i := range n {
		sched <- start.Add(time.Duration(i) * interval)
	}
	close(sched)
	wg.Wait()
	return summarise(ds, int(failed.Load()), d)
}

// sequential sends n requests one after another on one connection.
func sequential(r request, n int) latencies {
	c, err := dial(r)
	if err != nil {
		panic(err)
	}
	defer c.c.Close()
	for range 200 {
		c.do()
	}
	ds := make([]time.Duration, 0, n)
	failed := 0
	start := time.Now()
	for range n {
		t := time.Now()
		if err := c.do(); err != nil {
			failed++
			continue
		}
		ds = append(ds, time.Since(t))
	}
	return summarise(ds, failed, time.Since(start))
}

// ---- report -------------------------------------------------------------------------------------

type results struct {
	xgb                        string
	creates                    []time.Duration
	sluicePeak, pyPeak         peak
	helloPeak                  peak
	rounds                     [][]peak // every wrk run: sluice, python, hello
	sluiceHalfRate, pyHalfRate float64
	sluiceHalf, pyHalf         latencies
	helloHalf                  latencies
	overhead, hopOverhead      variantMetrics
	hopDirect, hopVia          latencies
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func (r results) print(w io.Writer, c config) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "\nModel: %d trees, depth %d, %d features, trained by XGBoost %s; single-row CSV requests.\n", c.trees, c.depth, c.cols, r.xgb)
	fmt.Fprintf(bw, "wrk: %d threads, %d connections, %s per run; %d alternating rounds, medians shown.\n\n", c.threads, c.conns, c.duration, c.rounds)
	fmt.Fprintln(bw, "| server | peak req/s (wrk) | p50 | p90 | p99 | errors | server CPU per request | requests per server CPU-second |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|")
	if len(r.rounds) == 3 {
		defer func() {
			fmt.Fprint(bw, "\nEvery wrk round (req/s) — sluice:")
			for _, p := range r.rounds[0] {
				fmt.Fprintf(bw, " %.0f", p.rps)
			}
			fmt.Fprint(bw, "; Flask + gunicorn:")
			for _, p := range r.rounds[1] {
				fmt.Fprintf(bw, " %.0f", p.rps)
			}
			fmt.Fprint(bw, "; bare net/http:")
			for _, p := range r.rounds[2] {
				fmt.Fprintf(bw, " %.0f", p.rps)
			}
			fmt.Fprintln(bw)
		}()
	}
	row := func(name string, p peak) {
		per := p.cpu / time.Duration(max(p.requests, 1))
		fmt.Fprintf(bw, "| %s | %.0f | %s | %s | %s | %d | %s | %.0f |\n", name, p.rps, ms(p.p50), ms(p.p90), ms(p.p99), p.errors, us(per), float64(p.requests)/p.cpu.Seconds())
	}
	row("Sluice native endpoint (SigV4, router, XGBoost predictor)", r.sluicePeak)
	row("bare Go net/http answering a constant (ceiling, for reference)", r.helloPeak)
	if r.pyPeak.rps > 0 {
		row(fmt.Sprintf("Flask + gunicorn (%d×4 threads) + xgboost", c.workers), r.pyPeak)
		eff := (float64(r.sluicePeak.requests) / r.sluicePeak.cpu.Seconds()) / (float64(r.pyPeak.requests) / r.pyPeak.cpu.Seconds())
		fmt.Fprintf(bw, "\nThroughput ratio: %.1f× (target ≥ 10×: %s); per server CPU-second: %.1f×\n", r.sluicePeak.rps/r.pyPeak.rps, verdict(r.sluicePeak.rps >= 10*r.pyPeak.rps), eff)
	}
	fmt.Fprintln(bw, "\nOpen loop at half of each server's peak (latency from the scheduled send):")
	fmt.Fprintln(bw, "\n| server | offered req/s | achieved | p50 | p99 | p99.9 | max | failed |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|")
	fmt.Fprintf(bw, "| Sluice native | %.0f | %.0f | %s | %s | %s | %s | %d |\n", r.sluiceHalfRate, r.sluiceHalf.rate, ms(r.sluiceHalf.p50), ms(r.sluiceHalf.p99), ms(r.sluiceHalf.p999), ms(r.sluiceHalf.max), r.sluiceHalf.failed)
	fmt.Fprintf(bw, "| bare Go net/http (control, same rate as Sluice) | %.0f | %.0f | %s | %s | %s | %s | %d |\n", r.sluiceHalfRate, r.helloHalf.rate, ms(r.helloHalf.p50), ms(r.helloHalf.p99), ms(r.helloHalf.p999), ms(r.helloHalf.max), r.helloHalf.failed)
	if r.pyHalfRate > 0 {
		fmt.Fprintf(bw, "| Flask + gunicorn | %.0f | %.0f | %s | %s | %s | %s | %d |\n", r.pyHalfRate, r.pyHalf.rate, ms(r.pyHalf.p50), ms(r.pyHalf.p99), ms(r.pyHalf.p999), ms(r.pyHalf.max), r.pyHalf.failed)
	}
	fmt.Fprintf(bw, "\nSluice p99 at half load: %s (target ≤ 2 ms: %s)\n", ms(r.sluiceHalf.p99), verdict(r.sluiceHalf.p99 <= 2*time.Millisecond))
	fmt.Fprintf(bw, "Router metrics over that run (%d invocations): ModelLatency p50 %.1f µs, p99 %.1f µs; OverheadLatency p50 %.1f µs, p99 %.1f µs (target p50 ≤ 100 µs: %s)\n",
		r.overhead.Invocations, r.overhead.ModelLatency.P50Micros, r.overhead.ModelLatency.P99Micros, r.overhead.OverheadLatency.P50Micros, r.overhead.OverheadLatency.P99Micros,
		verdict(r.overhead.OverheadLatency.P50Micros <= 100))

	hop := r.hopVia.p50 - r.hopDirect.p50
	fmt.Fprintln(bw, "\nContainer model, one request at a time on one connection:")
	fmt.Fprintln(bw, "\n| path | p50 | p99 |")
	fmt.Fprintln(bw, "|---|---|---|")
	fmt.Fprintf(bw, "| direct to the model server (POST /invocations) | %s | %s |\n", us(r.hopDirect.p50), us(r.hopDirect.p99))
	fmt.Fprintf(bw, "| through the endpoint (SigV4 InvokeEndpoint) | %s | %s |\n", us(r.hopVia.p50), us(r.hopVia.p99))
	fmt.Fprintf(bw, "\nProxy hop added at p50: %s (target ≤ 150 µs: %s); the router's OverheadLatency p50 for it: %.1f µs\n",
		us(hop), verdict(hop <= 150*time.Microsecond), r.hopOverhead.OverheadLatency.P50Micros)

	if len(r.creates) > 0 {
		cs := slices.Clone(r.creates)
		slices.Sort(cs)
		fmt.Fprintf(bw, "\nEndpoint creation from an Approved registry version (CreateModel with ModelPackageName, CreateEndpointConfig, CreateEndpoint, until DescribeEndpoint says InService), %d runs: p50 %s, max %s (target < 1 s: %s)\n",
			len(cs), ms(cs[len(cs)/2]), ms(cs[len(cs)-1]), verdict(cs[len(cs)-1] < time.Second))
	}
}
