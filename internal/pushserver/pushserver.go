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
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"golang.org/x/sync/semaphore"
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
	name     string
	cfg      Config
	handler  Handler
	requests *service.MetricCounter // status
	latency  *service.MetricTimer

	mu     sync.Mutex
	server *http.Server
	addr   net.Addr      // where the server listens, once it does
	served chan struct{} // closed when Serve returns
	closed bool
}

// Handler answers a request that came in at start, and returns the status
// it answered.
type Handler func(w http.ResponseWriter, r *http.Request, start time.Time) (status int)

// New returns the server of the component name, with TLS when cfg has both
// files; it listens once Start is called. Its log lines and errors start
// with name, and it counts the requests by the status answered in the
// metric <name>_requests (label status) and times them, from their start
// to their answer, in <name>_request_latency_ns.
func New(name string, cfg Config, metrics *service.Metrics, handler Handler) *Server {
	return &Server{Queue: NewQueue(), name: name, cfg: cfg, handler: handler,
		requests: metrics.NewCounter(name+"_requests", "status"),
		latency:  metrics.NewTimer(name + "_request_latency_ns")}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := s.handler(w, r, start)
	s.requests.Incr(1, strconv.Itoa(status))
	s.latency.Timing(time.Since(start).Nanoseconds())
}

// Start listens and serves, and logs its URL; it does nothing when already
// listening, and returns service.ErrEndOfInput after Close. The server sets
// no overall read or write timeout, since a request waits for its
// acknowledgement: handlers set their own deadlines (Gate).
func (s *Server) Start(log *service.Logger) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return service.ErrEndOfInput
	}
	if s.server != nil {
		return nil
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: headerReadTimeout, IdleTimeout: idleTimeout}
	if s.cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("%s: tls: %w", s.name, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	scheme := "http"
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	s.server, s.served, s.addr = srv, make(chan struct{}), ln.Addr()
	go func() {
		defer close(s.served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("%s: server stopped: %v", s.name, err)
		}
	}()
	log.Infof("%s: listening on %s://%s%s", s.name, scheme, ln.Addr(), s.cfg.Path)
	return nil
}

// Addr is where the server listens; nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
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
// used, and the limits of what requests hold, answered as senders with
// retries expect: 404 for another path, 405 for another method, 401 for a
// sender not authorized (before the body is read), 413 for a body over
// MaxBody (at once when its Content-Length says so), 429 with Retry-After
// when the bodies held would pass Memory or the Slots are all taken, 503
// with Retry-After for a body that did not arrive within ReadTimeout, 400
// for a body that cannot be read otherwise.
type Gate struct {
	Path      string
	What      string // what is posted, for answers: "the delivery"
	Authorize func(*http.Request) (ok bool, refusal string)
	Challenge string // the WWW-Authenticate of a 401, if any
	MaxBody   int64
	TooLarge  string // what a 413 asks the sender to do, if anything: "split the batch"
	// ReadTimeout bounds the arrival of a body, from the request's start.
	ReadTimeout time.Duration
	// Memory, when set, bounds the bytes of bodies held at once, each from
	// its first byte until its Hold is released: a body with a
	// Content-Length takes that much at once, one without takes memory as
	// it arrives.
	Memory *semaphore.Weighted
	// Slots has one per request holding one. With SlotBeforeBody a request
	// takes its slot before its body is read (Slots bound the requests
	// being handled); otherwise the handler takes one with Hold.Slot once
	// the request has something for the pipeline (Slots bound the batches
	// in it, and a slow upload holds only its body's memory).
	Slots          chan struct{}
	SlotBeforeBody bool
}

// RetryAfter is the Retry-After of the answers that ask to come back.
const RetryAfter = "1"

// writeMargin is the time past a request's deadline its answer may take to
// write.
const writeMargin = 5 * time.Second

// Admit runs the checks and reads the body, with a read deadline of
// ReadTimeout from start; when they pass, it returns the body and what the
// request holds (the caller releases it), else the status it answered.
func (g *Gate) Admit(w http.ResponseWriter, r *http.Request, start time.Time) (body []byte, h *Hold, status int) {
	rc := http.NewResponseController(w)
	// Errors mean the connection cannot take deadlines; nothing to do then.
	readDeadline := start.Add(g.ReadTimeout)
	_ = rc.SetReadDeadline(readDeadline)
	_ = rc.SetWriteDeadline(readDeadline.Add(writeMargin))
	if r.URL.Path != g.Path {
		return nil, nil, ReplyUnread(w, http.StatusNotFound, "not found: POST to "+g.Path)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, nil, ReplyUnread(w, http.StatusMethodNotAllowed, "method not allowed: POST "+g.What)
	}
	if ok, refusal := g.Authorize(r); !ok {
		if g.Challenge != "" {
			w.Header().Set("WWW-Authenticate", g.Challenge)
		}
		return nil, nil, ReplyUnread(w, http.StatusUnauthorized, "unauthorized: "+refusal)
	}
	if r.ContentLength > g.MaxBody {
		return nil, nil, ReplyUnread(w, http.StatusRequestEntityTooLarge, g.tooLarge())
	}
	h = &Hold{gate: g}
	h.holders.Store(1)
	if g.SlotBeforeBody && !h.takeSlot() {
		h.Release()
		w.Header().Set("Retry-After", RetryAfter)
		return nil, nil, ReplyUnread(w, http.StatusTooManyRequests, tooManyRequests)
	}
	body, err := g.readBody(r.Body, r.ContentLength, h)
	if err != nil {
		status := g.refuseBody(w, r.Body, err)
		h.Release() // after the answer: a body being discarded still holds its memory
		return nil, nil, status
	}
	_ = rc.SetReadDeadline(time.Time{}) // the sender may now wait for the answer
	return body, h, 0
}

