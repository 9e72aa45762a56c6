// Package brazehttp is the `braze_currents` input: the receiving end of
// Braze's Custom HTTP Currents connector. Each authenticated POST of
// {"events":[...]} becomes one batch, and the request is answered 200 only
// once every event of it has been delivered (or routed to a dead-letter
// output): Braze retries what is not acknowledged, so nothing is lost when
// the receiver, Amplitude or anything between fails.
package brazehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"golang.org/x/sync/semaphore"

	"github.com/connect-amplitude/connect-amplitude/internal/envelope"
	"github.com/connect-amplitude/connect-amplitude/internal/pushserver"
)

const (
	fieldBearerToken  = "bearer_token"
	fieldBearerFile   = "bearer_token_file"
	fieldMaxTotalBody = "max_total_body_bytes"
	fieldMaxEvents    = "max_events"
	fieldReadTimeout  = "read_timeout"
	fieldTimeout      = "timeout"
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
			pushserver.AddressField("0.0.0.0:8080"),
			service.NewStringField(pushserver.FieldPath).Default("/currents").
				Description("The URL path Braze posts to; other paths get 404."),
			service.NewStringField(fieldBearerToken).Secret().Default("").
				Description("The token Braze sends as `Authorization: Bearer <token>` (the connector's \"Bearer Token\" field). Use an environment variable: `${BRAZE_BEARER_TOKEN}`. Exclusive with `bearer_token_file`; one of them is required."),
			service.NewStringField(fieldBearerFile).Default("").
				Description("A file of accepted tokens, one per line, read again when it changes (looked at once a second at most): list the old and the new token while Braze's setting is being changed. A file that cannot be read or is empty keeps the tokens read before accepted, and an error is logged at most once a second; at startup it is a configuration error."),
			service.NewIntField(pushserver.FieldMaxBodyBytes).Default(4<<20).
				Description("The largest body accepted; larger ones get 413. It must exceed Braze's largest event (900 KB)."),
			service.NewIntField(fieldMaxTotalBody).Default(64<<20).
				Description("The most bytes of bodies held at once, from their first byte until their events are acknowledged; past it requests get 429 until memory is given back. It bounds the receiver's memory, whatever the concurrency: 64 MiB holds hundreds of Braze's usual bodies (100 events of about 1 KB) and 16 bodies at `max_body_bytes`' default. At least `max_body_bytes`."),
			service.NewIntField(fieldMaxEvents).Default(defaultMaxEvents).
				Description("The most events a body may hold; bodies with more get 413, before any event is mapped. Braze sends up to 100 per request; the default leaves headroom and bounds the messages a small body of tiny events can make."),
			service.NewDurationField(fieldReadTimeout).Default("10s").
				Description("The longest the body of a request may take to arrive, from the end of its headers; a slower one gets 503, which Braze retries. A 4 MiB body in 10s needs about 3.4 Mbit/s."),
			service.NewDurationField(fieldTimeout).Default("15s").
				Description("The longest the delivery of a request's events may take, from the end of its body to the answer. Keep it above the output's longest hold, and `read_timeout` + `timeout` below Braze's request timeout."),
			service.NewIntField(pushserver.FieldMaxConcurrent).Default(64).
				Description("Batches in the pipeline at once, from the end of their body to their acknowledgement; more get 429. With `max_events`, it bounds the messages in the pipeline."),
			pushserver.TLSField("Braze only posts to HTTPS URLs in production: terminate TLS here or in a proxy in front."),
		).
		Example("Braze Currents to Amplitude", "See config/braze-receiver.yaml for the complete, tested pipeline with its dead-letter output.", `
input:
  braze_currents:
    address: 0.0.0.0:8080
    path: /currents
    bearer_token: ${BRAZE_BEARER_TOKEN}
`)
}

// input is the braze_currents input: a pushserver whose handler makes each
// accepted request's events one batch and answers once it is acknowledged.
type input struct {
	*pushserver.Server
	path      string
	tokens    *tokenSource
	maxEvents int
	timeout   time.Duration
	gate      *pushserver.Gate
	addr      net.Addr // where the server listens, once it does

	log     *service.Logger
	mEvents *service.MetricCounter
}

