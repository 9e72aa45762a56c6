package backfill

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Counters is the live state of a backfill, shared by the goroutines that
// read files, receive acknowledgements and report.
type Counters struct {
	FilesTotal   atomic.Int64 // selected, in this worker's share, not yet finished
	FilesSkipped atomic.Int64 // finished by an earlier run (in the checkpoint)
	FilesDone    atomic.Int64
	FilesFailed  atomic.Int64
	BytesTotal   atomic.Int64 // of the files to do
	BytesRead    atomic.Int64
	EventsRead   atomic.Int64 // emitted by the reader
	EventsAcked  atomic.Int64 // acknowledged: sent or dead-lettered
	EventsDead   atomic.Int64 // dead-lettered
	EventsOut    atomic.Int64 // left out by the mapping's options, never emitted
}

// Snapshot reads the counters at a time.
func (c *Counters) Snapshot(at time.Time) Snapshot {
	return Snapshot{
		At:           at,
		FilesTotal:   c.FilesTotal.Load(),
		FilesSkipped: c.FilesSkipped.Load(),
		FilesDone:    c.FilesDone.Load(),
		FilesFailed:  c.FilesFailed.Load(),
		BytesTotal:   c.BytesTotal.Load(),
		BytesRead:    c.BytesRead.Load(),
		EventsRead:   c.EventsRead.Load(),
		EventsAcked:  c.EventsAcked.Load(),
		EventsDead:   c.EventsDead.Load(),
		EventsOut:    c.EventsOut.Load(),
	}
}

// Snapshot is the state of a backfill at one time.
type Snapshot struct {
	At                                             time.Time
	FilesTotal, FilesSkipped, FilesDone            int64
	FilesFailed, BytesTotal, BytesRead             int64
	EventsRead, EventsAcked, EventsDead, EventsOut int64
}

// EventsSent is the events acknowledged that were not dead-lettered.
func (s Snapshot) EventsSent() int64 { return s.EventsAcked - s.EventsDead }

// Meter turns snapshots into rates over a sliding window.
type Meter struct {
	window  time.Duration
	start   Snapshot
	samples []Snapshot // oldest first, spanning at most window
}

// NewMeter starts measuring at first, averaging rates over window.
func NewMeter(first Snapshot, window time.Duration) *Meter {
	return &Meter{window: window, start: first, samples: []Snapshot{first}}
}

// Add records a later snapshot.
func (m *Meter) Add(s Snapshot) {
	m.samples = append(m.samples, s)
	// Keep one sample at or before the window's start, so the window is full.
	for len(m.samples) > 2 && s.At.Sub(m.samples[1].At) >= m.window {
		m.samples = m.samples[1:]
	}
}

// Rates are the events acknowledged and the bytes read per second over the
// window, and the time left to read the rest at that pace; Left is -1 while
// there is no pace to go by.
type Rates struct {
	EventsPerSecond, BytesPerSecond float64
	Left                            time.Duration
}

// Rates measures the window up to the last snapshot added.
func (m *Meter) Rates() Rates {
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	r := Rates{Left: -1}
	secs := last.At.Sub(first.At).Seconds()
	if secs <= 0 {
		return r
	}
	r.EventsPerSecond = float64(last.EventsAcked-first.EventsAcked) / secs
	r.BytesPerSecond = float64(last.BytesRead-first.BytesRead) / secs
	switch remaining := last.BytesTotal - last.BytesRead; {
	case remaining <= 0:
		r.Left = 0
	case r.BytesPerSecond > 0:
		r.Left = time.Duration(float64(remaining) / r.BytesPerSecond * float64(time.Second)).Round(time.Second)
	}
	return r
}

// Elapsed is the time since the first snapshot.
func (m *Meter) Elapsed() time.Duration {
	return m.samples[len(m.samples)-1].At.Sub(m.start.At)
}

// Line is the one-line state of a backfill, for the live display and the
// periodic log line:
//
//	files 37/120 (2 failed, 8 finished before), events 1,234,567 sent, 12 dead-lettered, 3,456 left out, 41,234 events/s, 2m15s left
func Line(s Snapshot, r Rates) string {
	line := counts(s, r.EventsPerSecond)
	if r.Left >= 0 {
		return line + ", " + r.Left.String() + " left"
	}
	return line + ", time left unknown"
}

// counts is Line without the time left, which Summary has no use for.
func counts(s Snapshot, eventsPerSecond float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "files %d/%d", s.FilesDone+s.FilesFailed, s.FilesTotal)
	var notes []string
	if s.FilesFailed > 0 {
		notes = append(notes, fmt.Sprintf("%d failed", s.FilesFailed))
	}
	if s.FilesSkipped > 0 {
		notes = append(notes, fmt.Sprintf("%d finished before", s.FilesSkipped))
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
	}
	fmt.Fprintf(&b, ", events %s sent, %s dead-lettered", Count(s.EventsSent()), Count(s.EventsDead))
	if s.EventsOut > 0 {
		fmt.Fprintf(&b, ", %s left out", Count(s.EventsOut))
	}
	fmt.Fprintf(&b, ", %s events/s", Count(int64(eventsPerSecond+0.5)))
	return b.String()
}

// Summary is the closing line of a backfill.
//
//	done in 1m23s: files 120/120 (8 finished before), events 1,000,000 sent, 12 dead-lettered, 12,048 events/s on average
func Summary(s Snapshot, elapsed time.Duration) string {
	var avg float64
	if secs := elapsed.Seconds(); secs > 0 {
		avg = float64(s.EventsAcked) / secs
	}
	return fmt.Sprintf("done in %s: %s on average", elapsed.Round(time.Millisecond), counts(s, avg))
}

// Count writes n with thousands separators: 1,234,567.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

type countersKey struct{}

// WithCounters returns ctx carrying a backfill's counters, for components
// that see its events (the reader, the dead-letter route) to count in.
func WithCounters(ctx context.Context, c *Counters) context.Context {
	return context.WithValue(ctx, countersKey{}, c)
}

// CountersFrom returns the counters ctx carries, or nil.
func CountersFrom(ctx context.Context) *Counters {
	c, _ := ctx.Value(countersKey{}).(*Counters)
	return c
}
