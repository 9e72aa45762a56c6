package emulator

import "time"

// Amplitude counts daily quotas in one-hour buckets over a rolling 24 hours; the short
// eps windows are cut into rateSlots slots, so they slide in steps of window/rateSlots.
const (
	rateSlots  = 10
	dailySlots = 24
)

// idCount is one device_id or user_id of a request and the number of its events.
type idCount struct {
	key   uint64 // hashed id, see idHasher
	user  bool   // a user_id, else a device_id
	id    string // the id itself, for the response
	count int64
}

// idUsage is an id over a limit and the figure Amplitude reports for it: events per
// second for a throttled id, events in the last 24 h for one over its daily quota.
type idUsage struct {
	idCount
	value float64
}

// limiter holds the per-id counts behind Amplitude's eps limits (one window per
// endpoint, as Amplitude limits each API separately) and the daily quota (shared).
type limiter struct {
	windows map[string]*slidingCounter // by endpoint name
	daily   *slidingCounter            // nil when the daily quota is disabled
	quota   int64
}

func newLimiter(routes map[string]endpoint, dailyQuota int) *limiter {
	l := &limiter{windows: make(map[string]*slidingCounter, len(routes))}
	for _, ep := range routes {
		l.windows[ep.name] = newSlidingCounter(ep.window, rateSlots)
	}
	if dailyQuota > 0 {
		l.daily = newSlidingCounter(24*time.Hour, dailySlots)
		l.quota = int64(dailyQuota)
	}
	return l
}

// check returns the ids of a request that would go over their eps limit on ep, and
// those that would go over their daily quota. It changes no count.
func (l *limiter) check(ep endpoint, ids []idCount, now time.Time) (throttled, exceeded []idUsage) {
	window := l.windows[ep.name]
	seconds := ep.window.Seconds()
	allowed := ep.eps * seconds
	for _, id := range ids {
		if n := window.count(id.key, now) + id.count; float64(n) > allowed {
			throttled = append(throttled, idUsage{id, float64(n) / seconds})
		}
		if l.daily == nil {
			continue
		}
		if n := l.daily.count(id.key, now) + id.count; n > l.quota {
			exceeded = append(exceeded, idUsage{id, float64(n)})
		}
	}
	return throttled, exceeded
}

// add counts an accepted request's events against its ids.
func (l *limiter) add(ep endpoint, ids []idCount, now time.Time) {
	window := l.windows[ep.name]
	for _, id := range ids {
		window.add(id.key, id.count, now)
		if l.daily != nil {
			l.daily.add(id.key, id.count, now)
		}
	}
}
