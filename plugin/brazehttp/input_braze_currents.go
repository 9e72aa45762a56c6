// Package brazehttp is the `braze_currents` input: the receiving end of
// Braze's Custom HTTP Currents connector. Each authenticated POST of
// {"events":[...]} becomes one batch, and the request is answered 200 only
// once every event of it has been delivered (or routed to a dead-letter
// output): Braze retries what is not acknowledged, so nothing is lost when
// the receiver, Amplitude or anything between fails.
package brazehttp

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

	"github.com/connect-amplitude/connect-amplitude/plugin/currentsjson"
)

const (
	fieldAddress        = "address"
	fieldPath           = "path"
	fieldBearerToken    = "bearer_token"
	fieldBearerFile     = "bearer_token_file"
	fieldMaxBodyBytes   = "max_body_bytes"
	fieldMaxTotalBody   = "max_total_body_bytes"
	fieldMaxEvents      = "max_events"
	fieldReadTimeout    = "read_timeout"
	fieldTimeout        = "timeout"
	fieldMaxConcurrent  = "max_concurrent_requests"
	fieldTLS            = "tls"
	fieldTLSCertFile    = "cert_file"
	fieldTLSKeyFile     = "key_file"
	headerReadTimeout   = 10 * time.Second
	idleTimeout         = 2 * time.Minute
	writeTimeoutMargin  = 5 * time.Second
	busyRetryAfterValue = "1"

	// firstChunk is the memory first taken for a body of unknown length
	// (chunked); it doubles as the body arrives.
	firstChunk = 64 << 10
)

func init() {
	service.MustRegisterBatchInput("braze_currents", inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newInput(conf, mgr)
		})
}

// defaultMaxEvents leaves headroom over the 100 events per request that
// Braze's Custom HTTP connector sends by default (Braze, "Custom HTTP
// connector", section "Batching and serialization":
// https://www.braze.com/docs/user_guide/data/distribution/braze_currents/setting_up_currents/custom_http_connector/),
// while bounding the messages a small body of tiny events can make.
const defaultMaxEvents = 1000

// peakRSSBound is the documented peak resident memory of the binary running
// config/braze-receiver.yaml with the defaults under the heaviest load the
// limits let in (measured: about 200 MB). The e2e test
// TestReceiverMemoryStaysBoundedUnderTinyEvents reads it from the generated
// reference and holds the receiver to it.
const peakRSSBound = "300 MB"

func inputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Network").
		Summary("Receives Braze Currents from Braze's Custom HTTP connector and acknowledges each request only once its events are delivered.").
		Description(`Braze POSTs batches of up to 100 Currents events as `+"`{\"events\":[...]}`"+` and retries every request not answered with a 2xx. Each request is checked and answered as follows:

- 401 when the `+"`Authorization: Bearer <token>`"+` header is missing or wrong, before the body is read. Tokens are compared in constant time.
- 413 when the body is larger than `+"`max_body_bytes`"+` (at once when its `+"`Content-Length`"+` says so), or holds more than `+"`max_events`"+` events (counted before any is mapped): Braze then splits the batch.
- 503 when the body has not arrived within `+"`read_timeout`"+`: a stalled upload is retried, not taken for a bad event.
- 400 when the body is not JSON, nests arrays and objects deeper than 10000 levels, is not an object with an `+"`events`"+` array, or has the `+"`events`"+` key twice (which list is meant is ambiguous, so neither is taken); the answer says which.
- 200 at once for an empty `+"`events`"+` list (Braze sends those to test the credentials).
- 429 when the bodies held would pass `+"`max_total_body_bytes`"+`, or `+"`max_concurrent_requests`"+` batches are already in the pipeline (Braze backs off and retries).
- Otherwise the events become one message batch, one message per event. The answer is 200 when the whole batch is acknowledged (every event delivered by the output, or routed to a dead-letter output by a `+"`fallback`"+` or `+"`switch`"+`), 500 when it is rejected, 503 when the pipeline did not take it within `+"`timeout`"+` and 504 when it was not acknowledged within `+"`timeout`"+`. Braze retries every 5xx; the events keep their Currents `+"`id`"+`, which becomes Amplitude's `+"`insert_id`"+`, so a retry of events that did arrive is deduplicated by Amplitude.

An element of `+"`events`"+` that is not a JSON object (`+"`null`"+`, a number, a string, an array, a boolean) is still a message, holding the element as sent and flagged with an error such as `+"`events[3]: null is not a Currents event, which is a JSON object`"+`, so that it fails alone and its companions are delivered.

Do not put a buffer between this input and the output, and do not batch at the output: either would acknowledge requests before delivery, or merge the requests' acknowledgements.

Times: `+"`read_timeout`"+` bounds the reading of a body, from the end of its headers (themselves bounded to 10s); `+"`timeout`"+` bounds its delivery, from the end of the body to the answer. A request thus takes at most `+"`read_timeout`"+` + `+"`timeout`"+` after its headers: keep that below Braze's own request timeout, so that Braze gets a 5xx rather than a timeout of its own, and `+"`timeout`"+` above the time the output may hold events (the amplitude output's `+"`limits.max_hold`"+` plus a request to Amplitude).

Memory: a body is held from its first byte until both its answer and its batch's acknowledgement are done (a batch answered 504 may still be in the pipeline), and bodies held take at most `+"`max_total_body_bytes`"+` together: one with a `+"`Content-Length`"+` takes that much at once, one without takes memory as it arrives. A request slot is taken only once the body is read, so slow uploads hold only their bodies' memory and never keep other requests out. The pipeline holds at most `+"`max_concurrent_requests`"+` x `+"`max_events`"+` messages (about 1 KB each when mapping fails; the body's bytes are shared, not copied). With the defaults, config/braze-receiver.yaml stays under `+peakRSSBound+` of resident memory (about 35 MB at rest) under the heaviest load the limits let in: 64 concurrent bodies at the size limit full of the smallest events (`+"`{}`"+`), then 64 concurrent batches of `+"`max_events`"+` such events, as many of them at the size limit as `+"`max_total_body_bytes`"+` holds; an end-to-end test holds it to that. Go's collector lets the heap grow to about twice what is live: size `+"`max_total_body_bytes`"+` accordingly.

Metrics: `+"`braze_currents_requests`"+` (label `+"`status`"+`: the HTTP status answered), `+"`braze_currents_events`"+` (events received in requests that passed the checks) and `+"`braze_currents_request_latency_ns`"+` (timer, from the start of a request to its answer).`).
		Fields(
			service.NewStringField(fieldAddress).Default("0.0.0.0:8080").
				Description("The address to listen on, host:port."),
			service.NewStringField(fieldPath).Default("/currents").
				Description("The URL path Braze posts to; other paths get 404."),
			service.NewStringField(fieldBearerToken).Secret().Default("").
				Description("The token Braze sends as `Authorization: Bearer <token>` (the connector's \"Bearer Token\" field). Use an environment variable: `${BRAZE_BEARER_TOKEN}`. Exclusive with `bearer_token_file`; one of them is required."),
			service.NewStringField(fieldBearerFile).Default("").
				Description("A file of accepted tokens, one per line, read again when it changes (looked at once a second at most): list the old and the new token while Braze's setting is being changed. A file that cannot be read or is empty keeps the tokens read before accepted, and an error is logged at most once a second; at startup it is a configuration error."),
			service.NewIntField(fieldMaxBodyBytes).Default(4<<20).
				Description("The largest body accepted; larger ones get 413. It must exceed Braze's largest event (900 KB)."),
			service.NewIntField(fieldMaxTotalBody).Default(64<<20).
				Description("The most bytes of bodies held at once, from their first byte until their events are acknowledged; past it requests get 429 until memory is given back. It bounds the receiver's memory, whatever the concurrency: 64 MiB holds hundreds of Braze's usual bodies (100 events of about 1 KB) and 16 bodies at `max_body_bytes`' default. At least `max_body_bytes`."),
			service.NewIntField(fieldMaxEvents).Default(defaultMaxEvents).
				Description("The most events a body may hold; bodies with more get 413, before any event is mapped. Braze sends up to 100 per request; the default leaves headroom and bounds the messages a small body of tiny events can make."),
			service.NewDurationField(fieldReadTimeout).Default("10s").
				Description("The longest the body of a request may take to arrive, from the end of its headers; a slower one gets 503, which Braze retries. A 4 MiB body in 10s needs about 3.4 Mbit/s."),
			service.NewDurationField(fieldTimeout).Default("15s").
				Description("The longest the delivery of a request's events may take, from the end of its body to the answer. Keep it above the output's longest hold, and `read_timeout` + `timeout` below Braze's request timeout."),
			service.NewIntField(fieldMaxConcurrent).Default(64).
				Description("Batches in the pipeline at once, from the end of their body to their acknowledgement; more get 429. With `max_events`, it bounds the messages in the pipeline."),
			service.NewObjectField(fieldTLS,
				service.NewStringField(fieldTLSCertFile).Default("").Description("PEM certificate (chain) file."),
				service.NewStringField(fieldTLSKeyFile).Default("").Description("PEM private key file."),
			).Description("Serve HTTPS when both files are set. Braze only posts to HTTPS URLs in production: terminate TLS here or in a proxy in front."),
		).
		Example("Braze Currents to Amplitude", "See config/braze-receiver.yaml for the complete, tested pipeline with its dead-letter output.", `
input:
  braze_currents:
    address: 0.0.0.0:8080
    path: /currents
    bearer_token: ${BRAZE_BEARER_TOKEN}
`)
}

