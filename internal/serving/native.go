package serving

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// xgboostModelFile is the file SageMaker's XGBoost container (and Sluice's trainer) writes.
const xgboostModelFile = "xgboost-model"

// LoadXGBoostDir finds and loads the XGBoost model in a model folder: xgboost-model first,
// then any *.json, *.ubj or *.model file, in name order.
func LoadXGBoostDir(dir string) (*xgboost.Predictor, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("serving: read model folder: %w", err)
	}
	var candidates []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		switch {
		case n == xgboostModelFile:
			candidates = slices.Insert(candidates, 0, n)
		case strings.HasSuffix(n, ".json"), strings.HasSuffix(n, ".ubj"), strings.HasSuffix(n, ".model"), strings.HasSuffix(n, ".bst"):
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("serving: the model artifacts hold no XGBoost model (looked for %s, *.json, *.ubj, *.model)", xgboostModelFile)
	}
	var errs []error
	for _, n := range candidates {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("serving: %w", err)
		}
		m, err := xgboost.Load(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			continue
		}
		p, err := xgboost.NewPredictor(m)
		if err != nil {
			return nil, fmt.Errorf("serving: %s: %w", n, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("serving: no loadable XGBoost model (JSON or UBJSON, as saved by XGBoost ≥ 1.0 or Sluice's trainer): %w", errors.Join(errs...))
}

// Content types the native server answers with.
const (
	respCSV       = ctCSV
	respJSON      = ctJSON
	respJSONLines = ctJSONLines
	respText      = "text/plain; charset=utf-8"
)

// nativeServer serves an XGBoost model in-process, as SageMaker's XGBoost container would.
// Replicas are notional: the predictor is shared and safe for concurrent use, so an instance
// count only changes what is reported.
type nativeServer struct {
	pred          *xgboost.Predictor
	defaultAccept string
	replicas      atomic.Int32
	closed        atomic.Bool
	scratch       sync.Pool // *nativeScratch
}

type nativeScratch struct {
	rows []float32
	out  []float32
}

// NewNativeServer serves pred. defaultAccept is the answer's content type when the caller
// accepts anything (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT); empty means text/csv.
func NewNativeServer(pred *xgboost.Predictor, defaultAccept string, replicas int) ModelServer {
	s := &nativeServer{pred: pred, defaultAccept: defaultAccept}
	if s.defaultAccept == "" {
		s.defaultAccept = ctCSV
	}
	s.replicas.Store(int32(max(replicas, 0)))
	s.scratch.New = func() any { return &nativeScratch{} }
	return s
}

func (s *nativeServer) Invoke(ctx context.Context, req *Request, resp *Response) error {
	if s.closed.Load() || s.replicas.Load() == 0 {
		return fmt.Errorf("serving: native model has no running instance: %w", ErrUnavailable)
	}
	sc := s.scratch.Get().(*nativeScratch)
	defer s.scratch.Put(sc)
	nfeat := s.pred.NumFeature()
	var (
		n   int
		err error
	)
	ct := req.ContentType
	switch {
	case ct == "" || mediaIs(ct, ctCSV):
		sc.rows, n, err = parseCSV(req.Body, nfeat, sc.rows[:0])
	case mediaIs(ct, ctLibSVM), mediaIs(ct, ctXLibSVM):
		sc.rows, n, err = parseLibSVM(req.Body, nfeat, sc.rows[:0])
	case mediaIs(ct, ctJSON):
		sc.rows, n, err = parseJSON(req.Body, nfeat, sc.rows[:0])
	default:
		return s.fail(resp, http.StatusUnsupportedMediaType, "Content type "+ct+" is not supported by this model; use text/csv, text/libsvm or application/json.")
	}
	if err != nil {
		return s.fail(resp, http.StatusBadRequest, err.Error())
	}
	per := s.pred.NumOutputs()
	if cap(sc.out) < n*per {
		sc.out = make([]float32, n*per)
	}
	out := sc.out[:n*per]
	if n == 1 {
		err = s.pred.Predict(sc.rows, out)
	} else {
		err = s.pred.PredictBatch(sc.rows, nfeat, out)
	}
	if err != nil {
		return s.fail(resp, http.StatusBadRequest, err.Error())
	}
	accept := req.Accept
	if accept == "" || accept == "*/*" {
		accept = s.defaultAccept
	}
	resp.Status = http.StatusOK
	switch {
	case mediaIs(accept, ctCSV):
		resp.ContentType = respCSV
		resp.Body = encodeCSV(resp.Body, out, per)
	case mediaIs(accept, ctJSON):
		resp.ContentType = respJSON
		resp.Body = encodeJSON(resp.Body, out, per)
	case mediaIs(accept, ctJSONLines):
		resp.ContentType = respJSONLines
		resp.Body = encodeJSONLines(resp.Body, out, per)
	default:
		return s.fail(resp, http.StatusNotAcceptable, "Accept "+accept+" is not supported by this model; use text/csv, application/json or application/jsonlines.")
	}
	return nil
}

func (s *nativeServer) fail(resp *Response, status int, msg string) error {
	resp.Status = status
	resp.ContentType = respText
	resp.Body = append(resp.Body[:0], msg...)
	return nil
}

func (s *nativeServer) Scale(ctx context.Context, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("serving: scale to %d replicas: the count cannot be negative", replicas)
	}
	s.replicas.Store(int32(replicas))
	return nil
}

func (s *nativeServer) Status() Status {
	n := int(s.replicas.Load())
	healthy := n
	if s.closed.Load() {
		healthy = 0
	}
	return Status{Kind: "native", Replicas: n, Healthy: healthy}
}

func (s *nativeServer) Close(ctx context.Context) error {
	s.closed.Store(true)
	return nil
}
