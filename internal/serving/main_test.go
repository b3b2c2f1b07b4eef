package serving

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
)

// helperEnv makes the test binary run as a model server container (see helperServer).
const helperEnv = "SLUICE_SERVING_TEST_HELPER"

// TestMain lets the test binary stand in for the sluice binary as the runtime's init shim and
// for a user's model server image.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		os.Exit(runtime.InitMain(os.Args[2:]))
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperServer(mode))
	}
	os.Exit(m.Run())
}

// helperServer is a model server following SageMaker's serving contract. Modes: "server"
// answers; "exit" exits at once; "never-ready" answers /ping with 503. Request bodies steer
// the answer: "crash" exits, "sleep:MS" waits, "status:N" answers N, "dial:ADDR" says whether
// the server reaches ADDR; anything else is echoed
// back in a JSON document that names the replica (port and pid).
func helperServer(mode string) int {
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "helper: failing on purpose before listening")
		return 3
	}
	port := os.Getenv("SAGEMAKER_BIND_TO_PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		if mode == "never-ready" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := string(body)
		switch {
		case s == "crash":
			fmt.Fprintln(os.Stderr, "helper: crashing on request")
			os.Exit(4)
		case strings.HasPrefix(s, "sleep:"):
			ms, _ := strconv.Atoi(strings.TrimPrefix(s, "sleep:"))
			time.Sleep(time.Duration(ms) * time.Millisecond)
		case strings.HasPrefix(s, "dial:"):
			// Reports whether the server can reach an address itself.
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(s, "dial:"), time.Second)
			if err != nil {
				fmt.Fprint(w, "unreachable")
				return
			}
			c.Close()
			fmt.Fprint(w, "reached")
			return
		case strings.HasPrefix(s, "status:"):
			code, _ := strconv.Atoi(strings.TrimPrefix(s, "status:"))
			w.WriteHeader(code)
			fmt.Fprintf(w, "model failed with %d", code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-SageMaker-Custom-Attributes", "seen="+r.Header.Get("X-Amzn-SageMaker-Custom-Attributes"))
		model, _ := os.ReadFile(os.Getenv(runtime.OptMLEnvVar) + "/model/model.txt")
		json.NewEncoder(w).Encode(map[string]string{
			"port": port, "pid": strconv.Itoa(os.Getpid()), "body": s,
			"content_type": r.Header.Get("Content-Type"), "accept": r.Header.Get("Accept"),
			"model": string(model), "env": os.Getenv("MY_SETTING"),
		})
	})
	fmt.Println("helper: listening on", port)
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// testEnv is a Host over a local blob store, with the test binary as the sluice executable.
type testEnv struct {
	host  *Host
	blob  *blob.Local
	store string
}

func newTestEnv(t *testing.T, mappings ...runtime.Mapping) *testEnv {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		py = "python3"
	}
	cat, err := runtime.NewCatalog(runtime.CatalogConfig{Executable: exe, Python: py, Mappings: mappings})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	proc, err := runtime.NewProcess(runtime.ProcessConfig{InitPath: exe, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	store, err := blob.NewLocal(root + "/blobs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.EnsureBucket(context.Background(), "models"); err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(HostConfig{Blob: store, Catalog: cat, Runtime: proc, WorkDir: root + "/serving",
		PreferredPort: -1, HealthInterval: 100 * time.Millisecond, StopGrace: 2 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{host: h, blob: store, store: root}
}

// helperImage maps an image to the test binary running helperServer in mode.
func helperImage(t *testing.T, image, mode string) runtime.Mapping {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return runtime.Mapping{Image: image, Entrypoint: []string{exe}, Env: []string{helperEnv + "=" + mode}}
}

// putTarGz stores files as a model.tar.gz and returns its URI.
func (e *testEnv) putTarGz(t *testing.T, key string, files map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	gz.Close()
	u := blob.MustParseURI("s3://models/" + key)
	if err := e.blob.Put(context.Background(), u, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	return u.String()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimSpace(p))
	return len(p), nil
}

// tinyModel is a regression model with two trees whose predictions are easy to check:
// 0.5 + (x0 < 0.5 ? -1 : 1) + (x1 < 2 ? 0.25 : -0.25), missing values going left.
func tinyModel() *xgboost.Model {
	tree := func(feat int32, cond, left, right float32) xgboost.Tree {
		return xgboost.Tree{
			LeftChildren:    []int32{1, xgboost.NoChild, xgboost.NoChild},
			RightChildren:   []int32{2, xgboost.NoChild, xgboost.NoChild},
			SplitIndices:    []int32{feat, 0, 0},
			SplitConditions: []float32{cond, left, right},
			DefaultLeft:     []bool{true, false, false},
		}
	}
	return &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3,
		Trees: []xgboost.Tree{tree(0, 0.5, -1, 1), tree(1, 2, 0.25, -0.25)}}
}

func tinyModelJSON(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := tinyModel().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func invoke(t *testing.T, s ModelServer, body, contentType, accept string) *Response {
	t.Helper()
	resp := &Response{}
	if err := s.Invoke(context.Background(), &Request{Body: []byte(body), ContentType: contentType, Accept: accept}, resp); err != nil {
		t.Fatalf("Invoke(%q): %v", body, err)
	}
	return resp
}
