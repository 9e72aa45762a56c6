package limiter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

// t0 is a Monday, 10:30 UTC.
var t0 = time.Date(2025, 3, 10, 10, 30, 0, 0, time.UTC)

func newLimiter(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	if cfg.MaxTrackedIDs == 0 {
		cfg.MaxTrackedIDs = 1_000_000
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// reserve asks whether an event may go at now, with no time to wait: Schedule with its
// deadline at now, as the limiter's arithmetic is easiest to state.
func reserve(l *Limiter, now time.Time, deviceID, userID string) Decision {
	return l.Schedule(now, deviceID, userID, now, true)
}

// refused asserts that d refuses the event for reason, blamed on kind, until retryAt.
func refused(t *testing.T, d Decision, reason Reason, kind Kind, retryAt time.Time) {
	t.Helper()
	if d.Allowed || d.Reason != reason || d.Kind != kind || !d.RetryAt.Equal(retryAt) {
		t.Fatalf("got %+v, want refused for %v by the %v until %v", d, reason, kind, retryAt)
	}
}

func allowed(t *testing.T, d Decision) {
	t.Helper()
	if !d.Allowed {
		t.Fatalf("got %+v, want allowed", d)
	}
}

// sendN reserves n events of device id at the same instant and returns how many were allowed.
func sendN(l *Limiter, at time.Time, id string, n int) int {
	ok := 0
	for range n {
		if reserve(l, at, id, "").Allowed {
			ok++
		}
	}
	return ok
}

func TestRate(t *testing.T) {
	type step struct {
		at    time.Duration // since t0
		ok    bool
		retry time.Duration // since t0, when refused
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"a quiet id may send Burst events at once, then waits one emission interval", 10, 3, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, 100 * time.Millisecond},
			{100 * time.Millisecond, true, 0},
			{100 * time.Millisecond, false, 200 * time.Millisecond},
		}},
		{"events one emission interval (1/Rate) apart are all allowed", 25, 1, []step{
			{0, true, 0}, {40 * time.Millisecond, true, 0}, {80 * time.Millisecond, true, 0},
			{119 * time.Millisecond, false, 120 * time.Millisecond},
			{120 * time.Millisecond, true, 0},
		}},
		{"budget builds up while quiet, to Burst and no further", 10, 2, []step{
			{0, true, 0}, {0, true, 0},
			{10 * time.Second, true, 0}, {10 * time.Second, true, 0},
			{10 * time.Second, false, 10*time.Second + 100*time.Millisecond},
		}},
		{"a refused event uses no budget", 10, 1, []step{
			{0, true, 0},
			{50 * time.Millisecond, false, 100 * time.Millisecond},
			{60 * time.Millisecond, false, 100 * time.Millisecond},
			{100 * time.Millisecond, true, 0},
		}},
		{"the emission interval rounds up: never faster than Rate", 3, 1, []step{
			{0, true, 0},
			{333_333_333, false, 333_333_334},
			{333_333_334, true, 0},
		}},
		{"a call stamped earlier than the last one gets no extra budget", 10, 1, []step{
			{time.Second, true, 0},
			{0, false, 1100 * time.Millisecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, Config{Rate: tt.rate, Burst: tt.burst})
			for i, s := range tt.steps {
				d := reserve(l, t0.Add(s.at), "device-1", "")
				if s.ok != d.Allowed || !s.ok && !(d.Reason == Rate && d.RetryAt.Equal(t0.Add(s.retry))) {
					t.Fatalf("step %d at %v: got %+v, want allowed=%v retry at %v", i, s.at, d, s.ok, s.retry)
				}
			}
		})
	}
}

// maxInWindow returns the most events of times (sorted) that fall in one closed window of width w.
func maxInWindow(times []time.Time, w time.Duration) int {
	most, first := 0, 0
	for last, t := range times {
		for t.Sub(times[first]) > w {
			first++
		}
		most = max(most, last-first+1)
	}
	return most
}

// defaultPace is the amplitude output's default limiter config for an API.
func defaultPace(kind ampapi.Kind) Config {
	l := kind.Limits()
	return Config{Rate: l.SendRate, Burst: l.SendBurst, DailyQuota: int64(l.DailyQuota), MaxTrackedIDs: 1_000_000}
}

