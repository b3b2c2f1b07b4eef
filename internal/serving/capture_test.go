package serving

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
)

type capturedLine struct {
	CaptureData struct {
		EndpointInput, EndpointOutput *struct {
			ObservedContentType, Mode, Data, Encoding string
		}
	}
	EventMetadata struct {
		EventID, InferenceID, InferenceTime string
	}
	EventVersion string
}

func readCapture(t *testing.T, store blob.Store, prefix string) (files []string, lines []capturedLine) {
	t.Helper()
	ctx := context.Background()
	err := store.List(ctx, blob.MustParseURI(prefix), func(o blob.ObjectInfo) error {
		files = append(files, o.URI.String())
		rc, err := store.Get(ctx, o.URI)
		if err != nil {
			return err
		}
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			var l capturedLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			lines = append(lines, l)
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, lines
}

func TestDataCapture(t *testing.T) {
	e := newTestEnv(t)
	c := NewCapturer(CapturerConfig{Store: e.blob, FlushInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r := NewRouter(RouterConfig{Capture: c, Rand: seeded(7)})

	tests := []struct {
		name     string
		capture  CaptureConfig
		requests int
		// lines is the exact count, or -1 to check a sampled share.
		lines        int
		inEncoding   string
		outEncoding  string
		inData       string
		inputOnly    bool
		sampledShare float64
	}{
		{"csv and json as text", CaptureConfig{SamplingPercentage: 100, CaptureInput: true, CaptureOutput: true,
			CSVContentTypes: []string{"text/csv"}, JSONContentTypes: []string{"application/json"}}, 5, 5, "CSV", "CSV", "1,1,1", false, 0},
		{"no content type lists means base64", CaptureConfig{SamplingPercentage: 100, CaptureInput: true, CaptureOutput: true}, 3, 3,
			"BASE64", "BASE64", base64.StdEncoding.EncodeToString([]byte("1,1,1")), false, 0},
		{"input only, sampled", CaptureConfig{SamplingPercentage: 20, CaptureInput: true,
			CSVContentTypes: []string{"text/csv"}}, 2000, -1, "CSV", "", "1,1,1", true, 0.2},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := "s3://capture/run" + string(rune('a'+i)) + "/"
			tc.capture.Destination = dest
			if err := r.Publish("Capture-EP", RoutingTable{Routes: []Route{{Variant: "AllTraffic", Weight: 1, Server: newTinyServer(t)}}, Capture: &tc.capture}); err != nil {
				t.Fatal(err)
			}
			for range tc.requests {
				resp := &Response{}
				if _, err := r.Invoke(context.Background(), "Capture-EP", &Request{Body: []byte("1,1,1"), ContentType: "text/csv", InferenceID: "inf-1"}, resp); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			files, lines := readCapture(t, e.blob, dest)
			pathRE := regexp.MustCompile(`^` + regexp.QuoteMeta(dest) + `Capture-EP/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$`)
			for _, f := range files {
				if !pathRE.MatchString(f) {
					t.Fatalf("capture file %s is not named as SageMaker names them", f)
				}
			}
			if tc.lines >= 0 && len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d", len(lines), tc.lines)
			}
			if tc.lines < 0 {
				share := float64(len(lines)) / float64(tc.requests)
				if share < tc.sampledShare-0.04 || share > tc.sampledShare+0.04 {
					t.Fatalf("sampled %.3f of requests, want about %.2f", share, tc.sampledShare)
				}
			}
			l := lines[0]
			in := l.CaptureData.EndpointInput
			if in == nil || in.Mode != "INPUT" || in.Encoding != tc.inEncoding || in.Data != tc.inData || in.ObservedContentType != "text/csv" {
				t.Fatalf("input %+v", in)
			}
			if out := l.CaptureData.EndpointOutput; tc.inputOnly != (out == nil) || out != nil && (out.Mode != "OUTPUT" || out.Encoding != tc.outEncoding) {
				t.Fatalf("output %+v", out)
			}
			if l.EventVersion != "0" || l.EventMetadata.InferenceID != "inf-1" || len(l.EventMetadata.EventID) != 36 {
				t.Fatalf("metadata %+v", l.EventMetadata)
			}
			if _, err := time.Parse(time.RFC3339, l.EventMetadata.InferenceTime); err != nil {
				t.Fatalf("inferenceTime: %v", err)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Dropped != 0 || st.Failed != 0 || st.Captured == 0 {
		t.Fatalf("stats %+v", st)
	}
}
