package httpclient

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// The client's connections are reused: conns requests in flight keep conns
// connections, not one per request.
func TestTheClientKeepsItsConnectionsForReuse(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns[c.RemoteAddr().String()] = true
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	client := New(5*time.Second, nil, 2)
	for range 10 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("10 requests one after the other took %d connections, want 1", len(conns))
	}
}

func TestTheTimeoutBoundsTheWholeRequest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	if _, err := New(100*time.Millisecond, nil, 1).Get(srv.URL); err == nil {
		t.Fatal("a request past the timeout succeeded")
	}
}

func TestServiceURLTakesOnlyAnHTTPURLAndGivesItItsPath(t *testing.T) {
	for _, tt := range []struct{ raw, example, want, err string }{
		{raw: "http://127.0.0.1:8765", want: "http://127.0.0.1:8765/api"},
		{raw: "https://proxy.internal/", want: "https://proxy.internal/api"},
		{raw: "https://proxy.internal/other/path", want: "https://proxy.internal/other/path"},
		{raw: "ftp://host", err: `endpoint: "ftp://host" is not an http(s) URL`},
		{raw: "host:8080", err: `endpoint: "host:8080" is not an http(s) URL`},
		{raw: "http://", example: "https://example.com", err: `endpoint: "http://" is not an http(s) URL such as https://example.com`},
	} {
		got, err := ServiceURL("endpoint", tt.raw, tt.example, "/api")
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("%q: %q, %v; want %q, %q", tt.raw, got, err, tt.want, tt.err)
		}
	}
}

func TestRedactedHidesThePassword(t *testing.T) {
	if got := Redacted("https://user:s3cret@host/path"); got != "https://user:xxxxx@host/path" {
		t.Errorf("%q", got)
	}
}

// The endpoint, when set, overrides the region.
func TestEndpointOrRegion(t *testing.T) {
	spec := service.NewConfigSpec().Fields(service.NewStringField("endpoint").Default(""), service.NewStringField("region").Default("us"))
	base := func(region string) (string, error) {
		if region != "us" {
			return "", errors.New("region: not us")
		}
		return "https://us.example.com", nil
	}
	for yaml, want := range map[string]string{
		"{}":                                "https://us.example.com/api",
		"endpoint: http://127.0.0.1:8765":   "http://127.0.0.1:8765/api",
		"{endpoint: http://x/, region: eu}": "http://x/api",
		"region: eu":                        "error: region: not us",
		"endpoint: x":                       `error: endpoint: "x" is not an http(s) URL`,
	} {
		conf, err := spec.ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EndpointOrRegion(conf, "endpoint", "region", base, "/api")
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != want {
			t.Errorf("%s: %q, want %q", yaml, got, want)
		}
	}
}
