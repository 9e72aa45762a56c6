package backfill

import (
	"context"
	"testing"
	"time"
)

func TestMeterRatesOverTheWindowAndTimeLeft(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := func(sec int, acked, read int64) Snapshot {
		return Snapshot{At: t0.Add(time.Duration(sec) * time.Second), EventsAcked: acked, BytesRead: read, BytesTotal: 10_000}
	}
	m := NewMeter(snap(0, 0, 0), 10*time.Second)
	if r := m.Rates(); r.Left != -1 || r.EventsPerSecond != 0 {
		t.Errorf("rates before any pace %+v, want time left unknown", r)
	}
	// A slow start, then 100 events and 100 bytes per second.
	m.Add(snap(10, 10, 10))
	for s := 11; s <= 30; s++ {
		m.Add(snap(s, 10+int64(s-10)*100, 10+int64(s-10)*100))
	}
	r := m.Rates()
	if r.EventsPerSecond != 100 || r.BytesPerSecond != 100 {
		t.Errorf("rates %+v, want 100 events and bytes per second (the window forgets the slow start)", r)
	}
	if want := time.Duration(10_000-2010) * time.Second / 100; r.Left != want.Round(time.Second) {
		t.Errorf("time left %s, want %s", r.Left, want)
	}
	if m.Elapsed() != 30*time.Second {
		t.Errorf("elapsed %s", m.Elapsed())
	}
	m.Add(Snapshot{At: t0.Add(31 * time.Second), BytesRead: 10_000, BytesTotal: 10_000, EventsAcked: 3000})
	if r := m.Rates(); r.Left != 0 {
		t.Errorf("time left %s once every byte is read, want 0", r.Left)
	}
}

func TestLineAndSummarySayWhatIsDoneAndLeft(t *testing.T) {
	s := Snapshot{FilesTotal: 120, FilesDone: 35, FilesFailed: 2, FilesSkipped: 8, EventsAcked: 1_234_579, EventsDead: 12, EventsOut: 3456}
	got := Line(s, Rates{EventsPerSecond: 41233.6, Left: 135 * time.Second})
	want := "files 37/120 (2 failed, 8 finished before), events 1,234,567 sent, 12 dead-lettered, 3,456 left out, 41,234 events/s, 2m15s left"
	if got != want {
		t.Errorf("Line:\n got %s\nwant %s", got, want)
	}
	if got := Line(Snapshot{FilesTotal: 3}, Rates{Left: -1}); got != "files 0/3, events 0 sent, 0 dead-lettered, 0 events/s, time left unknown" {
		t.Errorf("Line at the start: %s", got)
	}
	done := Snapshot{FilesTotal: 4, FilesDone: 4, EventsAcked: 1000}
	if got, want := Summary(done, 2*time.Second), "done in 2s: files 4/4, events 1,000 sent, 0 dead-lettered, 500 events/s on average"; got != want {
		t.Errorf("Summary:\n got %s\nwant %s", got, want)
	}
}

func TestCountSeparatesThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestCountersRideOnAContext(t *testing.T) {
	c := &Counters{}
	if CountersFrom(context.Background()) != nil {
		t.Error("a bare context has counters")
	}
	if CountersFrom(WithCounters(context.Background(), c)) != c {
		t.Error("the counters put on a context are not found")
	}
}
