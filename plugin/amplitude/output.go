// Package amplitude is the `amplitude` batch output: it packs events into
// Amplitude HTTP V2 or Batch requests, sends them, acts on every kind of
// answer, and keeps each device_id and user_id within Amplitude's limits.
package amplitude

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/backoff"
	"github.com/connect-amplitude/connect-amplitude/internal/batcherr"
	"github.com/connect-amplitude/connect-amplitude/internal/httpclient"
	"github.com/connect-amplitude/connect-amplitude/internal/intervallog"
	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
	"github.com/connect-amplitude/connect-amplitude/internal/secretkey"
)

const (
	fieldAPIKey         = "api_key"
	fieldAPIKeyFile     = "api_key_file"
	fieldRegion         = "region"
	fieldEndpoint       = "endpoint"
	fieldAPI            = "api"
	fieldMinIDLength    = "min_id_length"
	fieldMaxFuture      = "max_future"
	fieldGzip           = "gzip"
	fieldTimeout        = "timeout"
	fieldTLS            = "tls"
	fieldRetry          = "retry"
	fieldConfigRetry    = "config_fault_retry"
	fieldThrottlePause  = "throttle_pause"
	fieldDailyQuota     = "daily_quota_policy"
	fieldLimits         = "limits"
	fieldLimitsEnabled  = "enabled"
	fieldRate           = "rate"
	fieldBurst          = "burst"
	fieldQuota          = "daily_quota"
	fieldMaxHold        = "max_hold"
	fieldOnHoldTimeout  = "on_hold_timeout"
	fieldMaxTrackedIDs  = "max_tracked_ids"
	fieldLogInterval    = "log_interval"
	fieldRequestsFlight = "max_requests_in_flight"
)

func init() { batcherr.RegisterOutput("amplitude", outputSpec(), newOutput) }

