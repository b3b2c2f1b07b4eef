package serving

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers every connection with answer(request line, request body) and closes the
// connection afterwards when keep is false.
func rawServer(t *testing.T, keep bool, answer func(body string) string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					b, _ := io.ReadAll(req.Body)
					io.WriteString(c, answer(string(b)))
					if !keep {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestModelClientAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/invocations", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Amzn-SageMaker-Custom-Attributes", r.Header.Get("X-Amzn-SageMaker-Custom-Attributes"))
		switch string(body) {
		case "chunked":
			w.Write([]byte("part1,"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "big":
			w.Write([]byte(strings.Repeat("x", 2000)))
		default:
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(r.Header.Get("Content-Type") + "|" + r.Header.Get("Accept") + "|" + string(body)))
		}
	})
	srv := &http.Server{Handler: mux}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	http10 := rawServer(t, false, func(body string) string {
		return "HTTP/1.0 200 OK\r\nContent-Type: text/csv\r\n\r\nread-to-close:" + body
	})
	interim := rawServer(t, true, func(body string) string {
		return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})

	tests := []struct {
		name, addr, body string
		deadline         time.Duration
		status           int
		want             string
		err              error
	}{
		{"content length", l.Addr().String(), "a,b", time.Second, 202, "text/csv|application/json|a,b", nil},
		{"chunked", l.Addr().String(), "chunked", time.Second, 200, "part1,part2", nil},
		{"no content", l.Addr().String(), "empty", time.Second, 204, "", nil},
		{"HTTP/1.0 read to close", http10, "x", time.Second, 200, "read-to-close:x", nil},
		{"1xx before the answer", interim, "x", time.Second, 200, "ok", nil},
		{"deadline", l.Addr().String(), "slow", 100 * time.Millisecond, 0, "", errModelDeadline},
		{"over the limit", l.Addr().String(), "big", time.Second, 0, "", ErrResponseTooLarge},
		{"refused", "127.0.0.1:1", "x", time.Second, 0, "", errConnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newModelClient(tc.addr, 4, (&net.Dialer{}).DialContext)
			defer m.close()
			// Twice, so the second call reuses the kept connection where there is one.
			for range 2 {
				resp := &Response{}
				err := m.post(context.Background(), time.Now().Add(tc.deadline), "/invocations",
					&Request{Body: []byte(tc.body), ContentType: "text/csv", Accept: "application/json", CustomAttributes: "k=v"}, resp, 1000)
				if !errors.Is(err, tc.err) || (tc.err == nil && (resp.Status != tc.status || string(resp.Body) != tc.want)) {
					t.Fatalf("got %d %q, %v; want %d %q, %v", resp.Status, resp.Body, err, tc.status, tc.want, tc.err)
				}
			}
		})
	}

	// A server that closes idle connections: the next call goes on a fresh one.
	m := newModelClient(l.Addr().String(), 4, (&net.Dialer{}).DialContext)
	invoke := func() {
		resp := &Response{}
		if err := m.post(context.Background(), time.Now().Add(time.Second), "/invocations", &Request{Body: []byte("x")}, resp, 1000); err != nil || resp.Status != 202 {
			t.Fatalf("call: %d %v", resp.Status, err)
		}
	}
	invoke()
	srv.SetKeepAlivesEnabled(false)
	srv.SetKeepAlivesEnabled(true) // closes the idle connection the client holds
	time.Sleep(50 * time.Millisecond)
	invoke()

	// Cancelling the caller's context ends a call at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := m.post(ctx, time.Now().Add(5*time.Second), "/invocations", &Request{Body: []byte("slow")}, &Response{}, 1000)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("cancelled call: %v after %s", err, time.Since(start))
	}
}

// Keep-alive connections are reused: many calls, one connection.
func TestModelClientReusesConnections(t *testing.T) {
	var accepted atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				accepted.Add(1)
			}
		}}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()
	m := newModelClient(l.Addr().String(), 4, (&net.Dialer{}).DialContext)
	for range 20 {
		resp := &Response{}
		if err := m.post(context.Background(), time.Now().Add(time.Second), "/invocations", &Request{Body: []byte("x")}, resp, 100); err != nil || string(resp.Body) != "ok" {
			t.Fatalf("call: %q %v", resp.Body, err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections for 20 sequential calls, want 1", n)
	}
}
