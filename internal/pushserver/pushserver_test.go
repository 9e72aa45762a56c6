package pushserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"golang.org/x/sync/semaphore"
)

func TestTheGateAnswersEachRefusal(t *testing.T) {
	g := &Gate{Path: "/in", What: "the thing", MaxBody: 10, TooLarge: "send less", ReadTimeout: 5 * time.Second,
		Slots: make(chan struct{}, 1), SlotBeforeBody: true, Challenge: `Key realm="in"`,
		Authorize: func(r *http.Request) (bool, string) { return r.Header.Get("X-Key") == "k", "send X-Key" }}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, hold, status := g.Admit(w, r, time.Now())
		if status != 0 {
			return
		}
		defer hold.Release()
		Reply(w, http.StatusOK, `{"got":"`+string(body)+`"}`)
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	tests := []struct {
		name, method, path, key, body string
		status                        int
		text                          string
	}{
		{"admitted", "POST", "/in", "k", "hello", 200, `{"got":"hello"}`},
		{"another path", "POST", "/out", "k", "x", 404, "not found: POST to /in"},
		{"another method", "GET", "/in", "k", "", 405, "method not allowed: POST the thing"},
		{"not authorized", "POST", "/in", "nope", "x", 401, "unauthorized: send X-Key"},
		{"too large", "POST", "/in", "k", "0123456789a", 413, "body larger than 10 bytes: send less"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Key", tt.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			text, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(text), tt.text) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, text, tt.status, tt.text)
			}
			if challenge := resp.Header.Get("WWW-Authenticate"); (tt.status == 401) != (challenge == g.Challenge) {
				t.Errorf("WWW-Authenticate %q", challenge)
			}
		})
	}
	// Every slot taken: 429 with Retry-After.
	g.Slots <- struct{}{}
	req, _ := http.NewRequest("POST", srv.URL+"/in", strings.NewReader("x"))
	req.Header.Set("X-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != RetryAfter {
		t.Fatalf("slots full: %d %v", resp.StatusCode, resp.Header)
	}
}

// post sends body to url with the key the tests' gates want, and returns
// the status and the answer's text.
func post(t *testing.T, url string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, body)
	req.Header.Set("X-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(text))
}

func authorized(r *http.Request) (bool, string) { return r.Header.Get("X-Key") == "k", "send X-Key" }

// A body that stalls gets 503 with Retry-After after ReadTimeout, so that
// the sender retries it rather than taking it for a bad one.
func TestAStalledBodyGets503(t *testing.T) {
	g := &Gate{Path: "/in", What: "the thing", MaxBody: 100, ReadTimeout: 200 * time.Millisecond,
		Slots: make(chan struct{}, 1), Authorize: authorized}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, hold, status := g.Admit(w, r, time.Now()); status == 0 {
			hold.Release()
			Reply(w, http.StatusOK, "{}")
		}
	}))
	defer srv.Close()
	stalled, stall := io.Pipe()
	defer stall.Close()
	go func() { _, _ = io.WriteString(stall, "{") }() // then nothing more
	if status, text := post(t, srv.URL+"/in", stalled); status != 503 || !strings.Contains(text, "the body did not arrive within 200ms") {
		t.Fatalf("stalled body: %d %q, want 503", status, text)
	}
}

// With Memory, the bodies held at once stay within it: past it, requests
// get 429 until a hold is released.
func TestBodiesPastTheMemoryGet429UntilReleased(t *testing.T) {
	g := &Gate{Path: "/in", What: "the thing", MaxBody: 100, ReadTimeout: 5 * time.Second,
		Memory: semaphore.NewWeighted(100), Slots: make(chan struct{}, 10), Authorize: authorized}
	holds := make(chan *Hold, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, hold, status := g.Admit(w, r, time.Now()); status == 0 {
			holds <- hold // kept: the test releases it
			Reply(w, http.StatusOK, "{}")
		}
	}))
	defer srv.Close()
	if status, _ := post(t, srv.URL+"/in", strings.NewReader(strings.Repeat("x", 60))); status != 200 {
		t.Fatalf("first body: %d", status)
	}
	if status, text := post(t, srv.URL+"/in", strings.NewReader(strings.Repeat("x", 60))); status != 429 || !strings.Contains(text, "too many bodies in memory") {
		t.Fatalf("a body past the memory: %d %q, want 429", status, text)
	}
	(<-holds).Release()
	if status, _ := post(t, srv.URL+"/in", strings.NewReader(strings.Repeat("x", 60))); status != 200 {
		t.Fatalf("after the release: %d, want 200", status)
	}
	(<-holds).Release()
}

