package amplitudecohorts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
)

const testToken = "webhook-secret-5c1e"

// receiver is a real stream: the amplitude_cohort_webhook input feeding a
// consumer the test decides for.
type receiver struct {
	url    string
	logs   *syncbuf.Buffer
	client *http.Client

	mu      sync.Mutex
	changes []cohorts.Change // every change consumed, in order
	calls   atomic.Int64     // consumer calls
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startReceiver runs the input with the given extra fields; consume decides
// each batch's outcome after it was recorded.
func startReceiver(t *testing.T, fields string, consume func(context.Context, service.MessageBatch) error) *receiver {
	t.Helper()
	addr := freeAddr(t)
	r := &receiver{url: "http://" + addr + "/amplitude/cohorts", logs: new(syncbuf.Buffer), client: &http.Client{Timeout: 10 * time.Second}}
	sb := service.NewStreamBuilder()
	sb.SetLogger(slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, r.logs), &slog.HandlerOptions{Level: slog.LevelInfo})))
	conf := fmt.Sprintf("amplitude_cohort_webhook:\n  address: %s\n  token: %s\n", addr, testToken)
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		if line != "" {
			conf += "  " + line + "\n"
		}
	}
	if err := sb.AddInputYAML(conf); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddBatchConsumerFunc(func(ctx context.Context, b service.MessageBatch) error {
		r.calls.Add(1)
		r.mu.Lock()
		for _, m := range b {
			raw, _ := m.AsBytes()
			c, err := cohorts.ParseChange(raw)
			if err != nil {
				t.Errorf("the input emitted %s: %v", raw, err)
			}
			r.changes = append(r.changes, c)
		}
		r.mu.Unlock()
		if consume == nil {
			return nil
		}
		return consume(ctx, b)
	}); err != nil {
		t.Fatal(err)
	}
	testutil.RunStream(t, sb)
	// Wait until it listens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the input did not listen: %v\n%s", err, r.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// post sends a body with the headers ("Name: value" lines) and returns the
// status and answer.
func (r *receiver) post(t *testing.T, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Amplitude/Webhook/1.0")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(text))
}

func (r *receiver) consumed() []cohorts.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cohorts.Change(nil), r.changes...)
}

var bearer = "Authorization: Bearer " + testToken

func delivery(messageID string, in bool, users ...string) string {
	var list []string
	for _, u := range users {
		list = append(list, fmt.Sprintf(`{"user_id":%q}`, u))
	}
	return fmt.Sprintf(`{"cohort_name":"TEST_COHORT","cohort_id":"abcd1234","in_cohort":%v,"computed_time":"1692206763","message_id":%q,"users":[%s]}`,
		in, messageID, strings.Join(list, ","))
}

func TestADeliveryBecomesOneChangePerUserAcknowledgedOnceDelivered(t *testing.T) {
	r := startReceiver(t, "", nil)
	status, text := r.post(t, delivery("m-1", true, "u1", "u2", "u3"), bearer)
	if status != 200 || text != `{"users":3}` {
		t.Fatalf("answer %d %q", status, text)
	}
	got := r.consumed()
	if len(got) != 3 || r.calls.Load() != 1 {
		t.Fatalf("consumed %d changes in %d batches, want 3 in 1", len(got), r.calls.Load())
	}
	want := cohorts.Change{CohortID: "abcd1234", CohortName: "TEST_COHORT", InCohort: true, UserID: "u2", MessageID: "m-1", ComputedTime: "1692206763"}
	if got[1] != want {
		t.Fatalf("change %+v, want %+v", got[1], want)
	}
}