func TestDefaultsStayUnderAmplitudeWindows(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		window time.Duration
		most   int // what the limiter may let through; Amplitude allows 30 per 1 s, 30,000 per 30 s
		run    time.Duration
	}{
		{"HTTP V2: at most 28 events in any 1 s", defaultPace(ampapi.HTTPV2), time.Second, 28, 20 * time.Second},
		{"Batch: at most 28,000 events in any 30 s", defaultPace(ampapi.Batch), 30 * time.Second, 28_000, 100 * time.Second},
	}
	for _, tt := range tests {
		senders := map[string]func(rng *rand.Rand, d Decision, now time.Time) time.Time{
			"a greedy sender that retries exactly at RetryAt": func(_ *rand.Rand, d Decision, now time.Time) time.Time {
				if d.Allowed {
					return now
				}
				return d.RetryAt
			},
			"a sender at random times, twice as often as Rate on average, with quiet spells": func(rng *rand.Rand, _ Decision, now time.Time) time.Time {
				interval := int64(float64(time.Second) / tt.cfg.Rate)
				if rng.IntN(4*tt.cfg.Burst) == 0 { // long enough to refill the bucket, at times
					return now.Add(time.Duration(rng.Int64N(2 * int64(tt.cfg.Burst) * interval)))
				}
				return now.Add(time.Duration(rng.Int64N(interval)))
			},
		}
		for sender, next := range senders {
			t.Run(tt.name+"/"+sender, func(t *testing.T) {
				l := newLimiter(t, tt.cfg)
				rng := rand.New(rand.NewPCG(1, 2))
				var sent []time.Time
				for now := t0; now.Before(t0.Add(tt.run)); {
					d := reserve(l, now, "device-1", "user-1")
					if d.Allowed {
						sent = append(sent, now)
					}
					now = next(rng, d, now)
				}
				if got := maxInWindow(sent, tt.window); got > tt.most {
					t.Fatalf("%d events in one %v window, want at most %d", got, tt.window, tt.most)
				}
			})
		}
	}
}

func TestBothIDs(t *testing.T) {
	cfg := Config{Rate: 1, Burst: 2}

	t.Run("an event with one id counts against that id alone", func(t *testing.T) {
		l := newLimiter(t, cfg)
		allowed(t, reserve(l, t0, "d", ""))
		allowed(t, reserve(l, t0, "d", ""))
		refused(t, reserve(l, t0, "d", ""), Rate, Device, t0.Add(time.Second))
		allowed(t, reserve(l, t0, "", "u"))
		allowed(t, reserve(l, t0, "", "u"))
		refused(t, reserve(l, t0, "", "u"), Rate, User, t0.Add(time.Second))
	})

	t.Run("an event with neither id is always allowed", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 1, Burst: 1})
		for range 10 {
			allowed(t, reserve(l, t0, "", ""))
		}
	})

	t.Run("a device and a user with the same text are different ids", func(t *testing.T) {
		l := newLimiter(t, cfg)
		sendN(l, t0, "same", 2)
		allowed(t, reserve(l, t0, "", "same"))
	})

	t.Run("a device with budget and a user without: refused, nothing charged", func(t *testing.T) {
		l := newLimiter(t, cfg)
		allowed(t, reserve(l, t0, "d1", "u"))
		allowed(t, reserve(l, t0, "d1", "u"))
		refused(t, reserve(l, t0, "d2", "u"), Rate, User, t0.Add(time.Second))
		if got := sendN(l, t0, "d2", 3); got != 2 {
			t.Fatalf("d2 sent %d of 3 alone, want its whole burst of 2", got)
		}
	})

	t.Run("a user with budget and a device without: refused, nothing charged", func(t *testing.T) {
		l := newLimiter(t, cfg)
		sendN(l, t0, "d", 2)
		refused(t, reserve(l, t0, "d", "u"), Rate, Device, t0.Add(time.Second))
		allowed(t, reserve(l, t0, "", "u"))
		allowed(t, reserve(l, t0, "", "u"))
	})
}

// scheduledAt asserts that d allows the event at the given time.
func scheduledAt(t *testing.T, d Decision, at time.Time) {
	t.Helper()
	if !d.Allowed || !d.At.Equal(at) {
		t.Fatalf("got %+v, want allowed at %v", d, at)
	}
}

