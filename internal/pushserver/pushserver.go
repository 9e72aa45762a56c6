// Package pushserver is the server half of a Benthos input that senders push
// to over HTTP and that acknowledges a request only once its messages are
// delivered: it listens (HTTPS when given a certificate), admits requests
// through the checks every such input makes (Gate), hands each accepted
// request's batch to the input's ReadBatch (Queue), and calls back with the
// batch's acknowledgement. The input's handler decides what a request holds
// and what to answer.
package pushserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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

// ErrClosing is returned by Submit when the queue is closed.
var ErrClosing = errors.New("the input is shutting down")

// Queue hands batches from their producers to an input's ReadBatch and
// each batch's acknowledgement back.
type Queue struct {
	batches   chan pending
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
}

type pending struct {
	batch service.MessageBatch
	ack   func(error)
}

// NewQueue returns an open queue.
func NewQueue() *Queue {
	return &Queue{batches: make(chan pending), closing: make(chan struct{})}
}

// Submit hands a batch to ReadBatch, waiting until it is taken, ctx ends
// (ctx's error) or the queue closes (ErrClosing). ack is called once with
// the batch's outcome, after Submit returned nil.
func (q *Queue) Submit(ctx context.Context, batch service.MessageBatch, ack func(error)) error {
	select {
	case q.batches <- pending{batch: batch, ack: ack}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-q.closing:
		return ErrClosing
	}
}

// ReadBatch returns the next submitted batch; its AckFunc calls the
// submitter's ack once. After Close it returns service.ErrEndOfInput.
func (q *Queue) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	select {
	case p := <-q.batches:
		var once sync.Once
		return p.batch, func(_ context.Context, err error) error {
			once.Do(func() { p.ack(err) })
			return nil
		}, nil
	case <-q.closing:
		return nil, nil, service.ErrEndOfInput
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Close ends the queue: waiting and later submissions fail, ReadBatch ends.
func (q *Queue) Close() { q.closeOnce.Do(func() { close(q.closing) }) }

// Server serves one handler and queues batches for ReadBatch.
type Server struct {
	*Queue
	address, certFile, keyFile string
	handler                    http.Handler

	mu     sync.Mutex
	server *http.Server
	served chan struct{} // closed when Serve returns
	closed bool
}

// New returns a server for address with TLS when both files are set; it
// listens once Start is called.
func New(address, certFile, keyFile string, handler http.Handler) *Server {
	return &Server{Queue: NewQueue(), address: address, certFile: certFile, keyFile: keyFile, handler: handler}
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

// Close stops taking requests and lets those in progress finish until ctx
// ends: the pipeline may still acknowledge them.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.Queue.Close()
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

// Gate is the checks a pushed request goes through before its body is
// used, answered as senders with retries expect: 404 for another path, 405
// for another method, 401 for a sender not authorized (before the body is
// read), 429 with Retry-After when Slots are all taken, 413 for a body over
// MaxBody, 400 for a body that cannot be read.
type Gate struct {
	Path      string
	What      string // what is posted, for answers: "the delivery"
	Authorize func(*http.Request) (ok bool, refusal string)
	Slots     chan struct{} // one per request being handled
	MaxBody   int64
	// WriteMargin is the time past the request's deadline its answer may
	// take to write.
	WriteMargin time.Duration
}

// RetryAfter is the Retry-After of the answers that ask to come back.
const RetryAfter = "1"

// Admit runs the checks with the request's read deadline; when they pass,
// it returns the body and a function giving the slot back (the caller
// defers it), else the status it answered.
func (g *Gate) Admit(w http.ResponseWriter, r *http.Request, deadline time.Time) (body []byte, release func(), status int) {
	rc := http.NewResponseController(w)
	// Errors mean the connection cannot take deadlines; nothing to do then.
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline.Add(g.WriteMargin))
	if r.URL.Path != g.Path {
		return nil, nil, ReplyUnread(w, http.StatusNotFound, "not found: POST to "+g.Path)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, nil, ReplyUnread(w, http.StatusMethodNotAllowed, "method not allowed: POST "+g.What)
	}
	if ok, refusal := g.Authorize(r); !ok {
		return nil, nil, ReplyUnread(w, http.StatusUnauthorized, "unauthorized: "+refusal)
	}
	select {
	case g.Slots <- struct{}{}:
	default:
		w.Header().Set("Retry-After", RetryAfter)
		return nil, nil, ReplyUnread(w, http.StatusTooManyRequests, "too many requests at once: retry later")
	}
	release = func() { <-g.Slots }
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.MaxBody))
	if err != nil {
		release()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, Reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", g.MaxBody))
		}
		return nil, nil, Reply(w, http.StatusBadRequest, "could not read the body: "+err.Error())
	}
	_ = rc.SetReadDeadline(time.Time{}) // the sender may now wait for the answer
	return body, release, 0
}

// ReplyUnread answers a request whose body was not read, and closes the
// connection: net/http would otherwise read the rest of the body to reuse
// it.
func ReplyUnread(w http.ResponseWriter, status int, text string) int {
	w.Header().Set("Connection", "close")
	return Reply(w, status, text)
}

// Reply writes a short answer: JSON for 200, plain text otherwise, and
// returns the status.
func Reply(w http.ResponseWriter, status int, text string) int {
	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
		return status
	}
	http.Error(w, text, status)
	return status
}
