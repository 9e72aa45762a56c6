// Package pushserver is the server half of a Benthos input that senders push
// to over HTTP and that acknowledges a request only once its messages are
// delivered: it listens (HTTPS when given a certificate), hands each
// accepted request's batch to the input's ReadBatch, and calls back with
// the batch's acknowledgement. The input's handler decides what a request
// holds and what to answer.
package pushserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	headerReadTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// ErrClosing is returned by Submit when the input is shutting down.
var ErrClosing = errors.New("the input is shutting down")

// Server serves one handler and queues batches for ReadBatch.
type Server struct {
	address, certFile, keyFile string
	handler                    http.Handler

	batches chan pending
	mu      sync.Mutex
	server  *http.Server
	served  chan struct{} // closed when Serve returns
	closing chan struct{} // closed by Close
	closed  bool
}

type pending struct {
	batch service.MessageBatch
	ack   func(error)
}

// New returns a server for address with TLS when both files are set; it
// listens once Start is called.
func New(address, certFile, keyFile string, handler http.Handler) *Server {
	return &Server{
		address: address, certFile: certFile, keyFile: keyFile, handler: handler,
		batches: make(chan pending), closing: make(chan struct{}),
	}
}

// Start listens and serves; it returns the URL's scheme and host, and does
// nothing when already listening. The server sets no overall read or write
// timeout, since a request waits for its acknowledgement: handlers set
// their own deadlines (http.ResponseController).
func (s *Server) Start(logf func(format string, args ...any)) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", service.ErrEndOfInput
	}
	if s.server != nil {
		return "", nil
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: headerReadTimeout, IdleTimeout: idleTimeout}
	if s.certFile != "" {
		cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			return "", err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", s.address)
	if err != nil {
		return "", err
	}
	scheme := "http"
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	s.server, s.served = srv, make(chan struct{})
	go func() {
		defer close(s.served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("server stopped: %v", err)
		}
	}()
	return fmt.Sprintf("%s://%s", scheme, ln.Addr()), nil
}

// Submit hands a batch to ReadBatch, waiting until it is taken, ctx ends
// (ctx's error) or the input closes (ErrClosing). ack is called once with
// the batch's outcome, after Submit returned nil.
func (s *Server) Submit(ctx context.Context, batch service.MessageBatch, ack func(error)) error {
	select {
	case s.batches <- pending{batch: batch, ack: ack}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosing
	}
}

// ReadBatch returns the next submitted batch; its AckFunc calls the
// submitter's ack once.
func (s *Server) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	select {
	case p := <-s.batches:
		var once sync.Once
		return p.batch, func(_ context.Context, err error) error {
			once.Do(func() { p.ack(err) })
			return nil
		}, nil
	case <-s.closing:
		return nil, nil, service.ErrEndOfInput
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Closing is closed when Close starts.
func (s *Server) Closing() <-chan struct{} { return s.closing }

// Close stops taking requests and lets those in progress finish until ctx
// ends: the pipeline may still acknowledge them.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	srv, served := s.server, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-served
	return err
}
