package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
)

// Invocation is one request an EndpointTest step sends.
type Invocation struct {
	Body        []byte
	ContentType string
	Accept      string
}

// InvocationResult is the endpoint's answer: the model's HTTP status (0 when it could not
// answer), its body, the variant that served it and how long the whole call took.
type InvocationResult struct {
	Status  int
	Body    []byte
	Variant string
	Latency time.Duration
}

// endpointTestKind runs Sluice:EndpointTest steps: it invokes an environment's endpoint with
// each sample payload — inline in Payloads, or one per line of the object PayloadsS3Uri names —
// and checks every answer: the status (ExpectStatus, default 200), the latency
// (MaxLatencyMillis), and the body (ExpectBodyContains, ExpectBodyMatches, a regular
// expression). An inline payload may carry its own expectations, which override the step's.
// The step fails with the first failed assertions listed; its properties count the results.
type endpointTestKind struct{}

// launchesJob is true because a step with ProcessingJob waits for its job; a step with payloads
// finishes in start, so the early row costs it nothing.
func (endpointTestKind) launchesJob() bool { return true }

// testCase is one payload and what its answer must satisfy.
type testCase struct {
	Body         string
	ContentType  string
	Accept       string
	ExpectStatus int
	Contains     string
	Matches      *regexp.Regexp
	MaxLatency   time.Duration
}

// maxPayloads bounds how many payloads one step sends.
const maxPayloads = 1000

