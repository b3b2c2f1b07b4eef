package runtime_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	runtimeapi "github.com/sluice-ml/sluice/internal/api/runtime"
	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/serving"
)

// BenchmarkInvokeEndpoint measures one signed InvokeEndpoint through the whole server (HTTP,
// SigV4, router, native model) from a keep-alive client in the same process.
func BenchmarkInvokeEndpoint(b *testing.B) {
	srv := serve(b)
	body := []byte("1,1,1")
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/endpoints/ep/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	creds, _ := srv.AWS().Credentials.Retrieve(context.Background())
	v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", srv.Config.Region, time.Now())
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
			r.Header = req.Header
			resp, err := c.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

type staticKeys struct{}

func (staticKeys) LookupKey(ctx context.Context, id string) (string, awsapi.Principal, error) {
	return "secret", awsapi.Principal{AccessKeyID: id, Name: "bench"}, nil
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandler measures the server's own work for one InvokeEndpoint, without the network:
// the payload limit, SigV4 verification, the handler, the router and a native model.
func BenchmarkHandler(b *testing.B) {
	pred, err := xgboost.NewPredictor(&xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3,
		Trees: []xgboost.Tree{{LeftChildren: []int32{1, -1, -1}, RightChildren: []int32{2, -1, -1}, SplitIndices: []int32{0, 0, 0},
			SplitConditions: []float32{0.5, -1, 1}, DefaultLeft: []bool{true, false, false}}}})
	if err != nil {
		b.Fatal(err)
	}
	router := serving.NewRouter(serving.RouterConfig{})
	router.Publish("ep", serving.RoutingTable{Routes: []serving.Route{{Variant: "v", Weight: 1, Server: serving.NewNativeServer(pred, "", 1)}}})
	h := &runtimeapi.Handler{Router: router, Log: slog.New(slog.DiscardHandler)}
	verifier := &awsapi.Verifier{Keys: staticKeys{}, Services: []string{"sagemaker"}, Log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	h.Register(mux, verifier.Authenticate)

	body := []byte("1,1,1")
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:7070/endpoints/ep/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	creds := aws.Credentials{AccessKeyID: "AKIDBENCH", SecretAccessKey: "secret"}
	v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", "us-east-1", time.Now())
	w := &discardWriter{h: http.Header{}}
	rd := bytes.NewReader(body)
	req.Body = io.NopCloser(rd)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		clear(w.h)
		mux.ServeHTTP(w, req)
	}
}
