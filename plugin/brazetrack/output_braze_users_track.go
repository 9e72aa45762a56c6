// Package brazetrack is the `braze_users_track` batch output: it sends
// Braze user attributes objects to Braze's POST /users/track in requests of
// up to 75 objects, keeps within Braze's rate limit and its rate-limit
// headers, and acts on every kind of answer object by object.
package brazetrack

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/backoff"
	"github.com/connect-amplitude/connect-amplitude/internal/batcherr"
	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/httpclient"
	"github.com/connect-amplitude/connect-amplitude/internal/intervallog"
	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
	"github.com/connect-amplitude/connect-amplitude/internal/secretkey"
)

const (
	fieldInstanceURL    = "instance_url"
	fieldAPIKey         = "api_key"
	fieldAPIKeyFile     = "api_key_file"
	fieldTimeout        = "timeout"
	fieldTLS            = "tls"
	fieldRetry          = "retry"
	fieldConfigRetry    = "config_fault_retry"
	fieldRateLimit      = "rate_limit"
	fieldRequestsPerSec = "requests_per_second"
	fieldBurst          = "burst"
	fieldRequestsFlight = "max_requests_in_flight"
	fieldLogInterval    = "log_interval"
)

func init() { batcherr.RegisterOutput("braze_users_track", outputSpec(), newOutput) }