func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Services").
		Summary("Sends Amplitude events (for example from `currents_to_amplitude`) to Amplitude's HTTP V2 or Batch API.").
		Description(`Each message is one Amplitude event as JSON. Events are checked as Amplitude would check them before any byte is sent, packed into requests of at most 2000 events within the API's byte limit, and sent. Every answer is acted on event by event:

- 200: the events are acknowledged.
- 400 naming events (invalid or missing fields, id lengths, silenced devices): exactly those events fail, the others are sent again at once.
- 400 about the API key or a missing field: a configuration fault. Nothing is dropped or nacked: the events are held and retried with `+"`config_fault_retry`"+` backoff, an error is logged once per `+"`log_interval`"+` and the `+"`amplitude_config_fault`"+` gauge is 1, until the key works again (`+"`api_key_file`"+` is re-read when it changes).
- 413: the request is split in two and retried; an event too large alone fails.
- 429: the throttled device and user ids are paused for `+"`throttle_pause`"+`, the other events are sent again at once.
- 5xx, timeouts, refused or reset connections: retried with jittered exponential backoff inside the output, for as long as it takes; they never reach the input as failures.

### Per-device limits

Amplitude allows each device_id and each user_id 30 events/s on HTTP V2 (1000 on Batch, averaged over 30 s) and 500,000 events per rolling 24 hours; throttling one id costs a whole request a 429. The output keeps every id under those limits itself (see `+"`limits`"+`): a GCRA rate limit per id, a pause ledger fed by 429 answers, and a rolling 24-hour count per id in hourly buckets. An event is sent only when both its ids have budget; one that must wait is scheduled for the time its ids allow and waits on its own while the other events of its batch, and every other id, keep flowing. A wait longer than `+"`limits.max_hold`"+` fails the event with `+"`device_rate_limited`"+` (or nacks it, see `+"`limits.on_hold_timeout`"+`). An event whose request failed with a 5xx or no answer may already be in Amplitude, so it is never failed for a limit: it waits for its ids however long that takes (insert_id makes resending it safe).

Benthos acknowledges a batch as a whole, so an event held by its ids' limits keeps its batch's slot (one of `+"`max_in_flight`"+`) for up to `+"`limits.max_hold`"+`. A device far over its rate has at most rate x max_hold events held at once (250 with the HTTP V2 defaults), so a few hot devices pin a few hundred batches at worst: size `+"`max_in_flight`"+` for it. Memory for the ids is bounded: they are kept as seeded 64-bit hashes, about 50 bytes each (measured at a million ids), idle ids are forgotten incrementally, and at `+"`limits.max_tracked_ids`"+` the id whose state expires soonest makes room.

On shutdown the output waits for requests in flight within the host's `+"`shutdown_timeout`"+`; a batch not finished by then is not acknowledged, so the input delivers it again (insert_id makes that safe).

The output sends the batches it receives and has no batching of its own: batch upstream, with the input's batching policy or the `+"`batched`"+` input (2000 events and 1s are good values). Batching at the output would merge transactions, and Benthos then reports a failure per transaction instead of per event.

Before sending, events are held to Amplitude's documented rules: ids of `+"`min_id_length`"+` to 1024 characters and not on Amplitude's list of invalid ids, a `+"`time`"+` in milliseconds before the year 10000 (and up to `+"`max_future`"+` ahead, if set), `+"`event_properties`"+` and `+"`user_properties`"+` nested at most 40 levels, no event name Amplitude reserves (`+"`[Amplitude] Revenue`"+` and the like). String values longer than 1024 characters are sent as they are, and Amplitude truncates them: the `+"`amplitude_truncated_values`"+` counter tells how many it took.

An event fails for good only with a reason, in an error of the form `+"`amplitude: <reason>: <detail>`"+` that a `+"`fallback`"+` output receives in the `+"`fallback_error`"+` metadata, one event at a time or in a batch. Reasons: `+strings.Join(failureReasons, ", ")+`.

### Metrics

`+metricsTable()+``).
		Fields(
			service.NewStringField(fieldAPIKey).Secret().Default("").
				Description("The Amplitude project's API key. Use an environment variable: `${AMPLITUDE_API_KEY}`. `api_key_file`, when set, takes precedence."),
			service.NewStringField(fieldAPIKeyFile).Default("").
				Description("A file holding the API key, read again when it changes (looked at once a second at most): rotate the key without a restart. A file that cannot be read or is empty keeps the key read before in use, and an error is logged once per `log_interval`; at startup it is a configuration error. When set, it takes precedence over `api_key`, so a config can keep a default `api_key` (for the local emulator) and still take a key file from its environment."),
			service.NewStringEnumField(fieldRegion, ampapi.Regions()...).Default("us").
				Description("Amplitude's data region: `us` (https://api2.amplitude.com) or `eu` (https://api.eu.amplitude.com); or `emulator`, this project's local Amplitude emulator at its default address (http://"+ampapi.EmulatorAddr+"). The path follows from `api`."),
			service.NewStringField(fieldEndpoint).Default("").
				Description("A URL overriding `region`, for a proxy or an emulator elsewhere: a base URL (the path then follows from `api`: `/2/httpapi` or `/batch`), or a full URL used as it is.").
				Example("http://127.0.0.1:8765").Example("https://proxy.internal/amplitude/2/httpapi"),
			service.NewStringEnumField(fieldAPI, "http_v2", "batch").Default("http_v2").
				Description("`http_v2` (requests under 1 MB, 30 events/s per id) or `batch` (20 MB, 1000 events/s per id, for backfills)."),
			service.NewIntField(fieldMinIDLength).Default(5).
				Description("Amplitude's `min_id_length` option: shorter user and device ids fail with reason `invalid_id_length`, and a warning naming this setting is logged at most once per `log_interval` while they do. Sent with every request. Real Braze data often has shorter external ids: lower it if they are real users."),
			service.NewDurationField(fieldMaxFuture).Default("0s").
				Description("When positive, events whose `time` is more than this ahead of now fail with reason `invalid_time`: a broken clock or a wrong unit rather than an event that happened, which Amplitude would store and show at the end of every chart. Off by default: Amplitude documents taking such times, and Braze's own sample data carries times years ahead. A time past the year 9999 always fails, whatever this says: Amplitude cannot hold it, and it is what microseconds or nanoseconds taken for milliseconds (or a time in milliseconds multiplied by 1000 again) give.").
				Example("24h"),
			service.NewBoolField(fieldGzip).Default(false).
				Description("Compress request bodies with gzip. Limits apply to the uncompressed body."),
			service.NewDurationField(fieldTimeout).Default("30s").
				Description("The time a request may take, answer included; a timeout is retried."),
			service.NewTLSToggledField(fieldTLS),
			backoff.Spec(fieldRetry, "500ms", "30s", "Backoff for transient failures (5xx, timeouts, connection errors); retries never stop."),
			backoff.Spec(fieldConfigRetry, "5s", "5m", "Backoff while Amplitude refuses the API key or the request."),
			service.NewDurationField(fieldThrottlePause).Optional().
				Description("How long ids named by a 429 wait. Unset: 30s for `http_v2`, 15s for `batch`, as Amplitude asks.").Advanced(),
			service.NewStringEnumField(fieldDailyQuota, "fail", "hold").Default("fail").
				Description("Events of an id over its daily quota: `fail` with reason `daily_quota`, or `hold` them (up to `limits.max_hold`) until the rolling 24 hours allow them."),
			service.NewObjectField(fieldLimits,
				service.NewBoolField(fieldLimitsEnabled).Default(true).
					Description("Enforce per-id rates and the daily quota before sending. Pauses from 429s apply either way."),
				service.NewFloatField(fieldRate).Default(0).
					Description("Events per second per device_id and per user_id. 0: 25 for `http_v2` (under Amplitude's 30 with margin), 900 for `batch`."),
				service.NewIntField(fieldBurst).Default(0).
					Description("Events an id that was quiet may send at once. 0: 3 for `http_v2`, 1000 for `batch`."),
				service.NewIntField(fieldQuota).Default(ampapi.HTTPV2.Limits().DailyQuota).
					Description("Events per id per rolling 24 hours. 0 turns the check off."),
				service.NewDurationField(fieldMaxHold).Default("10s").
					Description("The longest an event waits for its ids' limits. Past it, the event fails with reason `device_rate_limited` (or `daily_quota`), or `nack` (see `on_hold_timeout`)."),
				service.NewStringEnumField(fieldOnHoldTimeout, onHoldDeadLetter, onHoldNack).Default(onHoldDeadLetter).
					Description("What an event held past `max_hold` for its ids' rate (or a 429's pause) becomes. `"+onHoldDeadLetter+"`: it fails with reason `device_rate_limited` and a `fallback` dead-letters it, to be replayed by hand. `"+onHoldNack+"`: it fails with reason `nack` (`amplitude: nack: device_rate_limited: ...`), for the config to reject so that the input delivers it again later, as Braze's own connector delays such devices: route `nack` to a `reject` output behind the `fallback` (see the example). Its source then redelivers it, with its batch if it cannot tell events apart (Braze resends the whole request): the events Amplitude already took are sent again, charged to their ids' limits again, and deduplicated by `insert_id`; so a batch must not hold more events of one id than `burst` plus `rate` times `max_hold`, or it is nacked every time. Inputs that replay nacks themselves (`auto_replay_nacks`, such as `file`) replay only the failed events of a batch, but in Benthos v4.60.0 a replay that fails in part again can acknowledge the wrong event: keep `"+onHoldDeadLetter+"` with them, or batches of one event. Events over their daily quota are not nacked: they would come back for hours."),
				service.NewIntField(fieldMaxTrackedIDs).Default(2_000_000).
					Description("Ids the limiter keeps state for (about 50 bytes each). At the cap, the id whose state expires soonest is forgotten."),
			).Description("Per-id limits enforced before sending, so one hot device never delays the others nor costs a whole request a 429.").Advanced(),
			service.NewDurationField(fieldLogInterval).Default("1m").
				Description("Recurring conditions (throttled ids, configuration faults) are logged at most once per interval.").Advanced(),
			service.NewOutputMaxInFlightField().Default(256).
				Description("Batches in the output at once. Events of concurrent batches share requests, and an event held by the limits keeps its batch here, so leave plenty of room: a batch costs only its messages' memory."),
			service.NewIntField(fieldRequestsFlight).Default(8).
				Description("Requests to Amplitude at once. Under load, events queue and requests fill up to the API's limits; under light load a request leaves as soon as a sender is free.").Advanced(),
		).
		LintRule(`root = if this.api_key.or("") == "" && this.api_key_file.or("") == "" { "one of api_key and api_key_file must be set" }`).
		Example("Braze Currents to Amplitude", "Braze's Custom HTTP connector received, mapped and sent; events that fail for good go to a file as `{\"reason\": ..., \"event\": ...}`. See config/braze-receiver.yaml for the complete, tested pipeline.", `
input:
  braze_currents:
    bearer_token: ${BRAZE_BEARER_TOKEN}
pipeline:
  processors:
    - currents_to_amplitude: {}
output:
  fallback:
    - amplitude:
        api_key: ${AMPLITUDE_API_KEY}
        region: us
    - file:
        path: ./dead-letter.jsonl
        codec: lines
      processors:
        - mapping: 'root = {"reason": meta("fallback_error"), "event": this}'
`).
		Example("Nack events held for their device's rate", "With `limits.on_hold_timeout: nack`, an event that cannot go within `limits.max_hold` fails with reason `nack`; behind the `fallback`, a `switch` rejects it, so the input nacks its message and the source delivers it again later (the `braze_currents` input answers 500 and Braze retries the request). Every other failure goes to the dead letter, as above. See config/braze-receiver.yaml.", `
output:
  fallback:
    - amplitude:
        api_key: ${AMPLITUDE_API_KEY}
        limits:
          on_hold_timeout: nack
    - switch:
        cases:
          - check: '@fallback_error.has_prefix("amplitude: nack: ")'
            output:
              reject: '${! @fallback_error }'
          - output:
              file:
                path: ./dead-letter.jsonl
                codec: lines
`)
}

