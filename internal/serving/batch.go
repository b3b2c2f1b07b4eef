package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
)

// ExecutionParameters is a model server's answer to batch transform's GET /execution-parameters:
// how it wants to be called. Zero members are left to the transform job's defaults.
type ExecutionParameters struct {
	MaxConcurrentTransforms int `json:"MaxConcurrentTransforms"`
	// BatchStrategy is MULTI_RECORD or SINGLE_RECORD, as the container contract spells it.
	BatchStrategy  string `json:"BatchStrategy"`
	MaxPayloadInMB int    `json:"MaxPayloadInMB"`
}

// BatchParameters is implemented by model servers that can say how batch transform should call
// them. ok is false when the model has no opinion (a container without the optional
// /execution-parameters route).
type BatchParameters interface {
	ExecutionParameters(ctx context.Context) (p ExecutionParameters, ok bool, err error)
}

// ExecutionParameters of the in-process XGBoost server are those of SageMaker's XGBoost
// container: as many concurrent mini-batches as there are cores, packed up to 6 MB.
func (s *nativeServer) ExecutionParameters(ctx context.Context) (ExecutionParameters, bool, error) {
	return ExecutionParameters{MaxConcurrentTransforms: runtime.GOMAXPROCS(0), BatchStrategy: "MULTI_RECORD", MaxPayloadInMB: 6}, true, nil
}

// ExecutionParameters asks a healthy replica for GET /execution-parameters. A container that
// does not serve the route (any answer but 200) has no opinion.
func (f *containerFleet) ExecutionParameters(ctx context.Context) (ExecutionParameters, bool, error) {
	r, err := f.acquire(ctx)
	if err != nil {
		return ExecutionParameters{}, false, err
	}
	defer f.release(r)
	r.mu.Lock()
	client, url := r.client, strings.TrimSuffix(r.pingURL, "/ping")+"/execution-parameters"
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ExecutionParameters{}, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ExecutionParameters{}, false, fmt.Errorf("serving: model %s: GET /execution-parameters: %w", f.cfg.model, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return ExecutionParameters{}, false, fmt.Errorf("serving: model %s: GET /execution-parameters: %w", f.cfg.model, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ExecutionParameters{}, false, nil
	}
	var p ExecutionParameters
	if err := json.Unmarshal(body, &p); err != nil {
		return ExecutionParameters{}, false, fmt.Errorf("serving: model %s: GET /execution-parameters answered %q, not {\"MaxConcurrentTransforms\": …, \"BatchStrategy\": …, \"MaxPayloadInMB\": …}: %w",
			f.cfg.model, clipExecParams(string(body), 200), err)
	}
	switch p.BatchStrategy {
	case "", "MULTI_RECORD", "SINGLE_RECORD":
	default:
		return ExecutionParameters{}, false, fmt.Errorf("serving: model %s: GET /execution-parameters: BatchStrategy %q is neither MULTI_RECORD nor SINGLE_RECORD", f.cfg.model, p.BatchStrategy)
	}
	if p.MaxConcurrentTransforms < 0 || p.MaxPayloadInMB < 0 {
		return ExecutionParameters{}, false, errors.New("serving: GET /execution-parameters: negative values")
	}
	return p, true, nil
}

func clipExecParams(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