// A slot taken with Hold.Slot and a batch submitted with SubmitHeld is
// given back at the later of the answer and the acknowledgement.
func TestASubmittedBatchKeepsItsSlotUntilAcknowledged(t *testing.T) {
	g := &Gate{Path: "/in", What: "the thing", MaxBody: 100, ReadTimeout: 5 * time.Second,
		Slots: make(chan struct{}, 1), Authorize: authorized}
	q := NewQueue()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, hold, status := g.Admit(w, r, time.Now())
		if status != 0 {
			return
		}
		defer hold.Release()
		if hold.Slot(w) != 0 {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
		defer cancel()
		if err := q.SubmitHeld(ctx, service.MessageBatch{service.NewMessage(body)}, hold, func(error) {}); err != nil {
			g.Unsubmitted(w, err)
			return
		}
		Reply(w, http.StatusOK, "{}") // answered before the acknowledgement
	}))
	defer srv.Close()
	// Nobody reads the queue: the pipeline did not take it, and the slot
	// is given back with the answer.
	if status, text := post(t, srv.URL+"/in", strings.NewReader("a")); status != 503 || !strings.Contains(text, "did not take the thing in time") {
		t.Fatalf("untaken batch: %d %q, want 503", status, text)
	}
	acks := make(chan service.AckFunc, 1)
	go func() {
		_, ack, err := q.ReadBatch(context.Background())
		if err == nil {
			acks <- ack
		}
	}()
	if status, _ := post(t, srv.URL+"/in", strings.NewReader("b")); status != 200 {
		t.Fatalf("taken batch: %d, want 200", status)
	}
	if status, text := post(t, srv.URL+"/in", strings.NewReader("c")); status != 429 || !strings.Contains(text, "too many requests at once") {
		t.Fatalf("while the batch is unacknowledged: %d %q, want 429", status, text)
	}
	_ = (<-acks)(context.Background(), nil)
	status := 0
	for range 100 { // the answer's handler lets go just after answering
		if status, _ = post(t, srv.URL+"/in", strings.NewReader("d")); status != 429 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status != 503 { // the slot was free; nobody reads the queue anymore
		t.Fatalf("after the acknowledgement: %d, want 503 (the slot taken, the batch not)", status)
	}
}

func TestTheQueueHandsBatchesOnAndAcknowledgesOnce(t *testing.T) {
	q := NewQueue()
	acks := make(chan error, 2)
	go func() {
		_ = q.Submit(context.Background(), service.MessageBatch{service.NewMessage([]byte("a"))}, func(err error) { acks <- err })
	}()
	batch, ack, err := q.ReadBatch(context.Background())
	if err != nil || len(batch) != 1 {
		t.Fatalf("ReadBatch: %v, %v", batch, err)
	}
	_ = ack(context.Background(), errors.New("nacked"))
	_ = ack(context.Background(), nil) // only the first outcome counts
	if err := <-acks; err == nil || err.Error() != "nacked" {
		t.Fatalf("ack %v", err)
	}
	select {
	case err := <-acks:
		t.Fatalf("acknowledged twice: %v", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := q.Submit(ctx, nil, func(error) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit with nobody reading: %v", err)
	}
	q.Close()
	q.Close()
	if err := q.Submit(context.Background(), nil, func(error) {}); !errors.Is(err, ErrClosing) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if _, _, err := q.ReadBatch(context.Background()); !errors.Is(err, service.ErrEndOfInput) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
}

func TestTheServerServesHTTPSWithItsCertificateAndRefusesABadOne(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	ok := func(w http.ResponseWriter, _ *http.Request, _ time.Time) int { return Reply(w, 200, `{}`) }
	metrics := service.MockResources().Metrics()
	log := service.MockResources().Logger()
	s := New("test_input", Config{Address: "127.0.0.1:0", Path: "/", CertFile: certFile, KeyFile: keyFile}, metrics, ok)
	if err := s.Start(log); err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr := s.Addr()
	if err := s.Start(log); err != nil || s.Addr() != addr {
		t.Errorf("a second Start: %v, listening on %v then %v", err, addr, s.Addr())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + addr.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(log); !errors.Is(err, service.ErrEndOfInput) {
		t.Errorf("Start after Close: %v", err)
	}

	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := New("test_input", Config{Address: "127.0.0.1:0", CertFile: bad, KeyFile: keyFile}, metrics, ok).Start(log); err == nil || !strings.HasPrefix(err.Error(), "test_input: tls: ") {
		t.Errorf("a bad certificate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := New("test_input", Config{Address: ln.Addr().String()}, metrics, ok).Start(log); err == nil || !strings.HasPrefix(err.Error(), "test_input: ") {
		t.Errorf("listening on a taken address: %v", err)
	}
}

func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
