// Package intervallog logs a recurring condition (failing requests, a
// refused key, a secret file that cannot be read) at most once per
// interval, so that a flood of them cannot flood the logs: the first at
// once, then how many occurred since the last line and some of their
// distinct causes.
package intervallog

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxSamples bounds the distinct samples a line shows.
const MaxSamples = 10

// Log is one recurring condition's log. It is safe for concurrent use.
type Log struct {
	interval time.Duration
	log      func(count int, samples string)

	mu      sync.Mutex
	last    time.Time
	count   int
	samples []string
}

// New returns a log writing its lines with log: count is the occurrences
// since the last line, samples their distinct samples, comma-separated.
func New(interval time.Duration, log func(count int, samples string)) *Log {
	return &Log{interval: interval, log: log}
}

// Note records one occurrence per sample at now, and writes a line when
// none was written within the interval.
func (l *Log) Note(now time.Time, samples ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count += len(samples)
	for _, s := range samples {
		if len(l.samples) < MaxSamples && !slices.Contains(l.samples, s) {
			l.samples = append(l.samples, s)
		}
	}
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		return
	}
	l.last = now
	l.log(l.count, strings.Join(l.samples, ", "))
	l.count, l.samples = 0, l.samples[:0]
}
