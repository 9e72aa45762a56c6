// Package amplitudecohorts brings Amplitude cohorts into a pipeline: the
// `amplitude_cohort_webhook` input (Amplitude's Cohort Webhooks
// destination), the `amplitude_cohort_export` input (the Behavioral Cohorts
// export API, polled and diffed), and the `amplitude_cohort_to_braze`
// processor, which maps their membership changes to Braze user attributes
// objects for the braze_users_track output.
package amplitudecohorts

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
	"github.com/connect-amplitude/connect-amplitude/internal/pushserver"
	"github.com/connect-amplitude/connect-amplitude/internal/sharedsecret"
)

const (
	fieldAuthHeader = "auth_header"
	fieldToken      = "token"
	fieldTokenFile  = "token_file"
	fieldTimeout    = "timeout"
	fieldDedup      = "dedup"
	fieldDedupTTL   = "ttl"
	fieldDedupMax   = "max_message_ids"
)

func init() {
	service.MustRegisterBatchInput("amplitude_cohort_webhook", webhookSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newWebhookInput(conf, mgr)
		})
}

func webhookSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Network").
		Summary("Receives Amplitude cohort membership changes from Amplitude's Cohort Webhooks destination, deduplicates Amplitude's retries, and acknowledges each delivery only once its changes are delivered.").
		Description(`Amplitude POSTs each batch of users entering or leaving a cohort as `+"`{\"cohort_name\", \"cohort_id\", \"in_cohort\", \"computed_time\", \"message_id\", \"users\": [{\"user_id\"}...]}`"+` (the destination's default payload) and retries a delivery it gets no 200 for within 1 to 2 seconds, with the same `+"`message_id`"+`. Each delivery becomes one batch of one message per user, each message the membership change record `+"`{\"cohort_id\", \"cohort_name\", \"in_cohort\", \"user_id\", \"message_id\", \"computed_time\"}`"+` (with `+"`device_id`"+` instead of `+"`user_id`"+` for a user without one whose device id a custom payload template gave), ready for `+"`amplitude_cohort_to_braze`"+`.

Each request is checked and answered as follows:

- 401 when the secret is missing or wrong, before the body is read: the header `+"`auth_header`"+` must carry `+"`token`"+` (as `+"`Bearer <token>`"+` when the header is Authorization). Set the header among the destination's extra headers in Amplitude. Secrets are compared in constant time.
- 413 when the body is larger than `+"`max_body_bytes`"+`; 400 when it is not a delivery, with the field at fault (`+"`message_id: missing`"+`, `+"`users[3].user_id: must be a string`"+`...).
- 429 when `+"`max_concurrent_requests`"+` requests are being handled.
- 503 (with Retry-After) when the body has not arrived within `+"`timeout`"+`: a stalled upload is retried, not taken for a bad delivery.
- 200 at once for a `+"`message_id`"+` delivered before, and for a delivery with no users.
- Otherwise the changes are handed on, and the answer is 200 once the batch is acknowledged: every change delivered by the output, or routed to a dead-letter output. 500 when it is rejected. 503 (with Retry-After) when it is not acknowledged within `+"`timeout`"+`: delivery goes on, and Amplitude's retry, which carries the same `+"`message_id`"+`, waits for it rather than handing the changes on a second time, and gets 200 once they are delivered.

Deduplication: every `+"`message_id`"+` in flight is tracked, and delivered ones for `+"`dedup.ttl`"+` (at most `+"`dedup.max_message_ids`"+`, the oldest forgotten first; about 150 bytes each). A failed delivery is forgotten, so its retry is handed on again. A restart forgets every id: a retry of a delivery acknowledged before it is handed on again, which leaves Braze as it was (adding a name to an array, removing it, setting a boolean are idempotent) and costs Braze data points.

Amplitude wants an answer within 1 to 2 seconds: keep `+"`timeout`"+` at 1s or below. When Braze is slower than that (rate limits, retries), Amplitude's retries keep the delivery alive until it is done; to answer every delivery at once instead, write the changes to Kafka with this input and deliver them to Braze from Kafka in a second stage.

Do not put a buffer between this input and the output: it would acknowledge deliveries before they are delivered.

Metrics: `+"`amplitude_cohort_webhook_requests`"+` (label `+"`status`"+`), `+"`amplitude_cohort_webhook_users`"+` (users in deliveries that passed the checks), `+"`amplitude_cohort_webhook_duplicates`"+` (requests answered from the deduplication state), `+"`amplitude_cohort_webhook_request_latency_ns`"+`.`).
		Fields(
			pushserver.AddressField("0.0.0.0:8090"),
			service.NewStringField(pushserver.FieldPath).Default("/amplitude/cohorts").
				Description("The URL path of the webhook, as entered in Amplitude; other paths get 404."),
			service.NewStringField(fieldAuthHeader).Default("Authorization").
				Description("The request header carrying the shared secret, one of the extra headers set in the destination's configuration in Amplitude. For `Authorization`, its value is `Bearer <token>`; for any other header, the token itself."),
			service.NewStringField(fieldToken).Secret().Default("").
				Description("The shared secret. Use an environment variable: `${AMPLITUDE_WEBHOOK_TOKEN}`. Exclusive with `token_file`; one of them is required."),
			service.NewStringField(fieldTokenFile).Default("").
				Description("A file of accepted secrets, one per line, read again when it changes (looked at once a second at most): list the old and the new secret while Amplitude's header is being changed. A file that cannot be read or is empty keeps the secrets read before accepted; at startup it is a configuration error."),
			service.NewIntField(pushserver.FieldMaxBodyBytes).Default(16<<20).
				Description("The largest body accepted; larger ones get 413."),
			service.NewDurationField(fieldTimeout).Default(cohorts.AnswerDeadline.String()).
				Description("The longest a request waits for its changes to be delivered before it is answered 503 (delivery goes on, and Amplitude's retry waits for it). Amplitude gives up on an answer after 1 to 2 seconds."),
			service.NewObjectField(fieldDedup,
				service.NewDurationField(fieldDedupTTL).Default("24h").
					Description("How long a delivered `message_id` is remembered."),
				service.NewIntField(fieldDedupMax).Default(100_000).
					Description("The most delivered `message_id`s remembered (about 150 bytes each); past it the oldest are forgotten."),
			).Description("The deduplication of Amplitude's retries, by `message_id`.").Advanced(),
			service.NewIntField(pushserver.FieldMaxConcurrent).Default(64).
				Description("Requests handled at once; more get 429."),
			pushserver.TLSField("Amplitude posts over the internet: terminate TLS here or in a proxy in front."),
		).
		Example("Cohort Webhooks to Braze", "See config/cohorts-to-braze.yaml for the complete, tested pipeline with its dead-letter output.", `
input:
  amplitude_cohort_webhook:
    address: 0.0.0.0:8090
    path: /amplitude/cohorts
    token: ${AMPLITUDE_WEBHOOK_TOKEN}
pipeline:
  processors:
    - amplitude_cohort_to_braze: {}
output:
  braze_users_track:
    instance_url: https://rest.iad-01.braze.com
    api_key: ${BRAZE_API_KEY}
`)
}