var failureReasons = []string{
	ampapi.ReasonInvalidJSON, ampapi.ReasonMissingEventType, ampapi.ReasonInvalidEventType, ampapi.ReasonMissingID, ampapi.ReasonInvalidID,
	ampapi.ReasonInvalidIDLength, ampapi.ReasonInvalidTime, ampapi.ReasonTooDeep, ampapi.ReasonTooLarge, ampapi.ReasonInvalidField,
	ampapi.ReasonMissingField, ampapi.ReasonSilenced, ampapi.ReasonRejected, ampapi.ReasonDailyQuota, ampapi.ReasonRateLimited, ampapi.ReasonNack,
}

// on_hold_timeout values.
const (
	onHoldDeadLetter = "dead_letter"
	onHoldNack       = "nack"
)

// output is the amplitude output. WriteBatch may run concurrently.
type output struct {
	kind          ampapi.Kind
	minIDLength   int
	maxEventBytes int
	maxFuture     time.Duration
	keys          *secretkey.Key
	sender        *sender
	senders       int
	dispatcher    *dispatcher
	limiter       *limiter.Limiter
	holdDaily     bool
	maxHold       time.Duration
	nackOnHold    bool // on_hold_timeout: nack
	throttlePause time.Duration
	retry         backoff.Config
	configRetry   backoff.Config

	log          *service.Logger
	metrics      *outputMetrics
	throttledLog *intervallog.Log
	faultLog     *intervallog.Log
	failingLog   *intervallog.Log
	keyFileLog   *intervallog.Log
	shortIDLog   *intervallog.Log

	now func() time.Time

	stop    context.CancelFunc // ends requests and the metrics loop; nil until Connect
	stopped sync.WaitGroup
}