func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Sends Braze user attributes objects (for example from `amplitude_cohort_to_braze`) to Braze's `POST /users/track`.").
		Description(`Each message is one Braze user attributes object, as JSON: an identifier (`+"`external_id`, `user_alias`, `braze_id`, `email` or `phone`"+`) and the attributes to set. Objects are checked before a byte is sent (an identifier; custom attribute names and string values of at most 255 characters), packed into requests of at most 75 objects (Braze's per-request maximum), and sent with the REST API key, which needs the `+"`users.track`"+` permission. Every answer is acted on object by object:

- 2xx (`+"`{\"message\":\"success\"}`"+`): the objects are delivered, except those the answer's `+"`errors`"+` name by index (non-fatal errors), which fail with reason `+"`rejected`"+` and Braze's error. During maintenance Braze answers 202 `+"`{\"message\":\"queued\"}`"+` and processes the request later: its objects count as delivered, and one Braze then refuses is not reported.
- 400 naming objects (`+"`Valid data must be provided...`"+`): a fatal error, so nothing was processed: the objects named fail with reason `+"`rejected`"+`, the others are sent again at once.
- 400 naming no object, 413, or another 4xx: the request is halved and sent again until the object Braze refuses is alone; it fails with reason `+"`request_rejected`"+` and Braze's message.
- 401, 403, 404 or a redirect (an unknown or revoked key, a key without `+"`users.track`"+`, an inactive account, a wrong `+"`instance_url`"+`): a configuration fault. Nothing is dropped or nacked: the objects are held and retried with `+"`config_fault_retry`"+` backoff, an error is logged once per `+"`log_interval`"+` and the `+"`braze_config_fault`"+` gauge is 1, until it works again (`+"`api_key_file`"+` is re-read when it changes).
- 429: requests pause until the rate-limit window resets (`+"`X-RateLimit-Reset`"+`), then the objects are sent again.
- 5xx, 408, timeouts, refused or reset connections: retried with jittered exponential backoff, for as long as it takes.

Rate limits: requests are paced at `+"`rate_limit.requests_per_second`"+` (default 900/s with bursts of 100: at most 2,800 requests in any 3 seconds, under Braze's default 3,000 per 3 seconds per workspace), and every answer's `+"`X-RateLimit-Remaining`"+` and `+"`X-RateLimit-Reset`"+` are honoured: when a window has no request left, requests wait for its reset. Lower the pace when other clients share the workspace's limit, raise it when Braze raised yours.

Braze has no idempotency key for /users/track: a request that timed out may have been applied, and is sent again. Cohort memberships are set operations (array add/remove, boolean set), so applying one twice leaves the user as once.

An object fails for good only with a reason, in an error of the form `+"`braze_users_track: <reason>: <detail>`"+` that a `+"`fallback`"+` output receives in the `+"`fallback_error`"+` metadata. Reasons: `+strings.Join(brazeapi.Reasons, ", ")+`.

Metrics: `+"`braze_objects_sent`, `braze_objects_failed` (label `reason`), `braze_requests` (label `status`: the HTTP code, or `error` without an answer), `braze_request_latency_ns`, `braze_retries` (label `reason`), `braze_config_fault` (gauge), `braze_rate_limit_remaining` (gauge, from the last answer's header)"+`.`).
		Fields(
			service.NewStringField(fieldInstanceURL).
				Description("The REST endpoint of your Braze instance, as shown in Braze under Settings > APIs and Identifiers: for example `https://rest.iad-01.braze.com` (US-01) or `https://rest.fra-01.braze.eu` (EU-01). `/users/track` is appended when the URL has no path; a URL with a path is used as it is.").
				Example("https://rest.iad-01.braze.com").Example("https://rest.fra-02.braze.eu"),
			service.NewStringField(fieldAPIKey).Secret().Default("").
				Description("A Braze REST API key with the `users.track` permission. Use an environment variable: `${BRAZE_API_KEY}`. `api_key_file`, when set, takes precedence."),
			service.NewStringField(fieldAPIKeyFile).Default("").
				Description("A file holding the REST API key, read again when it changes (looked at once a second at most): rotate the key without a restart. A file that cannot be read or is empty keeps the key read before in use, and an error is logged once per `log_interval`; at startup it is a configuration error. When set, it takes precedence over `api_key`."),
			service.NewDurationField(fieldTimeout).Default("5s").
				Description("The time a request may take, answer included; a timeout is retried."),
			service.NewTLSToggledField(fieldTLS),
			backoff.Spec(fieldRetry, "200ms", "10s", "Backoff for transient failures (5xx, timeouts, connection errors, 429 without headers); retries never stop."),
			backoff.Spec(fieldConfigRetry, "5s", "5m", "Backoff while Braze refuses the API key or the account."),
			service.NewObjectField(fieldRateLimit,
				service.NewFloatField(fieldRequestsPerSec).Default(brazeapi.DefaultSendRate).
					Description("Requests per second, sustained."),
				service.NewIntField(fieldBurst).Default(brazeapi.DefaultSendBurst).
					Description("Requests that may leave at once after a quiet spell."),
			).Description("The pace of requests to /users/track, on top of the rate-limit headers Braze sends.").Advanced(),
			service.NewOutputMaxInFlightField().Default(64).
				Description("Batches in the output at once."),
			service.NewIntField(fieldRequestsFlight).Default(16).
				Description("Requests to Braze at once.").Advanced(),
			service.NewDurationField(fieldLogInterval).Default("1m").
				Description("Recurring conditions (failing requests, configuration faults, a key file that cannot be read) are logged at most once per interval.").Advanced(),
		).
		LintRule(`root = if this.api_key.or("") == "" && this.api_key_file.or("") == "" { "one of api_key and api_key_file must be set" }`).
		Example("Amplitude cohorts to Braze", "Cohort Webhooks deliveries received, mapped to attributes objects and sent; objects Braze refuses go to a file as `{\"reason\": ..., \"event\": ...}`. See config/cohorts-to-braze.yaml for the complete, tested pipeline.", `
input:
  amplitude_cohort_webhook:
    address: 0.0.0.0:8090
    token: ${AMPLITUDE_WEBHOOK_TOKEN}
pipeline:
  processors:
    - mutation: meta cohort_change = content()
    - amplitude_cohort_to_braze: {}
output:
  fallback:
    - braze_users_track:
        instance_url: https://rest.iad-01.braze.com
        api_key: ${BRAZE_API_KEY}
    - file:
        path: ./cohorts-dead-letter.jsonl
        codec: lines
      processors:
        - mapping: 'root = {"reason": meta("fallback_error"), "event": @cohort_change.parse_json()}'
`)
}

// paceID is the one id the limiter paces: Braze limits the workspace.
const paceID = "users_track"

// output is the braze_users_track output. WriteBatch may run concurrently.
type output struct {
	url         string
	keys        *secretkey.Key
	client      *http.Client
	slots       chan struct{} // one per request in flight
	pace        *limiter.Limiter
	retry       backoff.Config
	configRetry backoff.Config

	log        *service.Logger
	metrics    *metrics
	failingLog *intervallog.Log
	faultLog   *intervallog.Log
	keyFileLog *intervallog.Log

	now func() time.Time
}

