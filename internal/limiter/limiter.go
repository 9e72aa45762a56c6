// Package limiter decides, event by event, whether the amplitude output may send an event now
// without breaking Amplitude's per-id limits, and if not, until when to hold it. It does no I/O.
//
// Every event counts against its device_id and its user_id separately. For each id the limiter
// keeps:
//   - a GCRA rate limit: Rate events/s on average, up to Burst at once after a quiet spell;
//   - a pause, set from a 429 response with Pause;
//   - a count over the rolling 24 hours in UTC-hour buckets, as Amplitude counts, against
//     DailyQuota.
//
// An event is allowed only when both its ids are; then both are charged in one step, otherwise
// neither is. A refused event gets the reason and the time at which it can be allowed, so a
// busy id is held back on its own while every other id keeps flowing.
//
// # Memory
//
// An id whose state equals a new id's (bucket full, no pause, no event in the daily window) is
// forgotten. Ids are keyed by a seeded 64-bit hash of kind and id, never by the string. Each
// tracked id is one 24-byte slot in an open-addressing table that doubles at 3/4 full and
// halves below 1/4: 32 to 64 bytes per id while ids arrive, at most 96 while they leave
// (50 measured at a million ids). Hourly counts (about 140 bytes more) exist only for ids
// that sent DailyQuota/20 events within two days, and pauses only for ids a 429 named.
// Eviction is incremental: each decision examines two slots of each shard it touches, so no
// call ever scans a table.
//
// Two different ids share state only if their hashes collide: for n tracked ids the odds are
// about n²/2⁶⁵, 3 in 100 million for a million ids. Colliding ids are limited as one id (never
// faster than allowed) and the seed changes with every New, so no collision persists or can be
// aimed for.
//
// At MaxTrackedIDs, a new id takes the slot of the id, among a few next to the sweep position,
// whose state would expire soonest; that id's limits start again from new. No event is ever
// refused for capacity, memory never grows past the cap, and the cost is accuracy: a forgotten
// id may get a 429 (which pauses it) or pass its daily quota by what was counted (which
// Amplitude then reports). Stats.CapEvictions counts these; a steady rise means the cap is too
// low.
package limiter

import (
	"errors"
	"hash/maphash"
	"math"
	"time"
)

// Kind says which of an event's ids a limit or a pause applies to.
type Kind uint8

const (
	Device Kind = iota // an Amplitude device_id
	User               // an Amplitude user_id
)

// String returns "device" or "user".
func (k Kind) String() string {
	if k == User {
		return "user"
	}
	return "device"
}

// Reason says why an event may not be sent yet. Later constants are graver: of two limits
// that clear at the same time, the graver one is reported.
type Reason uint8

const (
	None       Reason = iota // the event is allowed
	Rate                     // the id has used its rate budget
	Paused                   // a 429 response paused the id
	DailyQuota               // the id has sent DailyQuota events in the rolling 24 hours
)

// String returns the reason as a metric label: "", "rate", "paused" or "daily_quota".
func (r Reason) String() string {
	return [...]string{"", "rate", "paused", "daily_quota"}[r]
}

// Config sets the limits applied to every device_id and every user_id. The amplitude output
// takes its defaults from Amplitude's limits table (ampapi.Limits).
type Config struct {
	// PausesOnly turns off the rate and the daily quota: only pauses set with Pause hold
	// events back, and ids that were never paused hold no state. Rate, Burst and DailyQuota
	// are then ignored.
	PausesOnly    bool
	Rate          float64 // events per second per id, sustained
	Burst         int     // events an id that has been quiet may send at once (at least 1)
	DailyQuota    int64   // events per id per rolling 24 hours; 0 or negative turns it off
	MaxTrackedIDs int     // hard cap on ids holding state: 1/256 of it per shard, rounded up, at least 2
}

// Limiter holds the per-id state. It is safe for concurrent use.
type Limiter struct {
	pausesOnly bool
	interval   int64  // GCRA emission interval 1/Rate in ns, rounded up so never faster than Rate
	tolerance  int64  // GCRA burst tolerance (Burst-1)·interval in ns
	quota      int64  // 0 when the daily quota is off
	promoteAt  uint32 // compact daily count at which an id gets exact hourly counts
	shardCap   int

	// Times are nanoseconds since 1970, measured as an offset from epoch so that callers passing
	// time.Now() get the monotonic clock: a wall-clock step cannot pause everyone.
	epoch   time.Time
	epochNs int64

	seeds  [2]maphash.Seed // one per Kind: a device and a user with the same id are distinct
	shards [numShards]shard
}

