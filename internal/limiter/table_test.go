package limiter

import (
	"fmt"
	"testing"
	"time"
)

// sweepLap runs the incremental sweep over every slot of every shard, as enough traffic would.
func sweepLap(l *Limiter, now time.Time) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for range len(s.slots) {
			l.sweep(s, l.ns(now))
		}
		s.mu.Unlock()
	}
}

func tracked(l *Limiter) int { return l.Stats(t0).TrackedIDs }

func TestIdleIDsAreForgotten(t *testing.T) {
	t.Run("without a quota, an id is forgotten once its bucket is full again", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 10, Burst: 5})
		sendN(l, t0, "d", 3) // full again 3 × 100 ms later
		sweepLap(l, t0.Add(300*time.Millisecond-1))
		if tracked(l) != 1 {
			t.Fatal("forgotten while its bucket was still refilling")
		}
		sweepLap(l, t0.Add(300*time.Millisecond))
		if st := l.Stats(t0); st.TrackedIDs != 0 || st.Evictions != 1 {
			t.Fatalf("got %+v, want the id evicted", st)
		}
	})

	t.Run("a daily count keeps an id until the hour of its last event leaves the window", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 10, Burst: 5, DailyQuota: 100})
		sendN(l, t0, "d", 1) // 10:30, counted in the 10:00 hour
		nextDay10 := time.Date(2025, 3, 11, 10, 0, 0, 0, time.UTC)
		sweepLap(l, nextDay10.Add(-1))
		if tracked(l) != 1 {
			t.Fatal("forgotten while its event was in the window")
		}
		sweepLap(l, nextDay10)
		if tracked(l) != 0 {
			t.Fatal("kept after its event left the window")
		}
	})

	t.Run("an id with hourly counts is forgotten when they have all left the window", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 10, Burst: 5, DailyQuota: 1})
		sendN(l, t0, "d", 1)
		sweepLap(l, t0.Add(23*time.Hour))
		if tracked(l) != 1 {
			t.Fatal("forgotten while at its quota")
		}
		sweepLap(l, t0.Add(24*time.Hour))
		if tracked(l) != 0 || len(l.shards[l.ref(Device, "d").key>>shardShift].rings) != 0 {
			t.Fatal("kept, or its hourly counts kept, after they left the window")
		}
	})

	t.Run("a paused id is kept until its pause ends", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 10, Burst: 5})
		l.Pause(t0, User, "u", t0.Add(30*time.Second))
		sweepLap(l, t0.Add(30*time.Second-1))
		if tracked(l) != 1 {
			t.Fatal("forgotten while paused")
		}
		sweepLap(l, t0.Add(30*time.Second))
		if tracked(l) != 0 {
			t.Fatal("kept after its pause ended")
		}
	})

	t.Run("ids seen once do not pile up: each decision sweeps a little", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 25, Burst: 3}) // an id is idle 40 ms after its event
		const ids = 100_000
		for i := range ids {
			reserve(l, t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("d%d", i), "")
		}
		st := l.Stats(t0.Add(ids * time.Millisecond))
		if st.TrackedIDs > 8*numShards || st.Evictions+uint64(st.TrackedIDs) != ids {
			t.Fatalf("got %+v: want a few ids per shard left of %d, the rest evicted", st, ids)
		}
	})
}

// idsInOneShard returns n ids of kind whose state lives in the same shard as first's.
func idsInOneShard(l *Limiter, kind Kind, first string, n int) []string {
	shard := l.ref(Device, first).key >> shardShift
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := fmt.Sprint(kind, i); l.ref(kind, id).key>>shardShift == shard {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestCap(t *testing.T) {
	// MaxTrackedIDs 1 still allows 2 ids per shard, so an event's two ids always fit.
	cfg := Config{Rate: 1, Burst: 1, MaxTrackedIDs: 1}

	t.Run("a new id takes the place of the id whose state expires soonest; nothing is refused", func(t *testing.T) {
		l := newLimiter(t, cfg)
		ids := idsInOneShard(l, Device, "anchor", 3)
		allowed(t, reserve(l, t0, ids[0], ""))                           // limited until t0+1s
		allowed(t, reserve(l, t0.Add(500*time.Millisecond), ids[1], "")) // limited until t0+1.5s
		allowed(t, reserve(l, t0.Add(600*time.Millisecond), ids[2], ""))
		if st := l.Stats(t0); st.TrackedIDs != 2 || st.CapEvictions != 1 {
			t.Fatalf("got %+v, want 2 ids tracked and 1 evicted at the cap", st)
		}
		refused(t, reserve(l, t0.Add(700*time.Millisecond), ids[1], ""), Rate, Device, t0.Add(1500*time.Millisecond))
		allowed(t, reserve(l, t0.Add(700*time.Millisecond), ids[0], "")) // forgotten: starts as new
	})

	t.Run("an event's two ids never push each other out", func(t *testing.T) {
		l := newLimiter(t, cfg)
		devices := idsInOneShard(l, Device, "anchor", 3)
		user := idsInOneShard(l, User, "anchor", 1)[0]
		allowed(t, reserve(l, t0, devices[0], ""))
		l.Pause(t0, Device, devices[1], t0.Add(time.Hour)) // its state outlasts everyone else's
		allowed(t, reserve(l, t0, devices[2], user))
		refused(t, reserve(l, t0, devices[2], ""), Rate, Device, t0.Add(time.Second))
		refused(t, reserve(l, t0, "", user), Rate, User, t0.Add(time.Second))
		allowed(t, reserve(l, t0, devices[1], "")) // it made room, so its pause is forgotten
	})

	t.Run("tracked ids never exceed the cap, rounded up to a multiple of the shard count", func(t *testing.T) {
		l := newLimiter(t, Config{Rate: 1, Burst: 1, DailyQuota: 500_000, MaxTrackedIDs: 1000})
		for i := range 20_000 {
			allowed(t, reserve(l, t0, fmt.Sprint("d", i), ""))
		}
		if st := l.Stats(t0); st.TrackedIDs > 1024 || st.CapEvictions != uint64(20_000-st.TrackedIDs) {
			t.Fatalf("got %+v, want at most 1024 tracked and the rest evicted at the cap", st)
		}
	})
}
