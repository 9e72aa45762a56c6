// Package emulator is a local stand-in for Amplitude's HTTP V2 and Batch event APIs.
//
// It answers like the real service (SPEC section 4): the same request checks and
// response bodies, per-id rate limits and daily quotas, insert_id deduplication, and
// on top of that injected faults (5xx, slow answers, connection resets, a rejected
// API key, silenced devices). Tests use it in the spirit of net/http/httptest:
//
//	srv, err := emulator.Start(emulator.Config{})
//	defer srv.Close()
//	// point the client at srv.URL + "/2/httpapi", then inspect srv.Events() and srv.Stats()
package emulator

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

// Config sets the emulator's limits and behaviour. Zero fields take Amplitude's
// values, from the same table the amplitude output follows (ampapi.Limits).
type Config struct {
	APIKeys             []string      // accepted keys; empty: any non-empty key
	HTTPV2EPS           float64       // per-id events per second on /2/httpapi; default 30
	BatchEPS            float64       // per-id events per second on /batch; default 1000
	HTTPV2Window        time.Duration // window the HTTP V2 rate is averaged over; default 1s
	BatchWindow         time.Duration // window the Batch rate is averaged over; default 30s
	DailyQuota          int           // events per id per rolling 24 h; default 500000; <0 disables
	DisableRateLimits   bool          // turn off eps and daily checks entirely
	MaxEventsPerRequest int           // default 2000
	MaxHTTPV2Bytes      int           // decompressed body limit on /2/httpapi; default 1_000_000
	MaxBatchBytes       int           // decompressed body limit on /batch; default 20_000_000
	DedupWindow         time.Duration // how long an insert_id is remembered; default 7*24h
	Faults              Faults
	Now                 func() time.Time // injected clock; default time.Now

	// Recorder receives every accepted event. Nil keeps them in memory for Events;
	// the command streams them to a file instead so a million events cost no memory.
	Recorder Recorder
}

func (c Config) withDefaults() Config {
	v2, batch := ampapi.HTTPV2.Limits(), ampapi.Batch.Limits()
	if c.HTTPV2EPS <= 0 {
		c.HTTPV2EPS = v2.EventsPerSecond
	}
	if c.BatchEPS <= 0 {
		c.BatchEPS = batch.EventsPerSecond
	}
	if c.HTTPV2Window <= 0 {
		c.HTTPV2Window = v2.RateWindow
	}
	if c.BatchWindow <= 0 {
		c.BatchWindow = batch.RateWindow
	}
	if c.DailyQuota == 0 {
		c.DailyQuota = v2.DailyQuota
	}
	if c.MaxEventsPerRequest <= 0 {
		c.MaxEventsPerRequest = v2.MaxEvents
	}
	if c.MaxHTTPV2Bytes <= 0 {
		c.MaxHTTPV2Bytes = v2.MaxBytes
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = batch.MaxBytes
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = ampapi.DedupWindow
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Event is one accepted event as the emulator recorded it.
type Event struct {
	InsertID, DeviceID, UserID, EventType string
	Time                                  int64           // the event's "time" in ms; 0 when it sent none
	Raw                                   json.RawMessage // the event object exactly as sent

	longStrings int // string values Amplitude truncates (Stats.StringsTruncated)
}

// Emulator is the Amplitude-compatible http.Handler. Its methods are safe for
// concurrent use.
type Emulator struct {
	cfg      Config
	apiKeys  map[string]bool
	routes   map[string]endpoint
	faults   faultInjector
	stats    statsCounter
	memory   *memoryRecorder // nil when Config.Recorder is set
	recorder Recorder
	hashIDs  idHasher

	// mu guards the per-id state, and serialises recording so that events are
	// recorded in the order they were accepted.
	mu     sync.Mutex
	limits *limiter
	dedup  *dedupSet
}

// New returns an emulator configured by cfg (zero fields take Amplitude's defaults).
func New(cfg Config) *Emulator {
	cfg = cfg.withDefaults()
	e := &Emulator{
		cfg:      cfg,
		apiKeys:  make(map[string]bool, len(cfg.APIKeys)),
		recorder: cfg.Recorder,
		hashIDs:  newIDHasher(),
	}
	for _, k := range cfg.APIKeys {
		e.apiKeys[k] = true
	}
	e.routes = map[string]endpoint{
		pathHTTPV2: {name: "httpapi", eps: cfg.HTTPV2EPS, window: cfg.HTTPV2Window, maxBytes: cfg.MaxHTTPV2Bytes},
		pathBatch:  {name: "batch", eps: cfg.BatchEPS, window: cfg.BatchWindow, maxBytes: cfg.MaxBatchBytes},
	}
	if e.recorder == nil {
		e.memory = &memoryRecorder{}
		e.recorder = e.memory
	}
	e.faults.set(cfg.Faults)
	e.Reset()
	return e
}

// SetFaults replaces the injected faults; it takes effect with the next request.
func (e *Emulator) SetFaults(f Faults) { e.faults.set(f) }

// Events returns the accepted events (after deduplication) in arrival order. It is
// empty when Config.Recorder sends them elsewhere.
func (e *Emulator) Events() []Event {
	if e.memory == nil {
		return nil
	}
	return e.memory.events()
}

// Stats returns the counters GET /stats serves.
func (e *Emulator) Stats() Stats { return e.stats.snapshot() }

// Reset forgets recorded events, statistics, rate-limit and deduplication state, so
// one emulator can serve several test cases.
func (e *Emulator) Reset() {
	e.resetState()
	e.stats.reset()
	if e.memory != nil {
		e.memory.reset()
	}
}

func (e *Emulator) resetState() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.limits = newLimiter(e.routes, e.cfg.DailyQuota)
	e.dedup = newDedupSet(e.cfg.DedupWindow)
}