// New returns a Limiter enforcing cfg.
func New(cfg Config) (*Limiter, error) {
	if cfg.PausesOnly {
		cfg.Rate, cfg.Burst, cfg.DailyQuota = 1, 1, 0 // placeholders that pass the checks; unused
	}
	switch {
	case !(cfg.Rate > 0 && cfg.Rate <= 1e9):
		return nil, errors.New("limiter: rate must be above 0 and at most 1e9 events/s")
	case cfg.Burst < 1:
		return nil, errors.New("limiter: burst must be at least 1")
	case float64(cfg.Burst)/cfg.Rate > (24 * time.Hour).Seconds():
		return nil, errors.New("limiter: burst/rate, the time to refill a bucket, must be at most 24h")
	case cfg.DailyQuota > math.MaxUint32:
		return nil, errors.New("limiter: daily quota must be at most 4294967295")
	case cfg.MaxTrackedIDs < 1:
		return nil, errors.New("limiter: max tracked ids must be at least 1")
	}
	interval := int64(math.Ceil(1e9 / cfg.Rate))
	now := time.Now()
	l := &Limiter{
		pausesOnly: cfg.PausesOnly,
		interval:   interval,
		tolerance:  int64(cfg.Burst-1) * interval,
		quota:      max(cfg.DailyQuota, 0),
		// Below DailyQuota/20 events the compact count cannot matter; the hourly counts it then
		// turns into may run up to 5% high for a day, never low.
		promoteAt: uint32(max(cfg.DailyQuota/20, 1)),
		// Two per shard at least, so that an event's two ids always fit together.
		shardCap: max((cfg.MaxTrackedIDs+numShards-1)/numShards, 2),
		epoch:    now,
		epochNs:  now.UnixNano(),
		seeds:    [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	}
	for i := range l.shards {
		l.shards[i].init()
	}
	return l, nil
}

// Decision is the answer to Schedule.
type Decision struct {
	Allowed bool      // the event may go at At: both ids have been charged for that time
	At      time.Time // when allowed: the time to send the event, now or later
	Reason  Reason    // why not, when not allowed
	RetryAt time.Time // when not allowed: the earliest time the event can be allowed
	Kind    Kind      // when not allowed: the id that holds the event back
}

// Schedule finds the earliest time from now at which an event with these ids may be sent, and
// charges it to both ids at that time, so that the next event of either id is planned after
// it. The caller holds the event until Decision.At. Either id may be empty, and then only the
// other counts; an event with neither is always allowed at once.
//
// Schedule refuses, charging nothing, when that time would be after deadline, or at once when
// the daily quota holds the event and failOverQuota is set. A refusal names the limit that
// clears last: at RetryAt every limit known now has cleared, unless other events of the same
// ids use the budget first. With deadline = now, Schedule is a plain "may it go now?".
func (l *Limiter) Schedule(now time.Time, deviceID, userID string, deadline time.Time, failOverQuota bool) Decision {
	t, last := l.ns(now), l.ns(deadline)
	dev, usr := l.ref(Device, deviceID), l.ref(User, userID)
	lockPair(dev, usr)
	defer unlockPair(dev, usr)

	l.sweep(dev.s, t)
	if usr.s != dev.s {
		l.sweep(usr.s, t)
	}
	// Each pass moves at to the end of a limit, strictly later, so this ends within a few
	// passes: a rate, a pause and a quota can each hold the event once.
	at := t
	for {
		b := l.blockRef(dev, at)
		if u := l.blockRef(usr, at); u.clearsAfter(b) {
			b = u
		}
		if b.reason == None {
			break
		}
		if b.until > last || b.reason == DailyQuota && failOverQuota {
			return Decision{Reason: b.reason, RetryAt: now.Add(time.Duration(b.until - t)), Kind: b.kind}
		}
		at = b.until
		if b.reason == DailyQuota {
			// Charged at the hour the quota frees, the id's next events could still be allowed
			// up to the burst tolerance earlier, in the hour that is full; starting the burst
			// that much later keeps them all inside the new hour.
			at += l.tolerance
		}
	}
	l.charge(dev, t, at, usr.key)
	l.charge(usr, t, at, dev.key)
	return Decision{Allowed: true, At: now.Add(time.Duration(at - t))}
}

// Pause holds every event of this id until the given time, as a 429 response asks. Overlapping
// pauses keep the later end. Pausing an empty id, or until a time not after now, does nothing.
func (l *Limiter) Pause(now time.Time, kind Kind, id string, until time.Time) {
	if id == "" || !until.After(now) {
		return
	}
	t, u := l.ns(now), l.ns(until)
	r := l.ref(kind, id)
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	l.slotFor(r.s, r.key, t, 0) // a pause is state like any other: it counts against the cap
	if u > r.s.paused[r.key] {
		r.s.paused[r.key] = u
	}
}

// Stats reports the limiter's gauges and counters for metrics.
type Stats struct {
	TrackedIDs   int    // ids holding state
	RateLimited  int    // tracked ids whose next event would be refused with Rate
	Paused       int    // tracked ids whose next event would be refused with Paused
	OverQuota    int    // tracked ids whose next event would be refused with DailyQuota
	Evictions    uint64 // ids forgotten since New because their state had expired
	CapEvictions uint64 // ids forgotten since New at the cap while their state still mattered
}

// Stats returns the current figures. It visits every tracked id, locking one shard at a time
// (about 20 ms per million ids), so call it at metrics cadence, not per event.
func (l *Limiter) Stats(now time.Time) Stats {
	t := l.ns(now)
	var st Stats
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		st.TrackedIDs += s.n
		st.Evictions += s.evictions
		st.CapEvictions += s.capEvictions
		for _, sl := range s.slots {
			if sl.key == 0 {
				continue
			}
			switch l.block(s, sl.key, sl.entry, t).reason {
			case Rate:
				st.RateLimited++
			case Paused:
				st.Paused++
			case DailyQuota:
				st.OverQuota++
			}
		}
		s.mu.Unlock()
	}
	return st
}