func TestSchedule(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	hold := ms(10_000)

	t.Run("events past the burst are spaced at the rate, each after the one before", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 10, Burst: 2})
		for _, want := range []int{0, 0, 100, 200, 300} {
			scheduledAt(t, l.Schedule(t0, "d", "", hold, true), ms(want))
		}
		refused(t, reserve(l, ms(150), "d", ""), Rate, Device, ms(400))
	})

	t.Run("an event that would wait past the deadline is refused and charges nothing", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 1, Burst: 1})
		scheduledAt(t, l.Schedule(t0, "d", "u", hold, true), t0)
		refused(t, l.Schedule(t0, "d", "u", ms(999), true), Rate, Device, ms(1000))
		scheduledAt(t, l.Schedule(t0, "d", "u", ms(1000), true), ms(1000))
	})

	t.Run("a paused id is scheduled when its pause ends", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 1, Burst: 1})
		l.Pause(t0, User, "u", ms(5000))
		scheduledAt(t, l.Schedule(t0, "d", "u", hold, true), ms(5000))
		scheduledAt(t, l.Schedule(t0, "d2", "u", hold, true), ms(6000))
		scheduledAt(t, l.Schedule(t0, "d", "", hold, true), ms(6000)) // d was charged at 5 s
	})

	t.Run("the limit that clears last decides, whichever id holds it", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 1, Burst: 1})
		l.Pause(t0, Device, "d", ms(1500))
		scheduledAt(t, l.Schedule(t0, "", "u", hold, true), t0)
		scheduledAt(t, l.Schedule(t0, "d", "u", hold, true), ms(1500))
	})

	t.Run("a busy id is scheduled late while other ids go now", func(t *testing.T) {
		l := newLimiter(t, defaultPace(ampapi.HTTPV2))
		for range 300 { // 12 s of budget at 25/s
			l.Schedule(t0, "hot", "", t0.Add(time.Minute), true)
		}
		scheduledAt(t, l.Schedule(t0, "cold", "", hold, true), t0)
		if d := l.Schedule(t0, "hot", "", hold, true); d.Allowed {
			t.Fatalf("hot device scheduled at %v, after 300 events queued at 25/s it should be past the 10 s hold", d.At)
		}
	})

	t.Run("over the daily quota: refused at once, or scheduled just after the hour it frees", func(t *testing.T) {
		at := func(day, hour int) time.Time { return time.Date(2025, 3, 10+day, hour, 0, 0, 0, time.UTC) }
		cfg := Config{Rate: 10, Burst: 3, DailyQuota: 2}
		l := newLimiter(t, cfg)
		sendN(l, at(0, 10), "d", 2)
		now := at(1, 9).Add(59*time.Minute + 59*time.Second)
		refused(t, l.Schedule(now, "d", "", at(2, 0), true), DailyQuota, Device, at(1, 10))
		// The first starts its burst late by the tolerance (2 intervals), so the next, one
		// interval after the hour, is still inside it.
		scheduledAt(t, l.Schedule(now, "d", "", at(2, 0), false), at(1, 10).Add(200*time.Millisecond))
		scheduledAt(t, l.Schedule(now, "d", "", at(2, 0), false), at(1, 10).Add(100*time.Millisecond))
		refused(t, l.Schedule(now, "d", "", at(2, 0), false), DailyQuota, Device, at(2, 10))
	})
}

func TestPause(t *testing.T) {
	cfg := Config{Rate: 1, Burst: 1}
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

	t.Run("a paused id is refused until the pause ends, then allowed", func(t *testing.T) {
		l := newLimiter(t, cfg)
		l.Pause(t0, Device, "d", sec(30))
		refused(t, reserve(l, sec(1), "d", ""), Paused, Device, sec(30))
		refused(t, reserve(l, sec(30).Add(-1), "d", ""), Paused, Device, sec(30))
		allowed(t, reserve(l, sec(30), "d", ""))
	})

	t.Run("overlapping pauses keep the later end", func(t *testing.T) {
		l := newLimiter(t, cfg)
		l.Pause(t0, User, "u", sec(30))
		l.Pause(sec(1), User, "u", sec(10))
		refused(t, reserve(l, sec(20), "", "u"), Paused, User, sec(30))
		l.Pause(sec(20), User, "u", sec(60))
		refused(t, reserve(l, sec(40), "", "u"), Paused, User, sec(60))
	})

	t.Run("a pause holds only the id it names", func(t *testing.T) {
		l := newLimiter(t, cfg)
		l.Pause(t0, Device, "d", sec(30))
		allowed(t, reserve(l, sec(1), "other", "u"))
		allowed(t, reserve(l, sec(1), "", "d"))
		refused(t, reserve(l, sec(2), "d", "u2"), Paused, Device, sec(30))
		allowed(t, reserve(l, sec(2), "", "u2")) // not charged by the refused event
	})

	t.Run("a pause that has already ended does nothing", func(t *testing.T) {
		l := newLimiter(t, cfg)
		l.Pause(sec(10), Device, "d", sec(10))
		l.Pause(sec(10), Device, "", sec(20))
		allowed(t, reserve(l, sec(10), "d", ""))
		if st := l.Stats(sec(10)); st.TrackedIDs != 1 {
			t.Fatalf("tracked %d ids, want 1: a pause in the past is no state", st.TrackedIDs)
		}
	})

	t.Run("the limit that clears last is the one reported; on a tie, the graver", func(t *testing.T) {
		l := newLimiter(t, cfg)
		allowed(t, reserve(l, t0, "d", "u"))
		l.Pause(t0, Device, "d", sec(30))
		refused(t, reserve(l, t0, "d", "u"), Paused, Device, sec(30))
		l.Pause(t0, User, "u", sec(60))
		refused(t, reserve(l, t0, "d", "u"), Paused, User, sec(60))
		allowed(t, reserve(l, t0, "d2", ""))
		l.Pause(t0, Device, "d2", sec(1)) // ends when d2's rate limit does
		refused(t, reserve(l, t0, "d2", ""), Paused, Device, sec(1))
	})
}