func TestRequestsThatMustNotBeHandedOnAreRefused(t *testing.T) {
	r := startReceiver(t, "max_body_bytes: 2000", nil)
	big := delivery("m-big", true, strings.Split(strings.Repeat("user-xxxxxxxx,", 200), ",")...)
	tests := []struct {
		name, body string
		headers    []string
		status     int
		text       string
	}{
		{name: "no secret", body: delivery("m", true, "u"), status: 401, text: "unauthorized"},
		{name: "a wrong secret", body: delivery("m", true, "u"), headers: []string{"Authorization: Bearer webhook-secret-5c1f"}, status: 401, text: "unauthorized"},
		{name: "the secret without Bearer", body: delivery("m", true, "u"), headers: []string{"Authorization: " + testToken}, status: 401, text: "unauthorized"},
		{name: "an oversized body", body: big, headers: []string{bearer}, status: 413, text: "body larger than 2000 bytes"},
		{name: "malformed JSON", body: `{"cohort_id":`, headers: []string{bearer}, status: 400, text: "body: not a JSON object"},
		{name: "no message_id", body: `{"cohort_name":"A","cohort_id":"1","in_cohort":true,"users":[]}`, headers: []string{bearer}, status: 400, text: "message_id: missing"},
		{name: "a bad user", body: `{"cohort_name":"A","cohort_id":"1","in_cohort":true,"message_id":"m","users":[{"user_id":1}]}`, headers: []string{bearer}, status: 400, text: "users[0].user_id: must be a string"},
		{name: "no users", body: `{"cohort_name":"A","cohort_id":"1","in_cohort":true,"message_id":"m-empty","users":[]}`, headers: []string{bearer}, status: 200, text: `{"users":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, text := r.post(t, tt.body, tt.headers...)
			if status != tt.status || !strings.Contains(text, tt.text) {
				t.Fatalf("answer %d %q, want %d with %q", status, text, tt.status, tt.text)
			}
		})
	}
	if n := len(r.consumed()); n != 0 {
		t.Errorf("%d changes were handed on", n)
	}
	for _, path := range []struct{ method, path string }{{http.MethodGet, "/amplitude/cohorts"}, {http.MethodPost, "/other"}} {
		req, _ := http.NewRequest(path.method, strings.Replace(r.url, "/amplitude/cohorts", path.path, 1), strings.NewReader(delivery("m", true, "u")))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[string]int{http.MethodGet: 405, http.MethodPost: 404}[path.method]; resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d", path.method, path.path, resp.StatusCode, want)
		}
	}
	if logs := r.logs.String(); strings.Contains(logs, testToken) {
		t.Errorf("the logs show the secret:\n%s", logs)
	}
}

// A body that stalls gets 503 within timeout, which Amplitude retries, not
// 400, which would take it for a bad delivery.
func TestAStalledBodyGets503(t *testing.T) {
	r := startReceiver(t, "timeout: 300ms", nil)
	stalled, stall := io.Pipe()
	defer stall.Close()
	go func() { _, _ = io.WriteString(stall, `{"cohort_id":`) }() // then nothing more
	req, err := http.NewRequest(http.MethodPost, r.url, stalled)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(text), "the body did not arrive within 300ms") {
		t.Fatalf("stalled body: %d %q (Retry-After %q), want 503", resp.StatusCode, text, resp.Header.Get("Retry-After"))
	}
}

func TestASecretInAnotherHeaderOrInAFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secrets")
	if err := os.WriteFile(file, []byte("old-secret\nnew-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	sb := service.NewStreamBuilder()
	if err := sb.AddInputYAML(fmt.Sprintf("amplitude_cohort_webhook:\n  address: %s\n  auth_header: X-Webhook-Secret\n  token_file: %q\n", addr, file)); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddBatchConsumerFunc(func(context.Context, service.MessageBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	testutil.RunStream(t, sb)
	r := &receiver{url: "http://" + addr + "/amplitude/cohorts", client: &http.Client{Timeout: 5 * time.Second}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the input did not listen")
		}
	}
	for i, h := range []string{"X-Webhook-Secret: old-secret", "X-Webhook-Secret: new-secret"} {
		if status, text := r.post(t, delivery(fmt.Sprint("m-", i), true, "u"), h); status != 200 {
			t.Errorf("%s: %d %q", h, status, text)
		}
	}
	for _, h := range []string{"X-Webhook-Secret: other", "Authorization: Bearer old-secret"} {
		if status, _ := r.post(t, delivery("m-x", true, "u"), h); status != 401 {
			t.Errorf("%s: %d, want 401", h, status)
		}
	}
}

// Amplitude retries a delivery it got no 200 for in time: the retry waits
// for the delivery in flight instead of handing the changes on again, and a
// retry after it is acknowledged from memory.
func TestARetryOfADeliveryInFlightWaitsForItAndIsNotHandedOnTwice(t *testing.T) {
	release := make(chan struct{})
	r := startReceiver(t, "timeout: 200ms", func(ctx context.Context, _ service.MessageBatch) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	body := delivery("m-slow", true, "u1", "u2")
	if status, text := r.post(t, body, bearer); status != 503 || !strings.Contains(text, "being delivered") {
		t.Fatalf("first try: %d %q, want 503", status, text)
	}
	// Retries while the changes are still on their way: 503 again, nothing
	// handed on a second time.
	var wg sync.WaitGroup
	statuses := make(chan int, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := r.post(t, body, bearer)
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 503 {
			t.Errorf("a retry in flight got %d, want 503", s)
		}
	}
	// The retry that arrives while delivery completes gets 200.
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	if status, text := r.post(t, body, bearer); status != 200 || text != `{"users":2}` {
		t.Fatalf("retry at delivery: %d %q", status, text)
	}
	if status, text := r.post(t, body, bearer); status != 200 || text != `{"duplicate":true}` {
		t.Fatalf("retry after delivery: %d %q", status, text)
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("the delivery was handed on %d times", n)
	}
	if n := len(r.consumed()); n != 2 {
		t.Errorf("%d changes handed on, want 2", n)
	}
}

// A delivery the pipeline rejects gets 500 and its retry is handed on
// again.
func TestARejectedDeliveryGets500AndItsRetryGoesAgain(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	r := startReceiver(t, "", func(context.Context, service.MessageBatch) error {
		if fail.Load() {
			return fmt.Errorf("braze is down")
		}
		return nil
	})
	body := delivery("m-fail", false, "u1")
	if status, _ := r.post(t, body, bearer); status != 500 {
		t.Fatalf("rejected delivery: %d, want 500", status)
	}
	fail.Store(false)
	if status, _ := r.post(t, body, bearer); status != 200 {
		t.Fatalf("retry: %d, want 200", status)
	}
	if n := r.calls.Load(); n != 2 {
		t.Errorf("handed on %d times, want 2", n)
	}
	if !strings.Contains(r.logs.String(), "answering 500 so that Amplitude retries") {
		t.Errorf("the rejection was not logged:\n%s", r.logs.String())
	}
}

func TestWebhookConfigErrorsNameTheField(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(file, []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, yaml, err string }{
		{"no secret", `address: 127.0.0.1:0`, "one of token and token_file must be set"},
		{"both", fmt.Sprintf("token: s3cret\ntoken_file: %q", file), "token and token_file are exclusive"},
		{"a missing file", "token_file: /nonexistent/secrets", "token_file: stat /nonexistent/secrets"},
		{"a relative path", "token: s3cret\npath: cohorts", "path: must start with /"},
		{"no header", "token: s3cret\nauth_header: ''", "auth_header: empty"},
		{"a zero timeout", "token: s3cret\ntimeout: 0s", "timeout: must be positive"},
		{"no body", "token: s3cret\nmax_body_bytes: 0", "max_body_bytes: must be positive"},
		{"no dedup", "token: s3cret\ndedup: {max_message_ids: 0}", "dedup: ttl must be positive and max_message_ids at least 1"},
		{"no slots", "token: s3cret\nmax_concurrent_requests: 0", "max_concurrent_requests: must be at least 1"},
		{"half TLS", "token: s3cret\ntls: {cert_file: a.pem}", "tls: set both cert_file and key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.ExpectConfigError(t, webhookSpec(), newWebhookInput, tt.yaml, tt.err)
		})
	}
}