func newInput(conf *service.ParsedConfig, mgr *service.Resources) (*input, error) {
	i := &input{
		log:     mgr.Logger(),
		mEvents: mgr.Metrics().NewCounter("braze_currents_events"),
	}
	sc, err := pushserver.ParseConfig(conf)
	if err != nil {
		return nil, err
	}
	i.path = sc.Path
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
	maxTotal, err := conf.FieldInt(fieldMaxTotalBody)
	if err != nil {
		return nil, err
	}
	if int64(maxTotal) < sc.MaxBody {
		return nil, fmt.Errorf("%s: must be at least %s (%d)", fieldMaxTotalBody, pushserver.FieldMaxBodyBytes, sc.MaxBody)
	}
	if i.maxEvents, err = conf.FieldInt(fieldMaxEvents); err != nil {
		return nil, err
	}
	if i.maxEvents < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldMaxEvents)
	}
	readTimeout, err := conf.FieldDuration(fieldReadTimeout)
	if err != nil {
		return nil, err
	}
	if readTimeout <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldReadTimeout)
	}
	if i.timeout, err = conf.FieldDuration(fieldTimeout); err != nil {
		return nil, err
	}
	if i.timeout <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldTimeout)
	}
	i.gate = &pushserver.Gate{
		Path: sc.Path, What: "the events", Authorize: i.authorize, Challenge: `Bearer realm="braze_currents"`,
		MaxBody: sc.MaxBody, TooLarge: "split the batch", ReadTimeout: readTimeout,
		Memory: semaphore.NewWeighted(int64(maxTotal)), Slots: make(chan struct{}, sc.MaxConcurrent),
	}
	i.Server = pushserver.New("braze_currents", sc, mgr.Metrics(), i.serve)
	return i, nil
}

// Connect starts listening; it is a no-op once listening. ReadBatch
// returns the events of the next accepted request, and its AckFunc answers
// that request; Close stops taking requests and lets those in progress
// finish until its context ends (pushserver.Server).
func (i *input) Connect(context.Context) error {
	err := i.Start(i.log)
	i.addr = i.Addr()
	return err
}

// authorize checks the bearer token; a token file that cannot be read
// again keeps the tokens read before, and says why in the log.
func (i *input) authorize(r *http.Request) (bool, string) {
	ok, tokenErr := i.tokens.accepts(r.Header.Get("Authorization"))
	if tokenErr != nil {
		i.log.Errorf("braze_currents: %v (the tokens read before stay accepted)", tokenErr)
	}
	return ok, "send Authorization: Bearer <token> with the configured token"
}

// serve answers one request; see the spec's description for the statuses.
func (i *input) serve(w http.ResponseWriter, r *http.Request, start time.Time) int {
	body, hold, status := i.gate.Admit(w, r, start)
	if status != 0 {
		return status
	}
	defer hold.Release()
	// The client may now wait for the answer, up to the delivery's deadline.
	deadline := time.Now().Add(i.timeout)
	i.gate.AnswerBy(w, deadline)

	batch, err := messagesOf(body, i.maxEvents)
	switch {
	case errors.Is(err, envelope.ErrTooManyEvents):
		return pushserver.Reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body holds more than %d events: split the batch", i.maxEvents))
	case err != nil:
		return pushserver.Reply(w, http.StatusBadRequest, err.Error())
	}
	if len(batch) == 0 {
		return pushserver.Reply(w, http.StatusOK, `{"events":0}`)
	}
	if status := hold.Slot(w); status != 0 {
		return status
	}
	i.mEvents.Incr(int64(len(batch)))

	result := make(chan error, 1) // buffered: the ack never blocks, even after a timeout
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	if err := i.SubmitHeld(ctx, batch, hold, func(err error) { result <- err }); err != nil {
		return i.gate.Unsubmitted(w, err)
	}
	select {
	case err := <-result:
		if err != nil {
			i.log.Warnf("braze_currents: %d events not delivered, answering 500 so that Braze retries: %v", len(batch), err)
			return pushserver.Reply(w, http.StatusInternalServerError, "the events could not be delivered: retry later")
		}
		return pushserver.Reply(w, http.StatusOK, `{"events":`+strconv.Itoa(len(batch))+`}`)
	case <-ctx.Done():
		// They may still be delivered; Braze's retry is then deduplicated
		// by insert_id.
		i.log.Warnf("braze_currents: %d events not acknowledged within %s, answering 504 so that Braze retries", len(batch), i.timeout)
		return pushserver.Reply(w, http.StatusGatewayTimeout, "the events were not delivered in time: retry later")
	}
}

// messagesOf makes a body's events one message each, flagging with the
// reason those that are not events; see envelope.Split.
func messagesOf(body []byte, maxEvents int) (service.MessageBatch, error) {
	events, err := envelope.Split(body, maxEvents)
	if err != nil {
		return nil, err
	}
	batch := make(service.MessageBatch, len(events))
	for k, ev := range events {
		batch[k] = service.NewMessage(ev)
		if err := envelope.NotAnEvent(k, ev); err != nil {
			batch[k].SetError(err)
		}
	}
	return batch, nil
}
