package amplitude

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
)

// outputMetrics are the output's counters and gauges; names are documented
// in README.md.
type outputMetrics struct {
	eventsSent     *service.MetricCounter
	eventsFailed   *service.MetricCounter // reason
	requests       *service.MetricCounter // status: HTTP code, or "error" without an answer
	requestBytes   *service.MetricCounter
	requestEvents  *service.MetricCounter
	requestLatency *service.MetricTimer
	retries        *service.MetricCounter // reason
	throttledIDs   *service.MetricCounter // kind
	configFault    *service.MetricGauge

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
		eventsSent:     m.NewCounter("amplitude_events_sent"),
		eventsFailed:   m.NewCounter("amplitude_events_failed", "reason"),
		requests:       m.NewCounter("amplitude_requests", "status"),
		requestBytes:   m.NewCounter("amplitude_request_bytes"),
		requestEvents:  m.NewCounter("amplitude_request_events"),
		requestLatency: m.NewTimer("amplitude_request_latency_ns"),
		retries:        m.NewCounter("amplitude_retries", "reason"),
		throttledIDs:   m.NewCounter("amplitude_throttled_ids", "kind"),
		configFault:    m.NewGauge("amplitude_config_fault"),
		eventsHeld:     m.NewGauge("amplitude_events_held"),
		holdTime:       m.NewTimer("amplitude_hold_time_ns"),
		limitedIDs:     m.NewGauge("amplitude_limited_ids", "reason"),
		trackedIDs:     m.NewGauge("amplitude_tracked_ids"),
		evictions:      m.NewCounter("amplitude_limiter_evictions"),
	}
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

// intervalLog logs a recurring condition at most once per interval, with
// what accumulated in between, so a flood of 429s or a bad key cannot flood
// the logs.
type intervalLog struct {
	interval time.Duration
	log      func(count int, samples string)

	mu      sync.Mutex
	last    time.Time
	count   int
	samples []string
}

const maxLoggedSamples = 10

func (l *intervalLog) note(now time.Time, samples ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count += len(samples)
	for _, s := range samples {
		if len(l.samples) < maxLoggedSamples && !slices.Contains(l.samples, s) {
			l.samples = append(l.samples, s)
		}
	}
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		return
	}
	l.last = now
	l.log(l.count, strings.Join(l.samples, ", "))
	l.count, l.samples = 0, l.samples[:0]
}
