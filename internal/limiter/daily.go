package limiter

import "time"

const (
	hourNs = int64(time.Hour)
	dayNs  = 24 * hourNs
)

// countDaily counts one event at t against key, whose state is e. Most ids only ever have the
// compact count in e; once it reaches promoteAt the id gets hourly counts, which alone can
// reach the quota.
func (l *Limiter) countDaily(s *shard, key uint64, e *entry, t int64) {
	if ring := s.rings[key]; ring != nil {
		ring.add(t / hourNs)
		return
	}
	// The compact count holds events on the UTC day of the id's last event (cur) and on the day
	// before (prev): together they cover any 24 hours ending now. e.tat-interval is at or after
	// the last event, so the day it falls on errs late, which over-counts: safe.
	switch last, today := (e.tat-l.interval)/dayNs, t/dayNs; {
	case today > last+1:
		e.prev, e.cur = 0, 1
	case today == last+1:
		e.prev, e.cur = e.cur, 1
	default:
		e.cur++
	}
	if n := e.prev + e.cur; n >= l.promoteAt {
		// Nothing tells when these events happened: file them all under this hour, the latest
		// possible, so they are counted too long rather than too short.
		ring := &hourRing{newest: t / hourNs, total: n}
		ring.counts[ring.newest%24] = n
		s.rings[key] = ring
		e.prev, e.cur = 0, 0
	}
}

// hourRing counts one id's events per UTC hour over the last 24 hours, as Amplitude does.
type hourRing struct {
	newest int64      // the window's last hour (ns since 1970 / 1h)
	total  uint32     // the sum of counts
	counts [24]uint32 // counts[h%24] holds hour h, for newest-23 <= h <= newest
}

// advance moves the window to end with hour h: hour x's events leave when hour x+24 starts.
// A clock that stepped back moves nothing.
func (r *hourRing) advance(h int64) {
	for x := max(r.newest+1, h-23); x <= h; x++ {
		r.total -= r.counts[x%24]
		r.counts[x%24] = 0
	}
	r.newest = max(r.newest, h)
}

// add counts one event in hour h, or in the newest hour if h is earlier: later is safe.
func (r *hourRing) add(h int64) {
	r.advance(h)
	r.counts[r.newest%24]++
	r.total++
}

// releaseAt returns the start of the first hour in which fewer than quota events are counted.
func (r *hourRing) releaseAt(quota int64) int64 {
	n := int64(r.total)
	for x := r.newest - 23; x < r.newest; x++ {
		if n -= int64(r.counts[x%24]); n < quota {
			return (x + 24) * hourNs
		}
	}
	return (r.newest + 24) * hourNs
}
