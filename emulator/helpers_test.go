package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the test clock's start: a whole hour, so rate slots and daily buckets begin there.
var t0 = time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)

// clock is an injected Config.Now that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start serves an emulator on loopback for the test; a nil Now gets a clock at t0.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = newClock().Now
	}
	srv, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// upload builds a request body with key "test-key" and the given event objects.
func upload(events ...string) string {
	return `{"api_key":"test-key","events":[` + strings.Join(events, ",") + `]}`
}

// event is a valid event for device and user ("" leaves the id out), with extra
// fields appended.
func event(device, user string, extra ...string) string {
	fields := []string{`"event_type":"[Appboy] Email Opened"`, `"time":1735786800000`}
	if device != "" {
		fields = append(fields, `"device_id":"`+device+`"`)
	}
	if user != "" {
		fields = append(fields, `"user_id":"`+user+`"`)
	}
	return "{" + strings.Join(append(fields, extra...), ",") + "}"
}

// repeat returns n copies of s.
func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// post sends body to url (gzip-encoded when zip) and returns the status and body.
func post(t *testing.T, url, body string, zip bool) (int, string) {
	t.Helper()
	if zip {
		return send(t, http.MethodPost, url, gzipped(t, body), "gzip")
	}
	return send(t, http.MethodPost, url, []byte(body), "")
}

// send makes one request of JSON and returns the status and body.
func send(t *testing.T, method, url string, payload []byte, contentEncoding string) (int, string) {
	t.Helper()
	header := http.Header{"Content-Type": {"application/json"}}
	if contentEncoding != "" {
		header.Set("Content-Encoding", contentEncoding)
	}
	return sendWithHeader(t, method, url, payload, header)
}

// sendWithHeader makes one request with exactly the given header.
func sendWithHeader(t *testing.T, method, url string, payload []byte, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(got)
}

// assertJSON fails unless got and want hold the same JSON value.
func assertJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got: %s\nwant: %s", got, want)
	}
}