// newOutput reads and checks the config; Connect starts the work.
func newOutput(conf *service.ParsedConfig, mgr *service.Resources) (*output, error) {
	o := &output{
		log:     mgr.Logger(),
		metrics: newOutputMetrics(mgr.Metrics()),
		now:     time.Now,
	}
	apiName, err := conf.FieldString(fieldAPI)
	if err != nil {
		return nil, err
	}
	if o.kind, err = ampapi.ParseKind(apiName); err != nil {
		return nil, err
	}
	if o.keys, err = secretkey.FromConfig(conf, fieldAPIKey, fieldAPIKeyFile, o.now); err != nil {
		return nil, err
	}
	target, err := endpointURL(conf, o.kind)
	if err != nil {
		return nil, err
	}
	if o.minIDLength, err = conf.FieldInt(fieldMinIDLength); err != nil {
		return nil, err
	}
	if o.minIDLength < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldMinIDLength)
	}
	if o.maxFuture, err = conf.FieldDuration(fieldMaxFuture); err != nil {
		return nil, err
	}
	if o.maxFuture < 0 {
		return nil, fmt.Errorf("%s: must not be negative", fieldMaxFuture)
	}
	useGzip, err := conf.FieldBool(fieldGzip)
	if err != nil {
		return nil, err
	}
	timeout, err := conf.FieldDuration(fieldTimeout)
	if err != nil {
		return nil, err
	}
	tlsConf, tlsOn, err := conf.FieldTLSToggled(fieldTLS)
	if err != nil {
		return nil, err
	}
	if !tlsOn {
		tlsConf = nil
	}
	if o.senders, err = conf.FieldInt(fieldRequestsFlight); err != nil {
		return nil, err
	}
	if o.senders < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldRequestsFlight)
	}
	o.sender = newSender(target, useGzip, timeout, tlsConf, o.senders)
	// Room for any API key a rotation may bring, so an event checked now
	// still fits a request later.
	o.maxEventBytes = o.envelope("").MaxEventBytes() - maxKeyBytes
	if o.retry, err = backoff.Parse(conf, fieldRetry); err != nil {
		return nil, err
	}
	if o.configRetry, err = backoff.Parse(conf, fieldConfigRetry); err != nil {
		return nil, err
	}
	o.throttlePause = o.kind.Limits().ThrottlePause
	if conf.Contains(fieldThrottlePause) {
		if o.throttlePause, err = conf.FieldDuration(fieldThrottlePause); err != nil {
			return nil, err
		}
		if o.throttlePause <= 0 {
			return nil, fmt.Errorf("%s: must be positive", fieldThrottlePause)
		}
	}
	policy, err := conf.FieldString(fieldDailyQuota)
	if err != nil {
		return nil, err
	}
	o.holdDaily = policy == "hold"
	if o.limiter, err = o.newLimiter(conf.Namespace(fieldLimits)); err != nil {
		return nil, err
	}
	interval, err := conf.FieldDuration(fieldLogInterval)
	if err != nil {
		return nil, err
	}
	o.throttledLog = intervallog.New(interval, func(n int, ids string) {
		o.log.Warnf("Amplitude throttled %d ids since the last report (paused for %s): %s", n, o.throttlePause, ids)
	})
	// The first failure is reported at once, so a forgotten or unreachable
	// endpoint shows in the log within seconds while retries go on.
	shown := httpclient.Redacted(target)
	o.failingLog = intervallog.New(interval, func(n int, causes string) {
		o.log.Warnf("Requests to Amplitude at %s failed %d times since the last report and are being retried: %s", shown, n, causes)
	})
	o.faultLog = intervallog.New(interval, func(_ int, cause string) {
		o.log.Errorf("Amplitude refuses the requests (%s): events are held, not dropped, and retried; fix the API key (api_key_file is re-read) or the config", cause)
	})
	o.keyFileLog = secretkey.ReloadLog(interval, o.log)
	o.shortIDLog = intervallog.New(interval, func(n int, fields string) {
		o.log.Warnf("%d events failed since the last report for ids shorter than min_id_length %d (%s): if such ids are real, lower the output's min_id_length", n, o.minIDLength, fields)
	})
	return o, nil
}