// ns converts a caller's time to the limiter's nanoseconds. Times before 1970 count as 1970.
func (l *Limiter) ns(t time.Time) int64 {
	return max(l.epochNs+int64(t.Sub(l.epoch)), 0)
}

// ref locates the state of one id; the zero ref stands for an empty id.
type ref struct {
	s    *shard
	key  uint64
	kind Kind
}

func (l *Limiter) ref(kind Kind, id string) ref {
	if id == "" {
		return ref{}
	}
	key := maphash.String(l.seeds[kind], id)
	if key == 0 { // 0 marks an empty slot
		key = 1
	}
	return ref{s: &l.shards[key>>shardShift], key: key, kind: kind}
}

// lockPair locks the shards of a and b, each once, in index order so that pairs never deadlock.
func lockPair(a, b ref) {
	if a.s != nil && b.s != nil && a.key>>shardShift > b.key>>shardShift {
		a, b = b, a
	}
	if a.s != nil {
		a.s.mu.Lock()
	}
	if b.s != nil && b.s != a.s {
		b.s.mu.Lock()
	}
}

func unlockPair(a, b ref) {
	if a.s != nil {
		a.s.mu.Unlock()
	}
	if b.s != nil && b.s != a.s {
		b.s.mu.Unlock()
	}
}

// block is what holds one id back: reason None, or a limit that clears at until.
type block struct {
	reason Reason
	until  int64
	kind   Kind
}

// clearsAfter reports whether b lasts longer than c, or as long and for a graver reason.
func (b block) clearsAfter(c block) bool {
	return b.until > c.until || b.until == c.until && b.reason > c.reason
}

func (l *Limiter) blockRef(r ref, t int64) block {
	if r.s == nil {
		return block{}
	}
	b := l.block(r.s, r.key, r.s.get(r.key), t)
	b.kind = r.kind
	return b
}

// block returns the limit that holds the id back at t, the one that clears last if several do.
// It changes nothing, so Schedule can ask about times still to come.
func (l *Limiter) block(s *shard, key uint64, e entry, t int64) block {
	var b block
	// GCRA: an event at t conforms while the theoretical arrival time is at most tolerance ahead.
	if tat := max(e.tat, t); !l.pausesOnly && tat-t > l.tolerance {
		b = block{reason: Rate, until: tat - l.tolerance}
	}
	if u := s.paused[key]; u > t {
		if p := (block{reason: Paused, until: u}); p.clearsAfter(b) {
			b = p
		}
	}
	// A compact count stays below promoteAt <= quota, so only hourly counts can reach the quota.
	if ring := s.rings[key]; ring != nil {
		window := *ring
		if window.advance(t / hourNs); int64(window.total) >= l.quota {
			if q := (block{reason: DailyQuota, until: window.releaseAt(l.quota)}); q.clearsAfter(b) {
				b = q
			}
		}
	}
	return b
}

// charge counts one event sent at `at` (now, or later when scheduled) against r, creating its
// state at now if needed without evicting keep, the event's other id.
func (l *Limiter) charge(r ref, now, at int64, keep uint64) {
	if r.s == nil || l.pausesOnly {
		return
	}
	e := l.slotFor(r.s, r.key, now, keep)
	if l.quota > 0 {
		l.countDaily(r.s, r.key, e, at) // before the GCRA update: it reads the last event's time
	}
	e.tat = max(e.tat, at) + l.interval
}

// freeAt returns when an id's state will equal a new id's: its bucket full, its pause over and,
// with a quota, the hour of its last event out of the 24-hour window. The last event happened
// at or before tat-interval, whether its counts are compact or hourly.
func (l *Limiter) freeAt(s *shard, sl *slot) int64 {
	at := max(sl.tat, s.paused[sl.key])
	if l.quota > 0 && sl.tat > 0 {
		at = max(at, ((sl.tat-l.interval)/hourNs+24)*hourNs)
	}
	return at
}
