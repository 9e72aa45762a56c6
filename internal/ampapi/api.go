// Package api holds the rules of Amplitude's HTTP V2 and Batch APIs that a
// sender must respect: endpoints and limits, the checks Amplitude makes on
// each event, how events pack into request bodies, and what each response
// means. It does no I/O.
package ampapi

import (
	"fmt"
	"time"
)

// Kind is one of Amplitude's two ingestion APIs.
type Kind int

const (
	HTTPV2 Kind = iota // POST /2/httpapi
	Batch              // POST /batch
)

// ParseKind reads the `api` config value.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "http_v2":
		return HTTPV2, nil
	case "batch":
		return Batch, nil
	}
	return 0, fmt.Errorf("api: %q is not one of \"http_v2\", \"batch\"", s)
}

func (k Kind) String() string {
	if k == Batch {
		return "batch"
	}
	return "http_v2"
}

// Path is the endpoint's path on the API host.
func (k Kind) Path() string {
	if k == Batch {
		return "/batch"
	}
	return "/2/httpapi"
}

// Limits are Amplitude's documented limits for one API, and the pace per id
// at which a sender stays inside them. This table is their one home: the
// amplitude output's defaults, its limiter and the emulator read it.
//
// Sources: https://amplitude.com/docs/apis/analytics/http-v2 (Upload limit,
// Error codes), https://amplitude.com/docs/apis/analytics/batch-event-upload
// (Considerations), and https://amplitude.com/docs/apis/analytics/http-api-batching-retries
// ("Amplitude ignores an event that repeats an insert_id from the past 7 days").
type Limits struct {
	MaxEvents int // events per request
	// MaxBytes bounds the uncompressed body: "under 1 MB" for HTTP V2 (read
	// as decimal, the safe side), 20 MB for Batch.
	MaxBytes int
	// EventsPerSecond is the rate per device_id and per user_id, averaged
	// over RateWindow.
	EventsPerSecond float64
	RateWindow      time.Duration
	// ThrottlePause is how long Amplitude asks an id named by a 429 to wait.
	ThrottlePause time.Duration
	// DailyQuota is the events per id over a rolling 24 hours, counted in
	// one-hour buckets.
	DailyQuota int
	// SendRate and SendBurst are the per-id pace the output's limiter keeps
	// by default, below EventsPerSecond with room for delay jitter between
	// requests. At that pace an id sends at most SendBurst + SendRate x W
	// events in any span W:
	//   - HTTP V2, 25/s with a burst of 3: 28 in one second, 30 in 1.08 s, so
	//     Amplitude's 30 per second holds while requests reach it up to 80 ms
	//     later than the ones before them. At 30/s any burst above 1, or any
	//     delay at all, could pass 30.
	//   - Batch, 900/s with a burst of 1000: 28,000 in 30 s, 30,000 in 32 s,
	//     against Amplitude's 30,000: 2 s of room for delay.
	SendRate  float64
	SendBurst int
}

var limits = [...]Limits{
	HTTPV2: {
		MaxEvents: 2000, MaxBytes: 1_000_000,
		EventsPerSecond: 30, RateWindow: time.Second, ThrottlePause: 30 * time.Second,
		DailyQuota: 500_000, SendRate: 25, SendBurst: 3,
	},
	Batch: {
		MaxEvents: 2000, MaxBytes: 20_000_000,
		EventsPerSecond: 1000, RateWindow: 30 * time.Second, ThrottlePause: 15 * time.Second,
		DailyQuota: 500_000, SendRate: 900, SendBurst: 1000,
	},
}

// Limits returns the API's limits.
func (k Kind) Limits() Limits { return limits[k] }

// DedupWindow is how long Amplitude ignores an event whose insert_id it has
// already received for the same device.
const DedupWindow = 7 * 24 * time.Hour

// EmulatorAddr is where this project's Amplitude emulator listens by
// default; the output's region "emulator" points there.
const EmulatorAddr = "127.0.0.1:8765"

// regions are the API hosts by the output's region names: Amplitude's data
// regions (https://amplitude.com/docs/apis/analytics/http-v2, Regions), and
// the local emulator.
var regions = map[string]string{
	"us":       "https://api2.amplitude.com",
	"eu":       "https://api.eu.amplitude.com",
	"emulator": "http://" + EmulatorAddr,
}

// Regions lists the region names BaseURL knows, for config enums.
func Regions() []string { return []string{"us", "eu", "emulator"} }

// BaseURL is the API host of a region.
func BaseURL(region string) (string, error) {
	if base, ok := regions[region]; ok {
		return base, nil
	}
	return "", fmt.Errorf("region: %q is not one of %q", region, Regions())
}
