package brazetrack

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator/braze"
	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
	"github.com/connect-amplitude/connect-amplitude/internal/secretfile/secretfiletest"
	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
)

func startEmulator(t *testing.T, cfg braze.Config) *braze.Server {
	t.Helper()
	if cfg.APIKeys == nil {
		cfg.APIKeys = []string{"test-rest-key"}
	}
	srv, err := braze.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestObjectsGoInRequestsOfAtMost75(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	emu := braze.New(braze.Config{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Attributes []json.RawMessage `json:"attributes"`
		}
		_ = json.Unmarshal(body, &req)
		mu.Lock()
		sizes = append(sizes, len(req.Attributes))
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := startPipeline(t, srv.URL, "")
	if failed := p.send(t, objects("u", 200)); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	total := 0
	for _, n := range sizes {
		if n > brazeapi.MaxObjectsPerRequest {
			t.Errorf("a request of %d objects", n)
		}
		total += n
	}
	if total != 200 || len(sizes) != 3 {
		t.Errorf("requests of %v objects, want three holding 200", sizes)
	}
	expectCohort(t, emu.Users(), "u", 200, nil)
}

// Each kind of answer is acted on object by object: Braze's non-fatal
// errors fail just their objects, a fatal 400 naming every object fails
// them all, objects that break Braze's rules never leave, and the rest are
// delivered.
func TestEachObjectIsDeliveredOrFailsWithItsReason(t *testing.T) {
	emu := startEmulator(t, braze.Config{BlockedExternalIDs: []string{"u-3", "u-80", "all-0", "all-1"}})
	p := startPipeline(t, emu.URL, "")
	objs := objects("u", 100)
	objs[10] = `{"amplitude_cohorts":{"add":["[Amplitude] A: 1"]}}`
	objs[20] = `{"external_id":"u-20","k":"` + strings.Repeat("x", 256) + `"}`
	objs[30] = `not json`
	failed := p.send(t, objs)
	want := map[int]string{
		3:  "braze_users_track: rejected: provided external_id is blacklisted and disallowed",
		80: "braze_users_track: rejected: provided external_id is blacklisted and disallowed",
		10: "braze_users_track: invalid_object: has none of the identifiers",
		20: "braze_users_track: invalid_object: attribute \"k\": value",
		30: "braze_users_track: invalid_object: an attributes object must be a JSON object",
	}
	if len(failed) != len(want) {
		t.Fatalf("failed %v, want %v", failed, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(failed[i], w) {
			t.Errorf("object %d: %q, want %q...", i, failed[i], w)
		}
	}
	expectCohort(t, emu.Users(), "u", 100, map[int]bool{3: true, 80: true, 10: true, 20: true, 30: true})

	// A request whose every object Braze refuses is a fatal 400.
	failed = p.send(t, objects("all", 2))
	if len(failed) != 2 || !strings.Contains(failed[0], "blacklisted") || !strings.Contains(failed[1], "blacklisted") {
		t.Fatalf("failed %v", failed)
	}
	if got := emu.Stats().Requests["400"]; got != 1 {
		t.Errorf("%d answers 400, want 1", got)
	}
}

// A 4xx that names no object: the request is halved until the object Braze
// refuses is alone.
func TestARequestRefusedWithoutNamingAnObjectIsHalvedUntilTheCulpritIsAlone(t *testing.T) {
	emu := braze.New(braze.Config{})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "poison") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"Bad syntax"}`)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := startPipeline(t, srv.URL, "")
	objs := objects("u", 75)
	objs[42] = `{"external_id":"u-42","poison":true}`
	failed := p.send(t, objs)
	if len(failed) != 1 || failed[42] != "braze_users_track: request_rejected: HTTP 400: Bad syntax" {
		t.Fatalf("failed %v", failed)
	}
	expectCohort(t, emu.Users(), "u", 75, map[int]bool{42: true})
	// One request, then two halves per level down to the culprit: at most
	// 1 + 2·7.
	if n := requests.Load(); n > 15 {
		t.Errorf("%d requests to isolate one object", n)
	}
}

// 5xx answers, slow answers past the timeout, reset connections and 202
// "queued" answers never fail an object: everything arrives, once.
func TestTransientFailuresAreRetriedUntilEverythingArrives(t *testing.T) {
	var applied sync.Map // user -> count
	emu := startEmulator(t, braze.Config{
		Faults: braze.Faults{Seed: 7, ErrorRate: 0.25, ResetRate: 0.15, SlowRate: 0.1, SlowDelay: 4 * time.Second, QueuedRate: 0.2},
		Record: func(op braze.Op) {
			n, _ := applied.LoadOrStore(op.User, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		},
	})
	// The timeout is far from both the slow delay and the time an answer
	// takes on a loaded machine: a request timed out after Braze applied it
	// would be applied again.
	p := startPipeline(t, emu.URL, `timeout: 1500ms`)
	if failed := p.send(t, objects("u", 3000)); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	expectCohort(t, emu.Users(), "u", 3000, nil)
	stats := emu.Stats()
	if stats.Requests["reset"] == 0 || stats.Requests["202"] == 0 || stats.SlowAnswers == 0 || stats.Requests["500"]+stats.Requests["502"]+stats.Requests["503"]+stats.Requests["504"] == 0 {
		t.Errorf("not every fault was met: %+v", stats)
	}
	// The faults fail before anything is applied, and a slow answer the
	// client gave up on applies nothing: each change applied once.
	applied.Range(func(user, n any) bool {
		if n.(*atomic.Int64).Load() != 1 {
			t.Errorf("%s: applied %d times", user, n.(*atomic.Int64).Load())
		}
		return true
	})
	if !strings.Contains(p.logs.String(), "failed") {
		t.Errorf("the failing requests were not logged:\n%s", p.logs.String())
	}
}

// Over the rate limit, Braze answers 429 with the window's reset: requests
// wait for it, and every object arrives.
func TestThrottledRequestsWaitForTheRateLimitWindow(t *testing.T) {
	emu := startEmulator(t, braze.Config{RateLimit: 4, RateWindow: 200 * time.Millisecond})
	p := startPipeline(t, emu.URL, "rate_limit: {requests_per_second: 10000, burst: 1000}\nmax_requests_in_flight: 8")
	if failed := p.send(t, objects("u", 75*12)); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	expectCohort(t, emu.Users(), "u", 75*12, nil)
	stats := emu.Stats()
	if stats.Requests["201"] != 12 {
		t.Errorf("%d requests accepted, want 12", stats.Requests["201"])
	}
	// The headers say when a window is spent, so the output waits rather
	// than hammering: at most one 429 per request on average.
	if n := stats.Requests["429"]; n > 12 {
		t.Errorf("%d answers 429 for 12 requests", n)
	}
	if stats.Requests["429"] == 0 {
		t.Errorf("Braze never throttled: the test tests nothing")
	}
}

// The output's own pace keeps under the limit with no 429 at all.
func TestThePaceKeepsUnderTheLimit(t *testing.T) {
	emu := startEmulator(t, braze.Config{RateLimit: 10, RateWindow: time.Second})
	p := startPipeline(t, emu.URL, "rate_limit: {requests_per_second: 5, burst: 2}")
	if failed := p.send(t, objects("u", 75*6)); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	if n := emu.Stats().Requests["429"]; n != 0 {
		t.Errorf("%d answers 429", n)
	}
}

// A refused key holds the objects (nothing fails) until the key file
// holds a key Braze accepts; 403 (no users.track) likewise.
func TestARefusedKeyHoldsObjectsUntilTheKeyFileIsFixed(t *testing.T) {
	for _, tt := range []struct{ name, badKey, status string }{
		{"unknown key", "revoked-key", "401"},
		{"key without users.track", "no-permission-key", "403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu := startEmulator(t, braze.Config{APIKeys: []string{"good-key"}, KeysWithoutPermission: []string{"no-permission-key"}})
			keyFile := filepath.Join(t.TempDir(), "braze.key")
			if err := os.WriteFile(keyFile, []byte(tt.badKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startPipeline(t, emu.URL, fmt.Sprintf("api_key: emulator-default\napi_key_file: %q", keyFile))
			go func() {
				time.Sleep(300 * time.Millisecond)
				_ = secretfiletest.Replace(keyFile, "good-key\n")
			}()
			if failed := p.send(t, objects("u", 10)); len(failed) != 0 {
				t.Fatalf("failed: %v", failed)
			}
			expectCohort(t, emu.Users(), "u", 10, nil)
			if emu.Stats().Requests[tt.status] == 0 {
				t.Errorf("Braze never answered %s", tt.status)
			}
			logs := p.logs.String()
			if !strings.Contains(logs, "Braze refuses the requests") || !strings.Contains(logs, "HTTP "+tt.status) {
				t.Errorf("the configuration fault was not logged:\n%s", logs)
			}
			mustNotContain(t, logs, tt.badKey, "good-key")
		})
	}
}

// A key file being rewritten, or a mounted secret going away for a moment,
// keeps the key read before in use.
func TestAKeyFileThatCannotBeReadKeepsTheKeyReadBefore(t *testing.T) {
	for _, b := range secretfiletest.Breakages {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			emu := startEmulator(t, braze.Config{APIKeys: []string{"the-old-key", "the-new-key"}})
			keyFile := filepath.Join(t.TempDir(), "braze.key")
			if err := os.WriteFile(keyFile, []byte("the-old-key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startPipeline(t, emu.URL, fmt.Sprintf("api_key_file: %q", keyFile))
			if failed := p.send(t, objects("before", 5)); len(failed) != 0 {
				t.Fatalf("failed: %v", failed)
			}
			if err := b.Apply(keyFile); err != nil {
				t.Fatal(err)
			}
			time.Sleep(secretfile.Recheck + 200*time.Millisecond)
			if failed := p.send(t, objects("during", 5)); len(failed) != 0 {
				t.Fatalf("failed: %v", failed)
			}
			expectCohort(t, emu.Users(), "during", 5, nil)
			logs := p.logs.String()
			if !strings.Contains(logs, "Cannot read the API key again") || !strings.Contains(logs, b.Cause) {
				t.Errorf("the logs do not say why the key file was not read (%q):\n%s", b.Cause, logs)
			}
			mustNotContain(t, logs, "the-old-key", "the-new-key")
		})
	}
}

// A connection refused (Braze unreachable) is retried until Braze is back.
func TestConnectionLossIsRetriedUntilBrazeIsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there for now
	p := startPipeline(t, "http://"+addr, "")
	emuc := make(chan *braze.Server, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		srv, err := braze.Listen(addr, braze.Config{APIKeys: []string{"test-rest-key"}})
		if err != nil {
			t.Error(err)
		}
		emuc <- srv
	}()
	if failed := p.send(t, objects("u", 20)); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	srv := <-emuc
	defer srv.Close()
	expectCohort(t, srv.Users(), "u", 20, nil)
	if !strings.Contains(p.logs.String(), "connection refused") {
		t.Errorf("the refused connections were not logged:\n%s", p.logs.String())
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, yaml, err string }{
		{"no key", `instance_url: https://rest.iad-01.braze.com`, "one of api_key and api_key_file must be set"},
		{"a missing key file", fmt.Sprintf("instance_url: https://rest.iad-01.braze.com\napi_key_file: %q", filepath.Join(dir, "nope")), "api_key_file: stat "},
		{"an empty key file", fmt.Sprintf("instance_url: https://rest.iad-01.braze.com\napi_key_file: %q", empty), "api_key_file: " + empty + " is empty"},
		{"an instance URL without scheme", "instance_url: rest.iad-01.braze.com\napi_key: s3cret", "instance_url: \"rest.iad-01.braze.com\" is not an http(s) URL"},
		{"a zero timeout", "instance_url: https://rest.iad-01.braze.com\napi_key: s3cret\ntimeout: 0s", "timeout: must be positive"},
		{"no request slot", "instance_url: https://rest.iad-01.braze.com\napi_key: s3cret\nmax_requests_in_flight: 0", "max_requests_in_flight: must be at least 1"},
		{"a backwards backoff", "instance_url: https://rest.iad-01.braze.com\napi_key: s3cret\nretry: {initial_interval: 2s, max_interval: 1s}", "retry: need 0 < initial_interval <= max_interval"},
		{"a zero pace", "instance_url: https://rest.iad-01.braze.com\napi_key: s3cret\nrate_limit: {requests_per_second: 0}", "rate_limit: limiter: rate must be above 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.ExpectConfigError(t, outputSpec(), newOutput, tt.yaml, tt.err)
		})
	}
}

func TestTheInstanceURLTakesTheEndpointsPath(t *testing.T) {
	for in, want := range map[string]string{
		"https://rest.iad-01.braze.com":              "https://rest.iad-01.braze.com/users/track",
		"https://rest.fra-01.braze.eu/":              "https://rest.fra-01.braze.eu/users/track",
		"http://127.0.0.1:8766/proxy/users/track":    "http://127.0.0.1:8766/proxy/users/track",
		" https://rest.iad-05.braze.com ":            "https://rest.iad-05.braze.com/users/track",
		"https://user:pw@rest.iad-01.braze.com/base": "https://user:pw@rest.iad-01.braze.com/base",
	} {
		conf, err := outputSpec().ParseYAML(fmt.Sprintf("instance_url: %q\napi_key: k", in), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := instanceURL(conf)
		if err != nil || got != want {
			t.Errorf("instanceURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