// input is the braze_currents input. Its HTTP handlers hand each request to
// ReadBatch through requests and wait for the batch's acknowledgement.
type input struct {
	address      string
	path         string
	tokens       *tokenSource
	maxBodyBytes int64
	maxEvents    int
	readTimeout  time.Duration
	timeout      time.Duration
	memory       *semaphore.Weighted // bytes of bodies held
	slots        chan struct{}       // one per batch in the pipeline
	certFile     string
	keyFile      string

	log      *service.Logger
	mRequest *service.MetricCounter
	mEvents  *service.MetricCounter
	mLatency *service.MetricTimer

	requests chan *pending

	mu      sync.Mutex
	server  *http.Server
	addr    net.Addr      // where the server listens, once it does
	served  chan struct{} // closed when Serve returns
	closing chan struct{} // closed by Close
	closed  bool
}

// pending is a request's batch waiting for its acknowledgement.
type pending struct {
	batch  service.MessageBatch
	result chan error // buffered: the ack never blocks, even after a timeout
	hold   *hold
}

// hold is what a request holds of the input's limits: its body's memory
// and, once its events go to the pipeline, a request slot. Both the answer
// and the batch's acknowledgement hold it, as a batch answered 504 may
// still be in the pipeline; the last to let go gives it back.
type hold struct {
	in      *input
	memory  int64
	slot    bool
	holders atomic.Int32
}

func (h *hold) release() {
	if h.holders.Add(-1) != 0 {
		return
	}
	if h.memory > 0 {
		h.in.memory.Release(h.memory)
	}
	if h.slot {
		<-h.in.slots
	}
}

func newInput(conf *service.ParsedConfig, mgr *service.Resources) (*input, error) {
	i := &input{
		log:      mgr.Logger(),
		mRequest: mgr.Metrics().NewCounter("braze_currents_requests", "status"),
		mEvents:  mgr.Metrics().NewCounter("braze_currents_events"),
		mLatency: mgr.Metrics().NewTimer("braze_currents_request_latency_ns"),
		requests: make(chan *pending),
		closing:  make(chan struct{}),
	}
	var err error
	if i.address, err = conf.FieldString(fieldAddress); err != nil {
		return nil, err
	}
	if i.path, err = conf.FieldString(fieldPath); err != nil {
		return nil, err
	}
	if i.path == "" || i.path[0] != '/' {
		return nil, fmt.Errorf("%s: must start with /", fieldPath)
	}
	literal, err := conf.FieldString(fieldBearerToken)
	if err != nil {
		return nil, err
	}
	tokenFile, err := conf.FieldString(fieldBearerFile)
	if err != nil {
		return nil, err
	}
	if i.tokens, err = newTokenSource(literal, tokenFile, time.Now); err != nil {
		return nil, err
	}
	maxBody, err := conf.FieldInt(fieldMaxBodyBytes)
	if err != nil {
		return nil, err
	}
	if maxBody < 1 {
		return nil, fmt.Errorf("%s: must be positive", fieldMaxBodyBytes)
	}
	i.maxBodyBytes = int64(maxBody)
	maxTotal, err := conf.FieldInt(fieldMaxTotalBody)
	if err != nil {
		return nil, err
	}
	if int64(maxTotal) < i.maxBodyBytes {
		return nil, fmt.Errorf("%s: must be at least %s (%d)", fieldMaxTotalBody, fieldMaxBodyBytes, maxBody)
	}
	i.memory = semaphore.NewWeighted(int64(maxTotal))
	if i.maxEvents, err = conf.FieldInt(fieldMaxEvents); err != nil {
		return nil, err
	}
	if i.maxEvents < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldMaxEvents)
	}
	if i.readTimeout, err = conf.FieldDuration(fieldReadTimeout); err != nil {
		return nil, err
	}
	if i.readTimeout <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldReadTimeout)
	}
	if i.timeout, err = conf.FieldDuration(fieldTimeout); err != nil {
		return nil, err
	}
	if i.timeout <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldTimeout)
	}
	maxConcurrent, err := conf.FieldInt(fieldMaxConcurrent)
	if err != nil {
		return nil, err
	}
	if maxConcurrent < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldMaxConcurrent)
	}
	i.slots = make(chan struct{}, maxConcurrent)
	if i.certFile, err = conf.FieldString(fieldTLS, fieldTLSCertFile); err != nil {
		return nil, err
	}
	if i.keyFile, err = conf.FieldString(fieldTLS, fieldTLSKeyFile); err != nil {
		return nil, err
	}
	if (i.certFile == "") != (i.keyFile == "") {
		return nil, fmt.Errorf("%s: set both %s and %s, or neither", fieldTLS, fieldTLSCertFile, fieldTLSKeyFile)
	}
	return i, nil
}

