// Package backoff is the retry backoff of this project's outputs: its two
// config fields, and jittered exponential waits without an end.
package backoff

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	fieldInitialInterval = "initial_interval"
	fieldMaxInterval     = "max_interval"
)

// Config bounds the waits.
type Config struct{ Initial, Max time.Duration }

// Spec is the config object `name: {initial_interval, max_interval}`.
func Spec(name, initial, max, desc string) *service.ConfigField {
	return service.NewObjectField(name,
		service.NewDurationField(fieldInitialInterval).Default(initial).Description("The first wait."),
		service.NewDurationField(fieldMaxInterval).Default(max).Description("The longest wait; waits double up to it, with jitter."),
	).Description(desc).Advanced()
}

// Parse reads the config object Spec describes; an error names the field.
func Parse(conf *service.ParsedConfig, name string) (Config, error) {
	var c Config
	var err error
	if c.Initial, err = conf.FieldDuration(name, fieldInitialInterval); err != nil {
		return c, err
	}
	if c.Max, err = conf.FieldDuration(name, fieldMaxInterval); err != nil {
		return c, err
	}
	if c.Initial <= 0 || c.Max < c.Initial {
		return c, fmt.Errorf("%s: need 0 < %s <= %s", name, fieldInitialInterval, fieldMaxInterval)
	}
	return c, nil
}

// Backoff hands out the waits of one series of failures.
type Backoff struct {
	cfg  Config
	wait time.Duration
}

// New starts a series.
func New(cfg Config) Backoff { return Backoff{cfg: cfg} }

// Next is the wait after one more failure: Initial, then doubling up to
// Max, each drawn from its upper half so that series failing together do
// not retry in step.
func (b *Backoff) Next() time.Duration {
	if b.wait == 0 {
		b.wait = b.cfg.Initial
	} else if b.wait = 2 * b.wait; b.wait > b.cfg.Max {
		b.wait = b.cfg.Max
	}
	return b.wait/2 + rand.N(b.wait/2+1)
}

// Reset ends the series: the next failure waits Initial again.
func (b *Backoff) Reset() { b.wait = 0 }

// Rounds is a Backoff counted in rounds: the failures reported before the
// retry time of the current round all get that time, so the events of one
// failed request (or of several failing together), reporting one by one,
// wait one step, not one step each.
type Rounds struct {
	b     Backoff
	until time.Time // the retry time of the current round
}

// NewRounds starts a series of rounds.
func NewRounds(cfg Config) Rounds { return Rounds{b: New(cfg)} }

// RetryAt returns when something that failed at now goes again.
func (r *Rounds) RetryAt(now time.Time) time.Time {
	if now.Before(r.until) {
		return r.until
	}
	r.until = now.Add(r.b.Next())
	return r.until
}

// Reset ends the series: the next failure starts a round of Initial.
func (r *Rounds) Reset() { r.b.Reset(); r.until = time.Time{} }