// webhookInput is the amplitude_cohort_webhook input.
type webhookInput struct {
	*pushserver.Server
	authHeader string
	secrets    *sharedsecret.Secrets
	timeout    time.Duration
	gate       *pushserver.Gate
	dedup      *cohorts.Dedup

	log         *service.Logger
	mUsers      *service.MetricCounter
	mDuplicates *service.MetricCounter
}

func newWebhookInput(conf *service.ParsedConfig, mgr *service.Resources) (*webhookInput, error) {
	i := &webhookInput{
		log:         mgr.Logger(),
		mUsers:      mgr.Metrics().NewCounter("amplitude_cohort_webhook_users"),
		mDuplicates: mgr.Metrics().NewCounter("amplitude_cohort_webhook_duplicates"),
	}
	sc, err := pushserver.ParseConfig(conf)
	if err != nil {
		return nil, err
	}
	if i.authHeader, err = conf.FieldString(fieldAuthHeader); err != nil {
		return nil, err
	}
	if i.authHeader == "" {
		return nil, fmt.Errorf("%s: empty: Amplitude's deliveries must be authenticated", fieldAuthHeader)
	}
	literal, err := conf.FieldString(fieldToken)
	if err != nil {
		return nil, err
	}
	tokenFile, err := conf.FieldString(fieldTokenFile)
	if err != nil {
		return nil, err
	}
	if i.secrets, err = sharedsecret.Named(fieldToken, fieldTokenFile, "Amplitude's deliveries", literal, tokenFile, time.Now); err != nil {
		return nil, err
	}
	if i.timeout, err = conf.FieldDuration(fieldTimeout); err != nil {
		return nil, err
	}
	if i.timeout <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldTimeout)
	}
	ttl, err := conf.FieldDuration(fieldDedup, fieldDedupTTL)
	if err != nil {
		return nil, err
	}
	maxIDs, err := conf.FieldInt(fieldDedup, fieldDedupMax)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 || maxIDs < 1 {
		return nil, fmt.Errorf("%s: %s must be positive and %s at least 1", fieldDedup, fieldDedupTTL, fieldDedupMax)
	}
	i.dedup = cohorts.NewDedup(ttl, maxIDs, time.Now)
	i.gate = &pushserver.Gate{
		Path: sc.Path, What: "the delivery", Authorize: i.authorize, MaxBody: sc.MaxBody, ReadTimeout: i.timeout,
		Slots: make(chan struct{}, sc.MaxConcurrent), SlotBeforeBody: true,
	}
	i.Server = pushserver.New("amplitude_cohort_webhook", sc, mgr.Metrics(), i.serve)
	return i, nil
}