// AnswerBy lets the answer to an admitted request be written until
// deadline (and a margin).
func (g *Gate) AnswerBy(w http.ResponseWriter, deadline time.Time) {
	_ = http.NewResponseController(w).SetWriteDeadline(deadline.Add(writeMargin))
}

func (g *Gate) tooLarge() string {
	text := fmt.Sprintf("body larger than %d bytes", g.MaxBody)
	if g.TooLarge != "" {
		text += ": " + g.TooLarge
	}
	return text
}

const tooManyRequests = "too many requests at once: retry later"

// Errors of readBody besides the body's own.
var (
	errBodyTooLarge = errors.New("body larger than the limit")
	errNoMemory     = errors.New("bodies fill the memory allowed")
)

// refuseBody answers a request whose body could not be read.
func (g *Gate) refuseBody(w http.ResponseWriter, body io.Reader, err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return ReplyUnread(w, http.StatusRequestEntityTooLarge, g.tooLarge())
	case errors.Is(err, errNoMemory):
		w.Header().Set("Retry-After", RetryAfter)
		return replyDiscarding(w, body, g.MaxBody, http.StatusTooManyRequests, "too many bodies in memory at once: retry later")
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Retry-After", RetryAfter)
		return ReplyUnread(w, http.StatusServiceUnavailable, fmt.Sprintf("the body did not arrive within %s: retry", g.ReadTimeout))
	}
	return ReplyUnread(w, http.StatusBadRequest, "could not read the body: "+err.Error())
}

// firstChunk is the memory first taken for a body of unknown length
// (chunked); it doubles as the body arrives.
const firstChunk = 64 << 10

// readBody reads a body of the declared length (-1 when unknown) into
// memory taken for h. A declared length is taken at once and read into one
// buffer, as net/http ends the body there; an unknown one is taken as the
// body arrives, the buffer doubling up to MaxBody.
func (g *Gate) readBody(body io.Reader, declared int64, h *Hold) ([]byte, error) {
	if declared >= 0 {
		if !h.take(declared) {
			return nil, errNoMemory
		}
		buf := make([]byte, declared)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) == g.MaxBody {
				// Full at the limit: one more byte makes it too large.
				var probe [1]byte
				n, err := io.ReadFull(body, probe[:])
				switch {
				case n > 0:
					return nil, errBodyTooLarge
				case err == io.EOF:
					return buf, nil
				}
				return nil, err
			}
			next := min(max(2*int64(cap(buf)), firstChunk), g.MaxBody)
			if !h.take(next) {
				return nil, errNoMemory
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			h.give(int64(cap(buf)))
			buf = grown
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Hold is what a request holds of its gate's limits: its body's memory
// and, once taken, a slot. The answer holds it, and with SubmitHeld the
// batch's acknowledgement too, as a batch answered before its
// acknowledgement may still be in the pipeline: the last to let go gives
// it back.
type Hold struct {
	gate    *Gate
	memory  int64
	slot    bool
	holders atomic.Int32
}

// take takes n bytes of the gate's memory, if it has them.
func (h *Hold) take(n int64) bool {
	if h.gate.Memory == nil {
		return true
	}
	if !h.gate.Memory.TryAcquire(n) {
		return false
	}
	h.memory += n
	return true
}

// give gives n bytes back.
func (h *Hold) give(n int64) {
	if h.gate.Memory != nil {
		h.gate.Memory.Release(n)
		h.memory -= n
	}
}

func (h *Hold) takeSlot() bool {
	select {
	case h.gate.Slots <- struct{}{}:
		h.slot = true
		return true
	default:
		return false
	}
}

// Slot takes a slot for the request; when all are taken it answers 429
// with Retry-After and returns that status, else 0.
func (h *Hold) Slot(w http.ResponseWriter) int {
	if h.slot || h.takeSlot() {
		return 0
	}
	w.Header().Set("Retry-After", RetryAfter)
	return Reply(w, http.StatusTooManyRequests, tooManyRequests)
}

// Release lets go of one holder's share; the last gives the memory and
// the slot back.
func (h *Hold) Release() {
	if h.holders.Add(-1) != 0 {
		return
	}
	h.give(h.memory)
	if h.slot {
		<-h.gate.Slots
	}
}

// SubmitHeld is Submit for the batch of a request holding h: the
// acknowledgement holds h too, from now until it is called (or at once
// when Submit fails).
func (q *Queue) SubmitHeld(ctx context.Context, batch service.MessageBatch, h *Hold, ack func(error)) error {
	h.holders.Add(1)
	err := q.Submit(ctx, batch, func(err error) {
		ack(err)
		h.Release()
	})
	if err != nil {
		h.Release()
	}
	return err
}

// Unsubmitted answers a request whose batch Submit did not hand on: 503
// with Retry-After, for the sender to retry.
func (g *Gate) Unsubmitted(w http.ResponseWriter, err error) int {
	w.Header().Set("Retry-After", RetryAfter)
	if errors.Is(err, ErrClosing) {
		return Reply(w, http.StatusServiceUnavailable, "the receiver is shutting down: retry later")
	}
	return Reply(w, http.StatusServiceUnavailable, "the pipeline did not take "+g.What+" in time: retry later")
}

// replyDiscarding answers a request after reading the rest of its body, up
// to limit bytes, without keeping it: a client still sending when the
// connection closes may get a broken pipe instead of the answer. Past limit,
// or when the body cannot be read, it closes the connection.
func replyDiscarding(w http.ResponseWriter, body io.Reader, limit int64, status int, text string) int {
	if n, err := io.CopyN(io.Discard, body, limit+1); err != io.EOF || n > limit {
		return ReplyUnread(w, status, text)
	}
	return Reply(w, status, text)
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