func TestDailyQuota(t *testing.T) {
	at := func(day, hour, minute int) time.Time {
		return time.Date(2025, 3, 10+day, hour, minute, 0, 0, time.UTC)
	}
	quota := func(q int64) Config { return Config{Rate: 1000, Burst: 1000, DailyQuota: q} }

	t.Run("an id at its quota is refused until its oldest hour leaves the window", func(t *testing.T) {
		l := newLimiter(t, quota(10))
		sendN(l, at(0, 10, 30), "d", 4)
		sendN(l, at(0, 13, 15), "d", 6)
		refused(t, reserve(l, at(0, 14, 0), "d", ""), DailyQuota, Device, at(1, 10, 0))
		refused(t, reserve(l, at(1, 10, 0).Add(-1), "d", ""), DailyQuota, Device, at(1, 10, 0))
		if got := sendN(l, at(1, 10, 0), "d", 5); got != 4 {
			t.Fatalf("sent %d when the 10:00 hour left the window, want the 4 it held", got)
		}
		refused(t, reserve(l, at(1, 10, 0), "d", ""), DailyQuota, Device, at(1, 13, 0))
	})

	t.Run("counts leave the window hour by hour", func(t *testing.T) {
		l := newLimiter(t, quota(10))
		for h := range 10 {
			allowed(t, reserve(l, at(0, h, 5), "d", ""))
		}
		refused(t, reserve(l, at(0, 10, 0), "d", ""), DailyQuota, Device, at(1, 0, 0))
		for h := range 9 {
			allowed(t, reserve(l, at(1, h, 0), "d", ""))
			refused(t, reserve(l, at(1, h, 0), "d", ""), DailyQuota, Device, at(1, h+1, 0))
		}
		allowed(t, reserve(l, at(1, 9, 0), "d", ""))
		refused(t, reserve(l, at(1, 9, 0), "d", ""), DailyQuota, Device, at(2, 0, 0)) // all ten are today's now
	})

	t.Run("with a quota of 24, one event every hour passes for 30 days and a 25th never does", func(t *testing.T) {
		l := newLimiter(t, quota(24))
		for h := range 30 * 24 {
			hour := at(0, h, 0)
			allowed(t, reserve(l, hour, "d", ""))
			if h >= 23 {
				refused(t, reserve(l, hour.Add(59*time.Minute), "d", ""), DailyQuota, Device, hour.Add(time.Hour))
			}
		}
	})

	t.Run("a light id keeps a compact count for ever and is never refused", func(t *testing.T) {
		l := newLimiter(t, quota(2400)) // hourly counts from 2400/20 = 120 events in two days
		for h := range 30 * 24 {
			allowed(t, reserve(l, at(0, h, 0), "d", ""))
			allowed(t, reserve(l, at(0, h, 30), "d", ""))
		}
		for i := range l.shards {
			if n := len(l.shards[i].rings); n != 0 {
				t.Fatalf("%d ids got hourly counts after 96 events in every two days", n)
			}
		}
	})

	t.Run("a light id's first events are counted from the hour it gets hourly counts: late, never early", func(t *testing.T) {
		l := newLimiter(t, quota(100)) // hourly counts from 100/20 = 5 events
		sendN(l, at(0, 10, 30), "d", 4)
		sendN(l, at(0, 15, 30), "d", 1)
		sendN(l, at(0, 16, 0), "d", 95)
		refused(t, reserve(l, at(0, 16, 0), "d", ""), DailyQuota, Device, at(1, 15, 0))
	})

	t.Run("a quota of 0 or less never refuses", func(t *testing.T) {
		for _, q := range []int64{0, -1} {
			l := newLimiter(t, quota(q))
			for s := range 5 {
				if got := sendN(l, at(0, 10, s), "d", 1000); got != 1000 {
					t.Fatalf("quota %d: sent %d of 1000", q, got)
				}
			}
		}
	})

	t.Run("the quota applies to each id of an event", func(t *testing.T) {
		l := newLimiter(t, quota(2))
		allowed(t, reserve(l, at(0, 10, 30), "d1", "u"))
		allowed(t, reserve(l, at(0, 10, 30), "d1", "u"))
		refused(t, reserve(l, at(0, 11, 0), "d2", "u"), DailyQuota, User, at(1, 10, 0))
		if got := sendN(l, at(0, 11, 0), "d2", 3); got != 2 {
			t.Fatalf("d2 sent %d of 3 alone, want its whole quota of 2", got)
		}
	})
}