// Connect starts listening; it is a no-op once listening. ReadBatch
// returns the changes of the next delivery handed on; Close stops taking
// deliveries and lets those in progress finish until its context ends
// (pushserver.Server).
func (i *webhookInput) Connect(context.Context) error { return i.Start(i.log) }

// authorize checks the shared secret; a secret file that cannot be read
// again keeps the secrets read before, and says why in the log.
func (i *webhookInput) authorize(r *http.Request) (bool, string) {
	ok, reloadErr := i.secrets.Accepts(sharedsecret.FromHeader(i.authHeader, r.Header.Get(i.authHeader)))
	if reloadErr != nil {
		i.log.Errorf("amplitude_cohort_webhook: %v (the secrets read before stay accepted)", reloadErr)
	}
	return ok, "send the configured secret in the " + i.authHeader + " header"
}

func (i *webhookInput) serve(w http.ResponseWriter, r *http.Request, start time.Time) int {
	body, hold, status := i.gate.Admit(w, r, start)
	if status != 0 {
		return status
	}
	defer hold.Release()
	deadline := start.Add(i.timeout)
	d, err := cohorts.ParseDelivery(body)
	if err != nil {
		return pushserver.Reply(w, http.StatusBadRequest, "not a Cohort Webhooks delivery: "+err.Error())
	}
	i.mUsers.Incr(int64(len(d.Users)))

	seen, flight := i.dedup.Begin(d.MessageID)
	switch seen {
	case cohorts.Delivered:
		i.mDuplicates.Incr(1)
		return pushserver.Reply(w, http.StatusOK, `{"duplicate":true}`)
	case cohorts.InFlight:
		i.mDuplicates.Incr(1)
		return i.await(w, flight, deadline, len(d.Users))
	}
	if len(d.Users) == 0 {
		i.dedup.Finish(d.MessageID, flight, nil)
		return pushserver.Reply(w, http.StatusOK, `{"users":0}`)
	}
	changes := d.Changes()
	batch := make(service.MessageBatch, len(changes))
	for k, c := range changes {
		batch[k] = service.NewMessage(c.Marshal())
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	ack := func(err error) { i.dedup.Finish(d.MessageID, flight, err) }
	if err := i.Submit(ctx, batch, ack); err != nil {
		i.dedup.Finish(d.MessageID, flight, err)
		return i.gate.Unsubmitted(w, err)
	}
	return i.await(w, flight, deadline, len(changes))
}

// await answers once the delivery in flight is acknowledged, or at the
// deadline.
func (i *webhookInput) await(w http.ResponseWriter, flight *cohorts.Flight, deadline time.Time, users int) int {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-flight.Done():
		if err := flight.Err(); err != nil {
			i.log.Warnf("amplitude_cohort_webhook: %d changes not delivered, answering 500 so that Amplitude retries: %v", users, err)
			return pushserver.Reply(w, http.StatusInternalServerError, "the changes could not be delivered: retry later")
		}
		return pushserver.Reply(w, http.StatusOK, `{"users":`+strconv.Itoa(users)+`}`)
	case <-t.C:
		w.Header().Set("Retry-After", pushserver.RetryAfter)
		return pushserver.Reply(w, http.StatusServiceUnavailable, "the changes are being delivered: retry later, the retry is acknowledged once they are")
	}
}
