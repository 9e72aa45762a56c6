package emuserver

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Faults are the failures every emulator injects. Rates are shares of
// requests, from 0 to 1, drawn from a generator seeded with Seed so that a
// run can be repeated.
type Faults struct {
	Seed       int64
	ErrorRate  float64 // share of requests answered with one of ErrorCodes
	ErrorCodes []int   // default {500, 502, 503, 504}
	SlowRate   float64 // share of requests answered after SlowDelay
	SlowDelay  time.Duration
	ResetRate  float64 // share of requests whose connection is closed with no answer
}

// Plan is what happens to one request: its connection reset without an
// answer, or else a delay and an injected error, each when drawn.
type Plan struct {
	Reset     bool
	Delay     time.Duration
	ErrorCode int     // 0: no injected error
	Own       float64 // the draw for the emulator's own fault, in [0, 1)
}

// Injector draws each request's Plan. It is safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	faults  Faults
	ownDraw bool
	rng     *rand.Rand
}

// Set replaces the faults and starts their draws again from the seed;
// ownDraw adds to each request's draws one for the emulator's own fault
// (Plan.Own).
func (in *Injector) Set(f Faults, ownDraw bool) {
	f.ErrorCodes = slices.Clone(f.ErrorCodes)
	if len(f.ErrorCodes) == 0 {
		f.ErrorCodes = []int{500, 502, 503, 504}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults, in.ownDraw = f, ownDraw
	in.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0))
}

// Plan decides the faults of the next request. It draws the same numbers
// for every request (reset, slow, error, the own draw if any, then the
// error code), so a seed gives the same sequence of decisions whichever
// rates are set.
func (in *Injector) Plan() Plan {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := &in.faults
	resetDraw, slowDraw, errorDraw := in.rng.Float64(), in.rng.Float64(), in.rng.Float64()
	var p Plan
	if in.ownDraw {
		p.Own = in.rng.Float64()
	}
	code := f.ErrorCodes[in.rng.IntN(len(f.ErrorCodes))]
	if resetDraw < f.ResetRate {
		return Plan{Reset: true, Own: p.Own}
	}
	if slowDraw < f.SlowRate {
		p.Delay = f.SlowDelay
	}
	if errorDraw < f.ErrorRate {
		p.ErrorCode = code
	}
	return p
}