func TestStats(t *testing.T) {
	l := newLimiter(t, Config{Rate: 1, Burst: 1, DailyQuota: 2})
	reserve(l, t0.Add(-10*time.Second), "idle", "")
	reserve(l, t0.Add(-2*time.Second), "", "at-quota")
	reserve(l, t0.Add(-1*time.Second), "", "at-quota")
	reserve(l, t0, "busy", "")
	l.Pause(t0, Device, "paused", t0.Add(time.Minute))

	want := Stats{TrackedIDs: 4, RateLimited: 1, Paused: 1, OverQuota: 1}
	if got := l.Stats(t0); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestConcurrentCallsChargeBothIDsOrNeither(t *testing.T) {
	l := newLimiter(t, Config{Rate: 1, Burst: 2, DailyQuota: 500_000})
	const goroutines, calls = 8, 200
	device := func(g, i int) string { return fmt.Sprintf("d-%d-%d", g, i) }
	results := make([][calls]bool, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				results[g][i] = reserve(l, t0, device(g, i), "shared").Allowed
				l.Pause(t0, User, device(g, i), t0.Add(time.Minute))
				if i%50 == 0 {
					l.Stats(t0)
				}
			}
		})
	}
	wg.Wait()

	total := 0
	for g := range goroutines {
		for i, ok := range results[g] {
			left := 2 // a refused event charged no device
			if ok {
				total, left = total+1, 1
			}
			if got := sendN(l, t0, device(g, i), 3); got != left {
				t.Fatalf("device %s had %d events left, want %d", device(g, i), got, left)
			}
		}
	}
	if total != 2 {
		t.Fatalf("%d events allowed, want the shared user's burst of 2", total)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := defaultPace(ampapi.HTTPV2)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"zero rate", func(c *Config) { c.Rate = 0 }},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }},
		{"rate above 1e9/s", func(c *Config) { c.Rate = 2e9 }},
		{"zero burst", func(c *Config) { c.Burst = 0 }},
		{"burst taking over a day to refill", func(c *Config) { c.Rate, c.Burst = 1, 86_401 }},
		{"quota beyond 32 bits", func(c *Config) { c.DailyQuota = 1 << 32 }},
		{"no tracked ids", func(c *Config) { c.MaxTrackedIDs = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatalf("New(%+v) accepted it", cfg)
			}
		})
	}
	for _, cfg := range []Config{defaultPace(ampapi.HTTPV2), defaultPace(ampapi.Batch), {PausesOnly: true, MaxTrackedIDs: 1}} {
		if _, err := New(cfg); err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
	}
}

func TestLabels(t *testing.T) {
	got := []string{None.String(), Rate.String(), Paused.String(), DailyQuota.String(), Device.String(), User.String()}
	want := []string{"", "rate", "paused", "daily_quota", "device", "user"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPausesOnlyHoldsNothingButPausedIDs(t *testing.T) {
	l := newLimiter(t, Config{PausesOnly: true})
	if got := sendN(l, t0, "device-1", 100_000); got != 100_000 {
		t.Fatalf("%d of 100,000 events of one id at one instant allowed, want all", got)
	}
	if st := l.Stats(t0); st.TrackedIDs != 0 {
		t.Errorf("%d ids tracked without a pause, want 0", st.TrackedIDs)
	}
	l.Pause(t0, Device, "device-1", t0.Add(30*time.Second))
	refused(t, reserve(l, t0.Add(time.Second), "device-1", ""), Paused, Device, t0.Add(30*time.Second))
	scheduledAt(t, l.Schedule(t0.Add(time.Second), "device-1", "user-1", t0.Add(time.Minute), true), t0.Add(30*time.Second))
	allowed(t, reserve(l, t0.Add(30*time.Second), "device-1", ""))
	allowed(t, reserve(l, t0.Add(time.Second), "device-2", ""))
}