// maxKeyBytes bounds the API key's share of a request.
const maxKeyBytes = 256

func (o *output) envelope(key string) ampapi.Envelope {
	return ampapi.NewEnvelope(o.kind, key, o.minIDLength)
}

// configFault records that Amplitude refuses the requests for a reason
// only a person can fix.
func (o *output) configFault(cause string) {
	o.metrics.configFault.Set(1)
	o.faultLog.Note(o.now(), cause)
}

// newLimiter builds the per-id limits from the `limits` fields, whose zero
// values stand for the API's pace in Amplitude's limits table.
func (o *output) newLimiter(conf *service.ParsedConfig) (*limiter.Limiter, error) {
	pace := o.kind.Limits()
	enabled, err := conf.FieldBool(fieldLimitsEnabled)
	if err != nil {
		return nil, err
	}
	rate, err := conf.FieldFloat(fieldRate)
	if err != nil {
		return nil, err
	}
	burst, err := conf.FieldInt(fieldBurst)
	if err != nil {
		return nil, err
	}
	quota, err := conf.FieldInt(fieldQuota)
	if err != nil {
		return nil, err
	}
	if o.maxHold, err = conf.FieldDuration(fieldMaxHold); err != nil {
		return nil, err
	}
	onHold, err := conf.FieldString(fieldOnHoldTimeout)
	if err != nil {
		return nil, err
	}
	if onHold != onHoldDeadLetter && onHold != onHoldNack {
		return nil, fmt.Errorf("%s: %q is not one of %q, %q", fieldOnHoldTimeout, onHold, onHoldDeadLetter, onHoldNack)
	}
	o.nackOnHold = onHold == onHoldNack
	tracked, err := conf.FieldInt(fieldMaxTrackedIDs)
	if err != nil {
		return nil, err
	}
	cfg := limiter.Config{
		PausesOnly:    !enabled, // pauses from 429s apply either way
		Rate:          cmp.Or(rate, pace.SendRate),
		Burst:         cmp.Or(burst, pace.SendBurst),
		DailyQuota:    int64(quota),
		MaxTrackedIDs: tracked,
	}
	l, err := limiter.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fieldLimits, err)
	}
	return l, nil
}

