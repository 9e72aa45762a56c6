package emulator

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Faults are the failures the emulator injects on top of Amplitude's own answers.
// Rates are shares of requests, from 0 to 1, drawn from a generator seeded with Seed
// so that a run can be repeated.
type Faults struct {
	Seed       int64
	ErrorRate  float64 // share of requests answered with one of ErrorCodes
	ErrorCodes []int   // default {500, 502, 503, 504}
	// IngestBeforeError makes 500/502/504 ingest the events, then answer the error
	// ("maybe accepted", to test that retries are idempotent). 503 never ingests.
	IngestBeforeError bool
	SlowRate          float64 // share of requests delayed by SlowDelay
	SlowDelay         time.Duration
	ResetRate         float64 // share of requests whose connection is closed with no response
	// RejectKeyFrom and RejectKeyUntil bound a window during which every key is answered
	// "Invalid API key". A zero bound is open; both zero: no window.
	RejectKeyFrom, RejectKeyUntil time.Time
	SilencedDevices               []string
}

// faultPlan is what happens to one request.
type faultPlan struct {
	reset       bool
	delay       time.Duration
	errorCode   int  // 0: no injected error
	ingestFirst bool // process the request normally, then answer errorCode
}

// faultInjector holds the current Faults and their random generator.
type faultInjector struct {
	mu       sync.Mutex
	faults   Faults
	silenced map[string]bool
	rng      *rand.Rand
}

func (fi *faultInjector) set(f Faults) {
	f.ErrorCodes = slices.Clone(f.ErrorCodes)
	if len(f.ErrorCodes) == 0 {
		f.ErrorCodes = []int{500, 502, 503, 504}
	}
	silenced := make(map[string]bool, len(f.SilencedDevices))
	for _, d := range f.SilencedDevices {
		silenced[d] = true
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.faults = f
	fi.silenced = silenced
	fi.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0))
}

// plan decides the faults of the next request. It always draws the same numbers, so
// a seed gives the same sequence of decisions whichever rates are set.
func (fi *faultInjector) plan() faultPlan {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := &fi.faults
	resetDraw, slowDraw, errorDraw := fi.rng.Float64(), fi.rng.Float64(), fi.rng.Float64()
	code := f.ErrorCodes[fi.rng.IntN(len(f.ErrorCodes))]
	var p faultPlan
	if resetDraw < f.ResetRate {
		p.reset = true
		return p
	}
	if slowDraw < f.SlowRate {
		p.delay = f.SlowDelay
	}
	if errorDraw < f.ErrorRate {
		p.errorCode = code
		p.ingestFirst = f.IngestBeforeError && code != 503
	}
	return p
}

// keyRejected reports whether now falls in the window of rejected API keys.
func (fi *faultInjector) keyRejected(now time.Time) bool {
	fi.mu.Lock()
	from, until := fi.faults.RejectKeyFrom, fi.faults.RejectKeyUntil
	fi.mu.Unlock()
	if from.IsZero() && until.IsZero() {
		return false
	}
	return (from.IsZero() || !now.Before(from)) && (until.IsZero() || now.Before(until))
}

// silencedDevices returns the set of silenced device_ids; callers must not change it.
func (fi *faultInjector) silencedDevices() map[string]bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.silenced
}
