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
)

func TestTheGateAnswersEachRefusal(t *testing.T) {
	g := &Gate{Path: "/in", What: "the thing", MaxBody: 10, Slots: make(chan struct{}, 1),
		Authorize: func(r *http.Request) (bool, string) { return r.Header.Get("X-Key") == "k", "send X-Key" }}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, release, status := g.Admit(w, r, time.Now().Add(5*time.Second))
		if status != 0 {
			return
		}
		defer release()
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
		{"too large", "POST", "/in", "k", "0123456789a", 413, "body larger than 10 bytes"},
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
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { Reply(w, 200, `{}`) })
	s := New("127.0.0.1:0", certFile, keyFile, ok)
	base, err := s.Start(t.Logf)
	if err != nil || !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("Start = %q, %v", base, err)
	}
	if again, err := s.Start(t.Logf); again != "" || err != nil {
		t.Errorf("a second Start: %q, %v", again, err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(base + "/")
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
	if _, err := s.Start(t.Logf); !errors.Is(err, service.ErrEndOfInput) {
		t.Errorf("Start after Close: %v", err)
	}

	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New("127.0.0.1:0", bad, keyFile, ok).Start(t.Logf); err == nil {
		t.Error("a bad certificate was accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := New(ln.Addr().String(), "", "", ok).Start(t.Logf); err == nil {
		t.Error("listening on a taken address succeeded")
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
