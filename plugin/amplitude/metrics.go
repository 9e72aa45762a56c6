package amplitude

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
)

// outputMetrics are the output's counters and gauges, as metricDocs
// describes them.
type outputMetrics struct {
	eventsSent      *service.MetricCounter
	eventsFailed    *service.MetricCounter // reason
	truncatedValues *service.MetricCounter
	requests        *service.MetricCounter // status: HTTP code, or "error" without an answer
	requestBytes    *service.MetricCounter
	requestEvents   *service.MetricCounter
	requestLatency  *service.MetricTimer
	retries         *service.MetricCounter // reason
	throttledIDs    *service.MetricCounter // kind
	configFault     *service.MetricGauge

	heldNow     atomic.Int64
	eventsHeld  *service.MetricGauge
	holdTime    *service.MetricTimer
	limitedIDs  *service.MetricGauge // reason
	trackedIDs  *service.MetricGauge
	evictions   *service.MetricCounter
	lastEvicted uint64
}

func newOutputMetrics(m *service.Metrics) *outputMetrics {
	return &outputMetrics{
		eventsSent:      m.NewCounter("amplitude_events_sent"),
		eventsFailed:    m.NewCounter("amplitude_events_failed", "reason"),
		truncatedValues: m.NewCounter("amplitude_truncated_values"),
		requests:        m.NewCounter("amplitude_requests", "status"),
		requestBytes:    m.NewCounter("amplitude_request_bytes"),
		requestEvents:   m.NewCounter("amplitude_request_events"),
		requestLatency:  m.NewTimer("amplitude_request_latency_ns"),
		retries:         m.NewCounter("amplitude_retries", "reason"),
		throttledIDs:    m.NewCounter("amplitude_throttled_ids", "kind"),
		configFault:     m.NewGauge("amplitude_config_fault"),
		eventsHeld:      m.NewGauge("amplitude_events_held"),
		holdTime:        m.NewTimer("amplitude_hold_time_ns"),
		limitedIDs:      m.NewGauge("amplitude_limited_ids", "reason"),
		trackedIDs:      m.NewGauge("amplitude_tracked_ids"),
		evictions:       m.NewCounter("amplitude_limiter_evictions"),
	}
}

// metricDocs documents each metric: name, type, labels, meaning.
var metricDocs = [][4]string{
	{"amplitude_events_sent", "counter", "", "events Amplitude accepted"},
	{"amplitude_events_failed", "counter", "reason", "events failed for good, by reason (`nack` included)"},
	{"amplitude_truncated_values", "counter", "", "string values longer than 1024 characters in events Amplitude accepted, which it truncates"},
	{"amplitude_requests", "counter", "status", "requests by HTTP status (`error`: no answer)"},
	{"amplitude_request_bytes", "counter", "", "bytes sent (before gzip)"},
	{"amplitude_request_events", "counter", "", "events sent in requests"},
	{"amplitude_request_latency_ns", "timer", "", "request round trip"},
	{"amplitude_retries", "counter", "reason", "events sent again, by cause"},
	{"amplitude_throttled_ids", "counter", "kind", "ids named by 429s (`device`, `user`)"},
	{"amplitude_config_fault", "gauge", "", "1 while Amplitude refuses the key or the requests"},
	{"amplitude_events_held", "gauge", "", "events waiting for their ids' limits"},
	{"amplitude_hold_time_ns", "timer", "", "how long held events waited"},
	{"amplitude_limited_ids", "gauge", "reason", "ids currently limited: `rate`, `paused`, `daily_quota`"},
	{"amplitude_tracked_ids", "gauge", "", "ids the limiter holds state for"},
	{"amplitude_limiter_evictions", "counter", "", "ids forgotten by the limiter"},
}

// metricsTable is metricDocs as a Markdown table, for the spec.
func metricsTable() string {
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, d := range metricDocs {
		labels := ""
		if d[2] != "" {
			labels = "`" + d[2] + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d[0], d[1], labels, d[3])
	}
	return b.String()
}

func (m *outputMetrics) held(delta int64) {
	m.eventsHeld.Set(m.heldNow.Add(delta))
}

// observeLimiter copies the limiter's state into gauges; called from one
// goroutine only.
func (m *outputMetrics) observeLimiter(s limiter.Stats) {
	m.trackedIDs.Set(int64(s.TrackedIDs))
	m.limitedIDs.Set(int64(s.RateLimited), limiter.Rate.String())
	m.limitedIDs.Set(int64(s.Paused), limiter.Paused.String())
	m.limitedIDs.Set(int64(s.OverQuota), limiter.DailyQuota.String())
	evicted := s.Evictions + s.CapEvictions
	m.evictions.Incr(int64(evicted - m.lastEvicted))
	m.lastEvicted = evicted
}
