package amplitude

import (
	"testing"
	"time"
)

func TestBackoffCountsRoundsNotEvents(t *testing.T) {
	b := backoff{cfg: backoffConfig{initial: 100 * time.Millisecond, max: 800 * time.Millisecond}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	within := func(at time.Time, lo, hi time.Duration) {
		t.Helper()
		if d := at.Sub(now); d < lo || d > hi {
			t.Fatalf("retry after %v, want between %v and %v", d, lo, hi)
		}
	}
	first := b.retryAt(now)
	within(first, 50*time.Millisecond, 100*time.Millisecond)
	for range 99 { // the other events of the same failed request
		if at := b.retryAt(now.Add(time.Millisecond)); !at.Equal(first) {
			t.Fatalf("an event of the same round retries at %v, not with the round at %v", at, first)
		}
	}
	now = first // the round was sent again and failed again
	within(b.retryAt(now), 100*time.Millisecond, 200*time.Millisecond)
	for range 5 {
		now = b.retryAt(now)
	}
	within(b.retryAt(now), 400*time.Millisecond, 800*time.Millisecond) // capped at max
	b.reset()
	within(b.retryAt(now), 50*time.Millisecond, 100*time.Millisecond)
}
