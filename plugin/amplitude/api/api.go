// Package api holds the rules of Amplitude's HTTP V2 and Batch APIs that a
// sender must respect: endpoints and limits, the checks Amplitude makes on
// each event, how events pack into request bodies, and what each response
// means. It does no I/O.
package api

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

// MaxEvents is the most events one request may carry.
func (k Kind) MaxEvents() int { return 2000 }

// MaxBytes bounds the uncompressed body: "< 1 MB" for HTTP V2 (read as
// decimal, the safe side), 20 MB for Batch.
func (k Kind) MaxBytes() int {
	if k == Batch {
		return 20_000_000
	}
	return 1_000_000
}

// EventsPerSecond is the per-device and per-user rate Amplitude allows.
func (k Kind) EventsPerSecond() float64 {
	if k == Batch {
		return 1000
	}
	return 30
}

// ThrottlePause is how long Amplitude asks throttled ids to wait.
func (k Kind) ThrottlePause() time.Duration {
	if k == Batch {
		return 15 * time.Second
	}
	return 30 * time.Second
}

// DailyQuota is the default per-id limit over a rolling 24 hours.
const DailyQuota = 500_000

// BaseURL is the API host of a data region.
func BaseURL(region string) (string, error) {
	switch region {
	case "us":
		return "https://api2.amplitude.com", nil
	case "eu":
		return "https://api.eu.amplitude.com", nil
	}
	return "", fmt.Errorf("region: %q is not one of \"us\", \"eu\"", region)
}
