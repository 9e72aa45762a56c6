package backoff

import (
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func TestWaitsDoubleUpToTheMaxWithJitterInTheUpperHalf(t *testing.T) {
	b := New(Config{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond})
	for i, bound := range []time.Duration{100, 200, 400, 400, 400} {
		bound *= time.Millisecond
		if w := b.Next(); w < bound/2 || w > bound {
			t.Errorf("wait %d: %s, want within [%s, %s]", i, w, bound/2, bound)
		}
	}
	b.Reset()
	if w := b.Next(); w > 100*time.Millisecond {
		t.Errorf("after Reset: %s", w)
	}
}

func TestParseNamesTheField(t *testing.T) {
	spec := service.NewConfigSpec().Field(Spec("retry", "1s", "10s", "d"))
	for yaml, want := range map[string]string{
		"retry: {initial_interval: 2s, max_interval: 1s}": "retry: need 0 < initial_interval <= max_interval",
		"retry: {initial_interval: 0s}":                   "retry: need 0 < initial_interval <= max_interval",
	} {
		conf, err := spec.ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(conf, "retry"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
	conf, _ := spec.ParseYAML("{}", nil)
	if c, err := Parse(conf, "retry"); err != nil || c != (Config{time.Second, 10 * time.Second}) {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestRoundsCountRoundsNotFailures(t *testing.T) {
	r := NewRounds(Config{Initial: 100 * time.Millisecond, Max: 800 * time.Millisecond})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	within := func(at time.Time, lo, hi time.Duration) {
		t.Helper()
		if d := at.Sub(now); d < lo || d > hi {
			t.Fatalf("retry after %v, want between %v and %v", d, lo, hi)
		}
	}
	first := r.RetryAt(now)
	within(first, 50*time.Millisecond, 100*time.Millisecond)
	for range 99 { // the other events of the same failed request
		if at := r.RetryAt(now.Add(time.Millisecond)); !at.Equal(first) {
			t.Fatalf("a failure of the same round retries at %v, not with the round at %v", at, first)
		}
	}
	now = first // the round was sent again and failed again
	within(r.RetryAt(now), 100*time.Millisecond, 200*time.Millisecond)
	for range 5 {
		now = r.RetryAt(now)
	}
	within(r.RetryAt(now), 400*time.Millisecond, 800*time.Millisecond) // capped at max
	r.Reset()
	within(r.RetryAt(now), 50*time.Millisecond, 100*time.Millisecond)
}
