package brazehttp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
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

	"github.com/connect-amplitude/connect-amplitude/internal/envelope"
)

const testToken = "test-token-7f3a"

// receiver is a real stream: the braze_currents input feeding a consumer
// that the test decides for.
type receiver struct {
	url     string
	batches atomic.Int64 // batches the consumer was called with
	client  *http.Client
	logs    syncBuffer
}

// syncBuffer is a bytes.Buffer that the stream's log handler and the test
// may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startReceiver runs `input: braze_currents` with the given extra fields
// and consume as the output.
func startReceiver(t *testing.T, fields string, consume func(context.Context, service.MessageBatch) error) *receiver {
	t.Helper()
	addr := freeAddr(t)
	b := service.NewStreamBuilder()
	r := &receiver{url: "http://" + addr + "/currents", client: &http.Client{Timeout: 10 * time.Second}}
	b.SetLogger(slog.New(slog.NewTextHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	conf := fmt.Sprintf("braze_currents:\n  address: %s\n  bearer_token: %s\n", addr, testToken)
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		if line != "" {
			conf += "  " + line + "\n"
		}
	}
	if err := b.AddInputYAML(conf); err != nil {
		t.Fatal(err)
	}
	if err := b.AddBatchConsumerFunc(func(ctx context.Context, batch service.MessageBatch) error {
		r.batches.Add(1)
		return consume(ctx, batch)
	}); err != nil {
		t.Fatal(err)
	}
	stream, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitListening(t, addr)
	return r
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

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// post sends body with the given Authorization header ("" for none) and
// returns the status and the answer's text.
func (r *receiver) post(t *testing.T, auth, body string) (int, string) {
	t.Helper()
	return do(t, r.client, http.MethodPost, r.url, auth, strings.NewReader(body))
}

func do(t *testing.T, client *http.Client, method, url, auth string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Braze-Currents-Version", "1")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(text))
}

const twoEvents = `{"events":[{"id":"e1","event_type":"users.messages.email.Open"},{"id":"e2","event_type":"users.behaviors.Purchase"}]}`

func TestRequestsThatNeverReachThePipeline(t *testing.T) {
	r := startReceiver(t, "max_body_bytes: 30000\nmax_events: 5", func(context.Context, service.MessageBatch) error { return nil })
	bearer := "Bearer " + testToken
	tests := []struct {
		name, auth, body string
		status           int
		text             string
	}{
		{name: "no Authorization header", body: twoEvents, status: 401, text: "unauthorized"},
		{name: "a wrong token", auth: "Bearer not-the-token", body: twoEvents, status: 401, text: "unauthorized"},
		{name: "the token without the Bearer scheme", auth: testToken, body: twoEvents, status: 401, text: "unauthorized"},
		{name: "another scheme", auth: "Basic " + testToken, body: twoEvents, status: 401, text: "unauthorized"},
		{name: "a body over max_body_bytes", auth: bearer, body: `{"events":[` + strings.Repeat(`{"id":"x"},`, 3000) + `{"id":"y"}]}`, status: 413, text: "body larger than 30000 bytes: split the batch"},
		{name: "a body over max_events", auth: bearer, body: `{"events":[{},{},{},{},{},{}]}`, status: 413, text: "body holds more than 5 events: split the batch"},
		{name: "malformed JSON", auth: bearer, body: `{"events":[{"id":"x"}`, status: 400, text: envelope.ErrNotJSON.Error()},
		{name: "an empty body", auth: bearer, body: ``, status: 400, text: envelope.ErrNotJSON.Error()},
		{name: "nesting deeper than the reader's limit", auth: bearer, body: `{"events":[` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `]}`, status: 400, text: "body nests arrays and objects deeper than 10000 levels"},
		{name: "the events key twice", auth: bearer, body: `{"events":[{"id":"a"}],"events":[{"id":"b"}]}`, status: 400, text: `body has the "events" key more than once`},
		{name: "a bare array of events", auth: bearer, body: `[{"id":"x"}]`, status: 400, text: envelope.ErrNotEnvelope.Error()},
		{name: "events that are not a list", auth: bearer, body: `{"events":{"id":"x"}}`, status: 400, text: envelope.ErrNotEnvelope.Error()},
		{name: "an empty envelope, as Braze's credential test sends", auth: bearer, body: `{"events":[]}`, status: 200, text: `{"events":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, text := r.post(t, tt.auth, tt.body)
			if status != tt.status || !strings.Contains(text, tt.text) {
				t.Fatalf("got %d %q, want %d with %q", status, text, tt.status, tt.text)
			}
		})
	}
	if n := r.batches.Load(); n != 0 {
		t.Fatalf("the pipeline got %d batches, want none", n)
	}

	t.Run("a 401 carries WWW-Authenticate", func(t *testing.T) {
		resp, err := r.client.Post(r.url, "application/json", strings.NewReader(twoEvents))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Fatalf("WWW-Authenticate = %q", got)
		}
	})
	t.Run("another path is 404", func(t *testing.T) {
		if status, _ := do(t, r.client, http.MethodPost, strings.TrimSuffix(r.url, "/currents")+"/other", bearer, strings.NewReader(twoEvents)); status != 404 {
			t.Fatalf("status %d", status)
		}
	})
	t.Run("GET is 405", func(t *testing.T) {
		if status, _ := do(t, r.client, http.MethodGet, r.url, bearer, nil); status != 405 {
			t.Fatalf("status %d", status)
		}
	})
}

// A request without the token is answered while its body is still being
// sent: nothing of it is read.
func TestUnauthenticatedRequestIsAnsweredBeforeItsBodyIsRead(t *testing.T) {
	r := startReceiver(t, "", func(context.Context, service.MessageBatch) error { return nil })
	body, feed := io.Pipe()
	defer feed.Close()
	go func() { _, _ = feed.Write([]byte(`{"events":[`)) }() // and never more
	status, _ := do(t, r.client, http.MethodPost, r.url, "Bearer wrong", body)
	if status != 401 {
		t.Fatalf("status %d, want 401", status)
	}
}

func TestAnswerFollowsTheAcknowledgement(t *testing.T) {
	var mu sync.Mutex
	var got []string
	outcome := make(chan error, 1)
	r := startReceiver(t, "timeout: 300ms", func(ctx context.Context, batch service.MessageBatch) error {
		mu.Lock()
		for _, m := range batch {
			b, _ := m.AsBytes()
			got = append(got, string(b))
		}
		mu.Unlock()
		select {
		case err := <-outcome:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	bearer := "Bearer " + testToken

	outcome <- nil
	if status, text := r.post(t, bearer, twoEvents); status != 200 || text != `{"events":2}` {
		t.Fatalf("acknowledged batch: %d %q", status, text)
	}
	mu.Lock()
	want := []string{`{"id":"e1","event_type":"users.messages.email.Open"}`, `{"id":"e2","event_type":"users.behaviors.Purchase"}`}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("the pipeline got %q, want one message per event %q", got, want)
	}
	mu.Unlock()

	outcome <- errors.New("dead-letter file: no space left on device")
	if status, text := r.post(t, "bearer "+testToken, twoEvents); status != 500 || strings.Contains(text, "no space") {
		t.Fatalf("rejected batch: %d %q, want 500 without the internal error", status, text)
	}

	// Nothing answers: the request times out with a 5xx, so Braze retries.
	if status, _ := r.post(t, bearer, twoEvents); status != 504 {
		t.Fatalf("unacknowledged batch: %d, want 504", status)
	}
}

// The input used directly, without a pipeline reading it.
func newTestInput(t *testing.T, yaml string) *input {
	t.Helper()
	conf, err := inputSpec().ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := newInput(conf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Close(ctx)
	})
	return in
}

func (i *input) url() string { return "http://" + i.addr.String() + i.path }

func TestPipelineThatDoesNotTakeTheRequestGets503(t *testing.T) {
	in := newTestInput(t, "address: 127.0.0.1:0\nbearer_token: "+testToken+"\ntimeout: 200ms")
	status, _ := do(t, http.DefaultClient, http.MethodPost, in.url(), "Bearer "+testToken, strings.NewReader(twoEvents))
	if status != 503 {
		t.Fatalf("status %d, want 503", status)
	}
}

func TestRequestsOverTheConcurrencyLimitGet429(t *testing.T) {
	in := newTestInput(t, "address: 127.0.0.1:0\nbearer_token: "+testToken+"\nmax_concurrent_requests: 1\ntimeout: 10s")
	first := make(chan int, 1)
	go func() {
		status, _ := do(t, http.DefaultClient, http.MethodPost, in.url(), "Bearer "+testToken, strings.NewReader(twoEvents))
		first <- status
	}()
	// The first request now holds the only slot, waiting in ReadBatch.
	batch, ack, err := in.ReadBatch(context.Background())
	if err != nil || len(batch) != 2 {
		t.Fatalf("ReadBatch: %d messages, %v", len(batch), err)
	}
	if status, _ := do(t, http.DefaultClient, http.MethodPost, in.url(), "Bearer "+testToken, strings.NewReader(twoEvents)); status != 429 {
		t.Fatalf("second request: %d, want 429", status)
	}
	if err := ack(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if status := <-first; status != 200 {
		t.Fatalf("first request: %d, want 200", status)
	}
}

func TestClosedInputEndsAndRefusesRequests(t *testing.T) {
	in := newTestInput(t, "address: 127.0.0.1:0\nbearer_token: "+testToken)
	url := in.url()
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.ReadBatch(context.Background()); !errors.Is(err, service.ErrEndOfInput) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
	if err := in.Connect(context.Background()); !errors.Is(err, service.ErrEndOfInput) {
		t.Fatalf("Connect after Close: %v", err)
	}
	if _, err := http.Post(url, "application/json", strings.NewReader(twoEvents)); err == nil {
		t.Fatal("a closed input still answers")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, err string }{
		{"no token", "address: 127.0.0.1:0", "one of bearer_token and bearer_token_file must be set"},
		{"half of TLS", "bearer_token: x\ntls:\n  cert_file: a.pem", "set both cert_file and key_file"},
		{"a relative path", "bearer_token: x\npath: currents", "must start with /"},
		{"a zero body limit", "bearer_token: x\nmax_body_bytes: 0", "must be positive"},
		{"no concurrency", "bearer_token: x\nmax_concurrent_requests: 0", "must be at least 1"},
		{"no events allowed", "bearer_token: x\nmax_events: 0", "max_events: must be at least 1"},
		{"no time to read a body", "bearer_token: x\nread_timeout: 0s", "read_timeout: must be positive"},
		{"less memory than one body", "bearer_token: x\nmax_body_bytes: 1000\nmax_total_body_bytes: 999", "max_total_body_bytes: must be at least max_body_bytes (1000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := inputSpec().ParseYAML(tt.yaml, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newInput(conf, service.MockResources()); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	in := newTestInput(t, fmt.Sprintf("address: 127.0.0.1:0\nbearer_token: %s\ntls:\n  cert_file: %s\n  key_file: %s", testToken, certFile, keyFile))
	go func() {
		batch, ack, err := in.ReadBatch(context.Background())
		if err == nil && len(batch) == 2 {
			_ = ack(context.Background(), nil)
		}
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + in.addr.String() + in.path
	if status, _ := do(t, client, http.MethodPost, url, "Bearer "+testToken, strings.NewReader(twoEvents)); status != 200 {
		t.Fatalf("status %d over TLS", status)
	}
	// Plain HTTP gets net/http's own 400, and no events are taken.
	if status, text := do(t, http.DefaultClient, http.MethodPost, "http://"+in.addr.String()+in.path, "Bearer "+testToken, strings.NewReader(twoEvents)); status != 400 || !strings.Contains(text, "HTTPS") {
		t.Fatalf("plain HTTP to the TLS port: %d %q", status, text)
	}
}

func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("cannot use the test certificate")
	}
	return certFile, keyFile, pool
}

// Neither the token nor a wrong guess ever reaches the logs.
func TestTokensNeverLogged(t *testing.T) {
	r := startReceiver(t, "timeout: 200ms", func(context.Context, service.MessageBatch) error {
		return errors.New("refused")
	})
	for _, auth := range []string{"Bearer " + testToken, "Bearer guess-4242", "Basic " + testToken} {
		r.post(t, auth, twoEvents)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "answering 500") {
		t.Fatalf("the logs miss the refused batch, so they were not captured: %s", logs)
	}
	for _, secret := range []string{testToken, "guess-4242"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs show %q: %s", secret, logs)
		}
	}
}
