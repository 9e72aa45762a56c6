package emulator

import (
	"sync"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/emuserver"
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
	emuserver.Plan
	ingestFirst bool // process the request normally, then answer ErrorCode
}

// faultInjector draws each request's faults (see emuserver.Injector) and
// holds those that are the Amplitude emulator's own.
type faultInjector struct {
	draws emuserver.Injector

	mu                            sync.Mutex
	ingestBeforeError             bool
	silenced                      map[string]bool
	rejectKeyFrom, rejectKeyUntil time.Time
}

func (fi *faultInjector) set(f Faults) {
	fi.draws.Set(emuserver.Faults{Seed: f.Seed, ErrorRate: f.ErrorRate, ErrorCodes: f.ErrorCodes,
		SlowRate: f.SlowRate, SlowDelay: f.SlowDelay, ResetRate: f.ResetRate}, false)
	silenced := make(map[string]bool, len(f.SilencedDevices))
	for _, d := range f.SilencedDevices {
		silenced[d] = true
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.ingestBeforeError = f.IngestBeforeError
	fi.silenced = silenced
	fi.rejectKeyFrom, fi.rejectKeyUntil = f.RejectKeyFrom, f.RejectKeyUntil
}

// plan decides the faults of the next request.
func (fi *faultInjector) plan() faultPlan {
	p := faultPlan{Plan: fi.draws.Plan()}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	p.ingestFirst = p.ErrorCode != 0 && fi.ingestBeforeError && p.ErrorCode != 503
	return p
}

// keyRejected reports whether now falls in the window of rejected API keys.
func (fi *faultInjector) keyRejected(now time.Time) bool {
	fi.mu.Lock()
	from, until := fi.rejectKeyFrom, fi.rejectKeyUntil
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