// endpointURL is where requests go: endpoint, with the API's path when it
// has none, else the region's host and the API's path.
func endpointURL(conf *service.ParsedConfig, kind ampapi.Kind) (string, error) {
	return httpclient.EndpointOrRegion(conf, fieldEndpoint, fieldRegion, ampapi.BaseURL, kind.Path())
}

// Connect starts the request senders' dispatcher and the limiter's gauges.
// Nothing is dialled here: a connection is made per request, and a refused
// one is retried like any transient failure.
func (o *output) Connect(context.Context) error {
	if o.stop != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.stop = cancel
	o.dispatcher = newDispatcher(ctx, o, o.senders)
	o.stopped.Add(1)
	go o.observeLimiter(ctx)
	return nil
}

// WriteBatch returns once every event is accepted by Amplitude or has failed
// for good; failures come back per event in a *service.BatchError. Only a
// cancelled context (shutdown) returns a plain error, so that the whole batch
// is delivered again later: insert_id makes the repeats harmless.
func (o *output) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	d := newDelivery(o, batch)
	if err := d.run(ctx); err != nil {
		return err
	}
	return batcherr.From(batch, d.errs, "amplitude: some events failed for good; see each event's error")
}

// Close runs once the host has no batch left in WriteBatch, or has given
// up on them at its shutdown timeout.
func (o *output) Close(context.Context) error {
	if o.stop != nil {
		o.stop()
	}
	o.stopped.Wait()
	o.sender.close()
	return nil
}

// observeLimiter refreshes the limiter gauges.
func (o *output) observeLimiter(ctx context.Context) {
	defer o.stopped.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			o.metrics.observeLimiter(o.limiter.Stats(o.now()))
		case <-ctx.Done():
			return
		}
	}
}

// errShutdown wraps the context's error so the host's logs say why.
var errShutdown = errors.New("amplitude: shutting down with events not yet delivered; they will be delivered again")
