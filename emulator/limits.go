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
	row   int32 // in the limiter's windows, set by check: add needs no second lookup
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
	counts  *windowSet
	windows map[string]int // eps window by endpoint name
	daily   int            // the daily window; -1 when the daily quota is disabled
	quota   int64
}

func newLimiter(routes map[string]endpoint, dailyQuota int) *limiter {
	l := &limiter{windows: make(map[string]int, len(routes)), daily: -1}
	var lengths []time.Duration
	var slots []int
	for _, ep := range routes {
		l.windows[ep.name] = len(lengths)
		lengths, slots = append(lengths, ep.window), append(slots, rateSlots)
	}
	if dailyQuota > 0 {
		l.daily = len(lengths)
		lengths, slots = append(lengths, 24*time.Hour), append(slots, dailySlots)
		l.quota = int64(dailyQuota)
	}
	l.counts = newWindowSet(lengths, slots)
	return l
}

// check returns the ids of a request that would go over their eps limit on ep, and
// those that would go over their daily quota. It changes no count, but notes each
// id's row for add.
func (l *limiter) check(ep endpoint, ids []idCount, now time.Time) (throttled, exceeded []idUsage) {
	window := l.windows[ep.name]
	seconds := ep.window.Seconds()
	allowed := ep.eps * seconds
	for i := range ids {
		id := &ids[i]
		id.row = l.counts.row(id.key, now)
		if n := l.counts.count(id.row, window, now) + id.count; float64(n) > allowed {
			throttled = append(throttled, idUsage{*id, float64(n) / seconds})
		}
		if l.daily < 0 {
			continue
		}
		if n := l.counts.count(id.row, l.daily, now) + id.count; n > l.quota {
			exceeded = append(exceeded, idUsage{*id, float64(n)})
		}
	}
	return throttled, exceeded
}

// add counts an accepted request's events against its ids, as check left them.
func (l *limiter) add(ep endpoint, ids []idCount, now time.Time) {
	window := l.windows[ep.name]
	for _, id := range ids {
		row := l.counts.add(id.key, id.row, window, id.count, now)
		if l.daily >= 0 {
			l.counts.add(id.key, row, l.daily, id.count, now)
		}
	}
}
