package serving

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

func newTinyServer(t testing.TB) ModelServer {
	t.Helper()
	p, err := xgboost.NewPredictor(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	return NewNativeServer(p, "", 1)
}

func TestNativeServer(t *testing.T) {
	s := newTinyServer(t)
	tests := []struct {
		name, body, contentType, accept string
		status                          int
		wantType, want                  string
	}{
		{"one csv row", "0,1,5", "text/csv", "", 200, "text/csv", "-0.25"},
		{"csv rows, crlf and blank lines", "1,3,0\r\n\r\n0,0,0\n", "text/csv; charset=utf-8", "text/csv", 200, "text/csv", "1.25\n-0.25"},
		{"missing values go left", ",,", "text/csv", "*/*", 200, "text/csv", "-0.25"},
		{"no content type means csv", "1,1,1", "", "", 200, "text/csv", "1.75"},
		{"json out", "1,1,1\n0,3,0", "text/csv", "application/json", 200, "application/json", `{"predictions":[{"score":1.75},{"score":-0.75}]}`},
		{"jsonlines out", "1,1,1\n0,3,0", "text/csv", "application/jsonlines", 200, "application/jsonlines", "{\"score\":1.75}\n{\"score\":-0.75}"},
		{"json instances", `{"instances": [[1,1,1],[0,3,0]]}`, "application/json", "text/csv", 200, "text/csv", "1.75\n-0.75"},
		{"json features objects", `{"instances": [{"features": [1,3,null]}]}`, "application/json", "text/csv", 200, "text/csv", "1.25"},
		{"json bare row", `[1,1,1]`, "application/json", "text/csv", 200, "text/csv", "1.75"},
		{"libsvm with label", "9 0:1 1:3\n2:4", "text/libsvm", "text/csv", 200, "text/csv", "1.25\n-0.25"},
		{"too few features", "1,2", "text/csv", "", http.StatusBadRequest, respText, "CSV line 1 has 2 features; the model expects 3"},
		{"too many features", "1,2,3,4", "text/csv", "", http.StatusBadRequest, respText, "more than the model's 3 features"},
		{"not a number", "1,x,3", "text/csv", "", http.StatusBadRequest, respText, `column 2: "x" is not a number`},
		{"empty body", "", "text/csv", "", http.StatusBadRequest, respText, "no CSV rows"},
		{"bad json", `{"instances": [1,`, "application/json", "", http.StatusBadRequest, respText, "not valid JSON"},
		{"unsupported content type", "x", "image/png", "", http.StatusUnsupportedMediaType, respText, "image/png is not supported"},
		{"unsupported accept", "1,1,1", "text/csv", "application/x-npy", http.StatusNotAcceptable, respText, "application/x-npy is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := invoke(t, s, tc.body, tc.contentType, tc.accept)
			if resp.Status != tc.status || resp.ContentType != tc.wantType {
				t.Fatalf("status %d %q, want %d %q (body %q)", resp.Status, resp.ContentType, tc.status, tc.wantType, resp.Body)
			}
			if got := string(resp.Body); tc.status == 200 && got != tc.want || tc.status != 200 && !strings.Contains(got, tc.want) {
				t.Fatalf("body %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNativeServerScaleAndClose(t *testing.T) {
	s := newTinyServer(t)
	if err := s.Scale(context.Background(), 3); err != nil || s.Status().Replicas != 3 {
		t.Fatalf("Scale: %v, %+v", err, s.Status())
	}
	s.Close(context.Background())
	err := s.Invoke(context.Background(), &Request{Body: []byte("1,1,1")}, &Response{})
	if err == nil || s.Status().Healthy != 0 {
		t.Fatalf("after Close: %v, %+v", err, s.Status())
	}
}

func TestEncodeMultiOutput(t *testing.T) {
	out := []float32{0.25, 0.75, float32(math.NaN()), 1}
	if got := string(encodeCSV(nil, out, 2)); got != "0.25,0.75\nnan,1" {
		t.Fatalf("csv %q", got)
	}
	if got := string(encodeJSON(nil, out, 2)); got != `{"predictions":[{"score":[0.25,0.75]},{"score":[null,1]}]}` {
		t.Fatalf("json %q", got)
	}
}

// The hot path must not allocate: one CSV row in, one prediction out, into reused buffers.
func TestNativeInvokeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := newTinyServer(t)
	req := &Request{Body: []byte("0.25,1.5,-3.75"), ContentType: "text/csv", Accept: "text/csv"}
	resp := &Response{Body: make([]byte, 0, 64)}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		resp.Reset()
		if err := s.Invoke(ctx, req, resp); err != nil || resp.Status != 200 {
			t.Fatalf("Invoke: %v %d", err, resp.Status)
		}
	})
	if allocs != 0 {
		t.Fatalf("native Invoke allocates %.1f times per call", allocs)
	}
}
