package intervallog

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTheFirstIsLoggedAtOnceThenOneLinePerInterval(t *testing.T) {
	var lines []string
	l := New(time.Minute, func(n int, samples string) { lines = append(lines, fmt.Sprintf("%d: %s", n, samples)) })
	now := time.Unix(1_700_000_000, 0)
	l.Note(now, "timeout")
	l.Note(now.Add(time.Second), "timeout")
	l.Note(now.Add(2*time.Second), "503", "timeout")
	if fmt.Sprint(lines) != "[1: timeout]" {
		t.Fatalf("within the interval: %q", lines)
	}
	l.Note(now.Add(time.Minute), "reset")
	if want := "[1: timeout 4: timeout, 503, reset]"; fmt.Sprint(lines) != want {
		t.Fatalf("after the interval: %q, want %q", lines, want)
	}
}

func TestALineShowsAtMostMaxSamples(t *testing.T) {
	var last string
	l := New(time.Minute, func(_ int, samples string) { last = samples })
	now := time.Unix(1_700_000_000, 0)
	l.Note(now, "first")
	for i := range 2 * MaxSamples {
		l.Note(now.Add(time.Second), fmt.Sprintf("cause-%d", i))
	}
	l.Note(now.Add(time.Minute))
	if n := len(strings.Split(last, ", ")); n != MaxSamples {
		t.Fatalf("%d samples shown: %s", n, last)
	}
}
