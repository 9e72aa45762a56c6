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
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/plugin/currentsjson"
)

const (
	fieldAddress        = "address"
	fieldPath           = "path"
	fieldBearerToken    = "bearer_token"
	fieldBearerFile     = "bearer_token_file"
	fieldMaxBodyBytes   = "max_body_bytes"
	fieldTimeout        = "timeout"
	fieldMaxConcurrent  = "max_concurrent_requests"
	fieldTLS            = "tls"
	fieldTLSCertFile    = "cert_file"
	fieldTLSKeyFile     = "key_file"
	headerReadTimeout   = 10 * time.Second
	idleTimeout         = 2 * time.Minute
	writeTimeoutMargin  = 5 * time.Second
	busyRetryAfterValue = "1"
)

func init() {
	service.MustRegisterBatchInput("braze_currents", inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newInput(conf, mgr)
		})
}

func inputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Network").
		Summary("Receives Braze Currents from Braze's Custom HTTP connector and acknowledges each request only once its events are delivered.").
		Description(`Braze POSTs batches of up to 100 Currents events as `+"`{\"events\":[...]}`"+` and retries every request not answered with a 2xx. Each request is checked and answered as follows:

- 401 when the `+"`Authorization: Bearer <token>`"+` header is missing or wrong, before the body is read. Tokens are compared in constant time.
- 413 when the body is larger than `+"`max_body_bytes`"+` (Braze then splits the batch).
- 400 when the body is not JSON, or not an object with an `+"`events`"+` array; the answer says which.
- 200 at once for an empty `+"`events`"+` list (Braze sends those to test the credentials).
- 429 when `+"`max_concurrent_requests`"+` requests are already being handled (Braze backs off and retries).
- Otherwise the events become one message batch, one message per event. The answer is 200 when the whole batch is acknowledged (every event delivered by the output, or routed to a dead-letter output by a `+"`fallback`"+` or `+"`switch`"+`), 500 when it is rejected, 503 when the pipeline did not take it within `+"`timeout`"+` and 504 when it was not acknowledged within `+"`timeout`"+`. Braze retries every 5xx; the events keep their Currents `+"`id`"+`, which becomes Amplitude's `+"`insert_id`"+`, so a retry of events that did arrive is deduplicated by Amplitude.

Do not put a buffer between this input and the output, and do not batch at the output: either would acknowledge requests before delivery, or merge the requests' acknowledgements.

`+"`timeout`"+` must stay below Braze's own request timeout, so that Braze gets a 5xx rather than a timeout of its own, and above the time the output may hold events (the amplitude output's `+"`limits.max_hold`"+` plus a request to Amplitude).

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
			service.NewDurationField(fieldTimeout).Default("15s").
				Description("The longest a request may take, from its first byte to its answer. Keep it below Braze's request timeout and above the output's longest hold."),
			service.NewIntField(fieldMaxConcurrent).Default(64).
				Description("Requests handled at once; more get 429. Bounds memory to about this many bodies."),
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
	timeout      time.Duration
	slots        chan struct{} // one per request being handled
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
		return p.batch, func(_ context.Context, err error) error {
			select {
			case p.result <- err:
			default: // answered already: only the first outcome counts
			}
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
	deadline := start.Add(i.timeout)
	status := i.serve(w, r, deadline)
	i.mRequest.Incr(1, strconv.Itoa(status))
	i.mLatency.Timing(time.Since(start).Nanoseconds())
}

func (i *input) serve(w http.ResponseWriter, r *http.Request, deadline time.Time) int {
	rc := http.NewResponseController(w)
	// Errors mean the connection cannot take deadlines; nothing to do then.
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline.Add(writeTimeoutMargin))

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
	select {
	case i.slots <- struct{}{}:
		defer func() { <-i.slots }()
	default:
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return replyUnread(w, http.StatusTooManyRequests, "too many requests at once: retry later")
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, i.maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes: split the batch", i.maxBodyBytes))
		}
		return reply(w, http.StatusBadRequest, "could not read the body: "+err.Error())
	}
	_ = rc.SetReadDeadline(time.Time{}) // the client may now wait for the answer

	events, err := currentsjson.SplitEnvelope(body)
	if err != nil {
		return reply(w, http.StatusBadRequest, err.Error())
	}
	i.mEvents.Incr(int64(len(events)))
	if len(events) == 0 {
		return reply(w, http.StatusOK, `{"events":0}`)
	}
	p := &pending{batch: make(service.MessageBatch, len(events)), result: make(chan error, 1)}
	for k, ev := range events {
		p.batch[k] = service.NewMessage(ev)
	}

	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	select {
	case i.requests <- p:
	case <-ctx.Done():
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return reply(w, http.StatusServiceUnavailable, "the pipeline did not take the events in time: retry later")
	case <-i.closing:
		w.Header().Set("Retry-After", busyRetryAfterValue)
		return reply(w, http.StatusServiceUnavailable, "the receiver is shutting down: retry later")
	}
	select {
	case err := <-p.result:
		if err != nil {
			i.log.Warnf("braze_currents: %d events not delivered, answering 500 so that Braze retries: %v", len(events), err)
			return reply(w, http.StatusInternalServerError, "the events could not be delivered: retry later")
		}
		return reply(w, http.StatusOK, `{"events":`+strconv.Itoa(len(events))+`}`)
	case <-ctx.Done():
		// They may still be delivered; Braze's retry is then deduplicated
		// by insert_id.
		i.log.Warnf("braze_currents: %d events not acknowledged within %s, answering 504 so that Braze retries", len(events), i.timeout)
		return reply(w, http.StatusGatewayTimeout, "the events were not delivered in time: retry later")
	}
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