func (endpointTestKind) start(ctx context.Context, a *attempt) outcome {
	dl := a.d.e.cfg.Delivery
	if dl == nil {
		return failed("%s steps need environments, and this server runs without them.", StepEndpointTest)
	}
	args, err := a.argumentMap(ctx)
	if err != nil {
		return failed("%v", err)
	}
	env, _ := args["Environment"].(string)
	endpoint, _ := args["EndpointName"].(string)
	if _, ok := args["ProcessingJob"]; ok {
		return a.startEndpointTestJob(ctx, args, env, endpoint)
	}
	base, err := baseCase(args)
	if err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	cases, err := a.testCases(ctx, args, base)
	if err != nil {
		return failed("step %q: %v", a.step.Name, err)
	}
	var problems []string
	var maxLatency time.Duration
	passed := 0
	results := make([]any, 0, len(cases))
	for i, c := range cases {
		res, err := dl.Invoke(ctx, env, endpoint, Invocation{Body: []byte(c.Body), ContentType: c.ContentType, Accept: c.Accept})
		if err != nil {
			var de *DeliveryError
			if errors.As(err, &de) {
				return failed("step %q: %s", a.step.Name, de.Message)
			}
			problems = append(problems, fmt.Sprintf("payload %d: %v", i+1, err))
			results = append(results, map[string]any{"Payload": i + 1, "Error": err.Error()})
			continue
		}
		maxLatency = max(maxLatency, res.Latency)
		why := c.verify(res)
		r := map[string]any{"Payload": i + 1, "Status": res.Status, "LatencyMillis": millis(res.Latency), "Variant": res.Variant,
			"Body": truncate(string(res.Body), 256)}
		if len(why) > 0 {
			r["Failures"] = why
			problems = append(problems, fmt.Sprintf("payload %d: %s", i+1, strings.Join(why, "; ")))
		} else {
			passed++
		}
		results = append(results, r)
	}
	props := map[string]any{"Environment": env, "EndpointName": endpoint, "Invocations": json.Number(strconv.Itoa(len(cases))),
		"Passed": json.Number(strconv.Itoa(passed)), "Failed": json.Number(strconv.Itoa(len(cases) - passed)),
		"MaxLatencyMillis": json.Number(strconv.FormatFloat(millis(maxLatency), 'f', -1, 64))}
	md := map[string]any{"EndpointTest": map[string]any{"Results": results}}
	if len(problems) > 0 {
		shown := problems[:min(len(problems), 5)]
		o := failed("%d of %d endpoint test payloads failed: %s", len(problems), len(cases), strings.Join(shown, " | "))
		o.metadata = md
		return o
	}
	return succeeded(props, md)
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// baseCase reads the step-wide defaults and assertions.
func baseCase(args map[string]any) (testCase, error) {
	c := testCase{ContentType: "text/csv", ExpectStatus: 200}
	if err := c.apply(args, "Arguments."); err != nil {
		return c, err
	}
	return c, nil
}

// apply overlays the members of m on c.
func (c *testCase) apply(m map[string]any, at string) error {
	if s, ok := m["ContentType"].(string); ok && s != "" {
		c.ContentType = s
	}
	if s, ok := m["Accept"].(string); ok {
		c.Accept = s
	}
	if v, ok := m["ExpectStatus"]; ok {
		f, ok := argFloat(v)
		if !ok || f < 100 || f > 599 {
			return fmt.Errorf("%sExpectStatus: want an HTTP status, got %v", at, v)
		}
		c.ExpectStatus = int(f)
	}
	if s, ok := m["ExpectBodyContains"].(string); ok {
		c.Contains = s
	}
	if s, ok := m["ExpectBodyMatches"].(string); ok {
		re, err := regexp.Compile(s)
		if err != nil {
			return fmt.Errorf("%sExpectBodyMatches: %v", at, err)
		}
		c.Matches = re
	}
	if v, ok := m["MaxLatencyMillis"]; ok {
		f, ok := argFloat(v)
		if !ok || f <= 0 {
			return fmt.Errorf("%sMaxLatencyMillis: want a positive number, got %v", at, v)
		}
		c.MaxLatency = time.Duration(f * float64(time.Millisecond))
	}
	return nil
}

// testCases reads the payloads: inline (a string, or an object with Body and expectations) or
// one per non-empty line of an S3 object.
func (a *attempt) testCases(ctx context.Context, args map[string]any, base testCase) ([]testCase, error) {
	var out []testCase
	if list, ok := args["Payloads"].([]any); ok {
		for i, p := range list {
			at := fmt.Sprintf("Arguments.Payloads[%d]", i)
			c := base
			switch p := p.(type) {
			case string:
				c.Body = p
			case map[string]any:
				body, ok := p["Body"].(string)
				if !ok {
					return nil, fmt.Errorf("%s.Body: required (a string)", at)
				}
				c.Body = body
				if err := c.apply(p, at+"."); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("%s: want a string or an object with Body, got %s", at, describeKind(p))
			}
			out = append(out, c)
		}
	}
	if uri, ok := args["PayloadsS3Uri"].(string); ok && uri != "" {
		lines, err := readPayloadLines(ctx, a.d.e.cfg.Blob, uri)
		if err != nil {
			return nil, fmt.Errorf("Arguments.PayloadsS3Uri: %v", err)
		}
		for _, l := range lines {
			c := base
			c.Body = l
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no payloads to send: Payloads is empty and PayloadsS3Uri names none")
	}
	if len(out) > maxPayloads {
		return nil, fmt.Errorf("%d payloads; a test sends at most %d", len(out), maxPayloads)
	}
	return out, nil
}

func readPayloadLines(ctx context.Context, bs blob.Store, uri string) ([]string, error) {
	if bs == nil {
		return nil, fmt.Errorf("this server has no artifact store")
	}
	u, err := blob.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	rc, err := bs.Get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSONDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSONDocument {
		return nil, fmt.Errorf("%s is larger than %d bytes", uri, maxJSONDocument)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxJSONDocument)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// verify lists what the answer fails to satisfy.
func (c testCase) verify(r InvocationResult) []string {
	var why []string
	if r.Status != c.ExpectStatus {
		why = append(why, fmt.Sprintf("status %d, want %d", r.Status, c.ExpectStatus))
	}
	if c.MaxLatency > 0 && r.Latency > c.MaxLatency {
		why = append(why, fmt.Sprintf("latency %.1f ms, want at most %.1f ms", millis(r.Latency), millis(c.MaxLatency)))
	}
	if c.Contains != "" && !bytes.Contains(r.Body, []byte(c.Contains)) {
		why = append(why, fmt.Sprintf("body %q does not contain %q", truncate(string(r.Body), 80), c.Contains))
	}
	if c.Matches != nil && !c.Matches.Match(r.Body) {
		why = append(why, fmt.Sprintf("body %q does not match /%s/", truncate(string(r.Body), 80), c.Matches))
	}
	return slices.Clip(why)
}

func (endpointTestKind) check(ctx context.Context, a *attempt) outcome {
	if a.row.ResourceARN == "" {
		return outcome{status: StepExecuting}
	}
	return checkEndpointTestJob(ctx, a)
}

func (endpointTestKind) stop(ctx context.Context, a *attempt) error {
	if a.row.ResourceARN == "" {
		return nil // payloads are sent within start
	}
	return processingKind{}.stop(ctx, a)
}

// argFloat reads a number given as a JSON number, a Go number or a numeric string (pipeline
// parameters reach arguments as strings).
func argFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}