func newOutput(conf *service.ParsedConfig, mgr *service.Resources) (*output, error) {
	o := &output{log: mgr.Logger(), metrics: newMetrics(mgr.Metrics()), now: time.Now}
	var err error
	if o.url, err = instanceURL(conf); err != nil {
		return nil, err
	}
	if o.keys, err = secretkey.FromConfig(conf, fieldAPIKey, fieldAPIKeyFile, o.now); err != nil {
		return nil, err
	}
	timeout, err := conf.FieldDuration(fieldTimeout)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldTimeout)
	}
	tlsConf, tlsOn, err := conf.FieldTLSToggled(fieldTLS)
	if err != nil {
		return nil, err
	}
	if !tlsOn {
		tlsConf = nil
	}
	requests, err := conf.FieldInt(fieldRequestsFlight)
	if err != nil {
		return nil, err
	}
	if requests < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldRequestsFlight)
	}
	o.slots = make(chan struct{}, requests)
	o.client = newClient(timeout, tlsConf, requests)
	if o.retry, err = backoff.Parse(conf, fieldRetry); err != nil {
		return nil, err
	}
	if o.configRetry, err = backoff.Parse(conf, fieldConfigRetry); err != nil {
		return nil, err
	}
	rate, err := conf.FieldFloat(fieldRateLimit, fieldRequestsPerSec)
	if err != nil {
		return nil, err
	}
	burst, err := conf.FieldInt(fieldRateLimit, fieldBurst)
	if err != nil {
		return nil, err
	}
	// One id, the workspace: the limiter's GCRA paces it, and its pauses
	// hold it until a rate-limit window resets.
	if o.pace, err = limiter.New(limiter.Config{Rate: rate, Burst: burst, MaxTrackedIDs: 1}); err != nil {
		return nil, fmt.Errorf("%s: %w", fieldRateLimit, err)
	}
	interval, err := conf.FieldDuration(fieldLogInterval)
	if err != nil {
		return nil, err
	}
	shown := httpclient.Redacted(o.url)
	o.failingLog = intervallog.New(interval, func(n int, causes string) {
		o.log.Warnf("Requests to Braze at %s failed %d times since the last report and are being retried: %s", shown, n, causes)
	})
	o.faultLog = intervallog.New(interval, func(_ int, cause string) {
		o.log.Errorf("Braze refuses the requests (%s): objects are held, not dropped, and retried; fix the API key (it needs users.track; api_key_file is re-read) or instance_url", cause)
	})
	o.keyFileLog = secretkey.ReloadLog(interval, o.log)
	return o, nil
}

// instanceURL is where requests go: the instance URL with /users/track when
// it has no path.
func instanceURL(conf *service.ParsedConfig) (string, error) {
	raw, err := conf.FieldString(fieldInstanceURL)
	if err != nil {
		return "", err
	}
	return httpclient.ServiceURL(fieldInstanceURL, strings.TrimSpace(raw), "https://rest.iad-01.braze.com", brazeapi.TrackPath)
}

func newClient(timeout time.Duration, tlsConf *tls.Config, conns int) *http.Client {
	c := httpclient.New(timeout, tlsConf, conns)
	// A redirect means a wrong instance URL: read as a configuration fault,
	// never followed (a POST would turn into a GET).
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// Connect has nothing to dial: a connection is made per request, and a
// refused one is retried like any transient failure.
func (o *output) Connect(context.Context) error { return nil }

// WriteBatch returns once every object is delivered or has failed for
// good; failures come back per object in a *service.BatchError. Only a
// cancelled context (shutdown) returns a plain error, so that the whole
// batch is delivered again later.
func (o *output) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	return newDelivery(o, batch).run(ctx, batch)
}

// Close ends idle connections; requests in flight end with their batches.
func (o *output) Close(context.Context) error {
	o.client.CloseIdleConnections()
	return nil
}

// metrics are the output's counters and gauges.
type metrics struct {
	sent        *service.MetricCounter
	failed      *service.MetricCounter // reason
	requests    *service.MetricCounter // status
	latency     *service.MetricTimer
	retries     *service.MetricCounter // reason
	configFault *service.MetricGauge
	remaining   *service.MetricGauge
}

func newMetrics(m *service.Metrics) *metrics {
	return &metrics{
		sent:        m.NewCounter("braze_objects_sent"),
		failed:      m.NewCounter("braze_objects_failed", "reason"),
		requests:    m.NewCounter("braze_requests", "status"),
		latency:     m.NewTimer("braze_request_latency_ns"),
		retries:     m.NewCounter("braze_retries", "reason"),
		configFault: m.NewGauge("braze_config_fault"),
		remaining:   m.NewGauge("braze_rate_limit_remaining"),
	}
}