// Connect starts listening; it is a no-op once listening.
func (i *input) Connect(context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return service.ErrEndOfInput
	}
	if i.server != nil {
		return nil
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(i.handle),
		ReadHeaderTimeout: headerReadTimeout,
		IdleTimeout:       idleTimeout,
		// The body's read deadline and the write deadline are set per
		// request: a server-wide ReadTimeout would cancel a request's
		// context while it waits for its acknowledgement.
	}
	if i.certFile != "" {
		cert, err := tls.LoadX509KeyPair(i.certFile, i.keyFile)
		if err != nil {
			return fmt.Errorf("%s: %w", fieldTLS, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", i.address)
	if err != nil {
		return err
	}
	scheme := "http"
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	i.server, i.served, i.addr = srv, make(chan struct{}), ln.Addr()
	go func() {
		defer close(i.served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			i.log.Errorf("braze_currents: server stopped: %v", err)
		}
	}()
	i.log.Infof("braze_currents: listening on %s://%s%s", scheme, ln.Addr(), i.path)
	return nil
}

// ReadBatch returns the events of the next accepted request; its AckFunc
// answers that request.
func (i *input) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	select {
	case p := <-i.requests:
		var once sync.Once
		return p.batch, func(_ context.Context, err error) error {
			once.Do(func() { // only the first outcome counts
				p.result <- err
				p.hold.release()
			})
			return nil
		}, nil
	case <-i.closing:
		return nil, nil, service.ErrEndOfInput
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Close stops taking requests and lets those in progress finish until ctx
// ends: the pipeline may still acknowledge them.
func (i *input) Close(ctx context.Context) error {
	i.mu.Lock()
	if !i.closed {
		i.closed = true
		close(i.closing)
	}
	srv, served := i.server, i.served
	i.mu.Unlock()
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

// handle answers one request; see the spec's description for the statuses.
func (i *input) handle(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := i.serve(w, r, start)
	i.mRequest.Incr(1, strconv.Itoa(status))
	i.mLatency.Timing(time.Since(start).Nanoseconds())
}

func (i *input) serve(w http.ResponseWriter, r *http.Request, start time.Time) int {
	rc := http.NewResponseController(w)
	// Errors mean the connection cannot take deadlines; nothing to do then.
	readDeadline := start.Add(i.readTimeout)
	_ = rc.SetReadDeadline(readDeadline)
	_ = rc.SetWriteDeadline(readDeadline.Add(writeTimeoutMargin))

	// Answers given before the body is read close the connection: net/http
	// would otherwise read the rest of the body to reuse it.
	if r.URL.Path != i.path {
		return replyUnread(w, http.StatusNotFound, "not found: Braze Currents are received on "+i.path)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return replyUnread(w, http.StatusMethodNotAllowed, "method not allowed: POST the events")
	}
	ok, tokenErr := i.tokens.accepts(r.Header.Get("Authorization"))
	if tokenErr != nil {
		i.log.Errorf("braze_currents: %v (the tokens read before stay accepted)", tokenErr)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="braze_currents"`)
		return replyUnread(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <token> with the configured token")
	}
	tooLarge := fmt.Sprintf("body larger than %d bytes: split the batch", i.maxBodyBytes)
	if r.ContentLength > i.maxBodyBytes {
		return replyUnread(w, http.StatusRequestEntityTooLarge, tooLarge)
	}

	h := &hold{in: i}
	h.holders.Store(1)
	defer h.release()
	body, err := i.readBody(r.Body, r.ContentLength, h)
	switch {
	case errors.Is(err, errBodyTooLarge):
		return replyUnread(w, http.StatusRequestEntityTooLarge, tooLarge)
	case errors.Is(err, errNoMemory):
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return replyDiscarding(w, r.Body, i.maxBodyBytes, http.StatusTooManyRequests, "too many bodies in memory at once: retry later")
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return replyUnread(w, http.StatusServiceUnavailable, fmt.Sprintf("the body did not arrive within %s: retry", i.readTimeout))
	case err != nil:
		return replyUnread(w, http.StatusBadRequest, "could not read the body: "+err.Error())
	}
	// The client may now wait for the answer, up to the delivery's deadline.
	deadline := time.Now().Add(i.timeout)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(deadline.Add(writeTimeoutMargin))

	batch, err := messagesOf(body, i.maxEvents)
	switch {
	case errors.Is(err, currentsjson.ErrTooManyEvents):
		return reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body holds more than %d events: split the batch", i.maxEvents))
	case err != nil:
		return reply(w, http.StatusBadRequest, err.Error())
	}
	if len(batch) == 0 {
		return reply(w, http.StatusOK, `{"events":0}`)
	}
	select {
	case i.slots <- struct{}{}:
		h.slot = true
	default:
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return reply(w, http.StatusTooManyRequests, "too many requests at once: retry later")
	}
	i.mEvents.Incr(int64(len(batch)))

	p := &pending{batch: batch, result: make(chan error, 1), hold: h}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	h.holders.Add(1) // the acknowledgement's, given back here if the pipeline never takes the batch
	select {
	case i.requests <- p:
	case <-ctx.Done():
		h.release()
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return reply(w, http.StatusServiceUnavailable, "the pipeline did not take the events in time: retry later")
	case <-i.closing:
		h.release()
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return reply(w, http.StatusServiceUnavailable, "the receiver is shutting down: retry later")
	}
	select {
	case err := <-p.result:
		if err != nil {
			i.log.Warnf("braze_currents: %d events not delivered, answering 500 so that Braze retries: %v", len(batch), err)
			return reply(w, http.StatusInternalServerError, "the events could not be delivered: retry later")
		}
		return reply(w, http.StatusOK, `{"events":`+strconv.Itoa(len(batch))+`}`)
	case <-ctx.Done():
		// They may still be delivered; Braze's retry is then deduplicated
		// by insert_id.
		i.log.Warnf("braze_currents: %d events not acknowledged within %s, answering 504 so that Braze retries", len(batch), i.timeout)
		return reply(w, http.StatusGatewayTimeout, "the events were not delivered in time: retry later")
	}
}

// messagesOf makes a body's events one message each, flagging with the
// reason those that are not events; see currentsjson.SplitEnvelope.
func messagesOf(body []byte, maxEvents int) (service.MessageBatch, error) {
	events, err := currentsjson.SplitEnvelope(body, maxEvents)
	if err != nil {
		return nil, err
	}
	batch := make(service.MessageBatch, len(events))
	for k, ev := range events {
		batch[k] = service.NewMessage(ev)
		if err := currentsjson.NotAnEvent(k, ev); err != nil {
			batch[k].SetError(err)
		}
	}
	return batch, nil
}

// Errors of readBody besides the body's own.
var (
	errBodyTooLarge = errors.New("body larger than max_body_bytes")
	errNoMemory     = errors.New("bodies fill the memory allowed")
)

// readBody reads a body of the declared length (-1 when unknown) into
// memory taken for h. A declared length is taken at once and read into one
// buffer, as net/http ends the body there; an unknown one is taken as the
// body arrives, the buffer doubling up to max_body_bytes.
func (i *input) readBody(body io.Reader, declared int64, h *hold) ([]byte, error) {
	take := func(n int64) bool {
		if !i.memory.TryAcquire(n) {
			return false
		}
		h.memory += n
		return true
	}
	if declared >= 0 {
		if !take(declared) {
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
			if int64(len(buf)) == i.maxBodyBytes {
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
			next := min(max(2*int64(cap(buf)), firstChunk), i.maxBodyBytes)
			if !take(next) {
				return nil, errNoMemory
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			i.memory.Release(int64(cap(buf)))
			h.memory -= int64(cap(buf))
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

// replyDiscarding answers a request after reading the rest of its body, up
// to limit bytes, without keeping it: a client still sending when the
// connection closes may get a broken pipe instead of the answer. Past limit,
// or when the body cannot be read, it closes the connection.
func replyDiscarding(w http.ResponseWriter, body io.Reader, limit int64, status int, text string) int {
	if n, err := io.CopyN(io.Discard, body, limit+1); err != io.EOF || n > limit {
		return replyUnread(w, status, text)
	}
	return reply(w, status, text)
}

// replyUnread answers a request whose body was not read, and closes the
// connection.
func replyUnread(w http.ResponseWriter, status int, text string) int {
	w.Header().Set("Connection", "close")
	return reply(w, status, text)
}

// reply writes a short answer: JSON for 200, plain text otherwise.
func reply(w http.ResponseWriter, status int, text string) int {
	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
		return status
	}
	http.Error(w, text, status)
	return status
}
