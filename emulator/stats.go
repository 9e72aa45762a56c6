package emulator

import (
	"maps"
	"slices"
	"sync"
)

// Stats is what the emulator has seen since it started (or since Reset); GET /stats
// serves it as JSON.
type Stats struct {
	Requests           map[int]int64    `json:"requests"`            // answered requests by status code
	ConnectionResets   int64            `json:"connection_resets"`   // requests answered by closing the connection
	SlowResponses      int64            `json:"slow_responses"`      // requests delayed by the SlowRate fault
	BytesReceived      int64            `json:"bytes_received"`      // upload bodies as sent (gzip or not)
	PayloadBytes       int64            `json:"payload_bytes"`       // upload bodies decompressed
	EventsReceived     int64            `json:"events_received"`     // events in uploads that parsed
	EventsIngested     int64            `json:"events_ingested"`     // accepted and recorded
	EventsDeduplicated int64            `json:"events_deduplicated"` // accepted, but their insert_id was seen before
	StringsTruncated   int64            `json:"strings_truncated"`   // string values of ingested events over 1024 characters, which Amplitude truncates
	RequestsRejected   map[string]int64 `json:"requests_rejected"`   // non-200 answers by reason
	EventsRejected     map[string]int64 `json:"events_rejected"`     // events a 400 or 429 named, by reason
	ThrottledIDs       IDSample         `json:"throttled_ids"`       // ids named in a 429 for their eps
	DailyQuotaIDs      IDSample         `json:"daily_quota_ids"`     // ids named in a 429 for their daily quota
}

// IDSample counts ids named in 429 answers and keeps the latest few.
type IDSample struct {
	Count  int64    `json:"count"`  // times an id was named
	Sample []string `json:"sample"` // latest distinct ids, as "device_id:<id>" or "user_id:<id>"
}

// idSampleSize bounds each IDSample, so a flood of throttled ids costs no memory.
const idSampleSize = 20

func (s *IDSample) add(labels []string) {
	s.Count += int64(len(labels))
	for _, l := range labels {
		if i := slices.Index(s.Sample, l); i >= 0 {
			s.Sample = slices.Delete(s.Sample, i, i+1)
		} else if len(s.Sample) == idSampleSize {
			s.Sample = slices.Delete(s.Sample, 0, 1)
		}
		s.Sample = append(s.Sample, l)
	}
}

type statsCounter struct {
	mu sync.Mutex
	s  Stats
}

func newStats() Stats {
	return Stats{
		Requests:         map[int]int64{},
		RequestsRejected: map[string]int64{},
		EventsRejected:   map[string]int64{},
		ThrottledIDs:     IDSample{Sample: []string{}},
		DailyQuotaIDs:    IDSample{Sample: []string{}},
	}
}

// observe counts one answered upload.
func (c *statsCounter) observe(r *reply, wireBytes, payloadBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.s
	s.Requests[r.status]++
	s.BytesReceived += int64(wireBytes)
	s.PayloadBytes += int64(payloadBytes)
	s.EventsReceived += int64(r.received)
	s.EventsIngested += int64(r.ingested)
	s.EventsDeduplicated += int64(r.deduplicated)
	s.StringsTruncated += int64(r.truncated)
	if r.reason != "" {
		s.RequestsRejected[r.reason]++
	}
	for reason, n := range r.refused {
		s.EventsRejected[reason] += int64(n)
	}
	s.ThrottledIDs.add(r.throttledIDs)
	s.DailyQuotaIDs.add(r.quotaIDs)
}

func (c *statsCounter) connectionReset(wireBytes, payloadBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.ConnectionResets++
	c.s.BytesReceived += int64(wireBytes)
	c.s.PayloadBytes += int64(payloadBytes)
}

func (c *statsCounter) slowResponse() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.SlowResponses++
}

func (c *statsCounter) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Requests = maps.Clone(s.Requests)
	s.RequestsRejected = maps.Clone(s.RequestsRejected)
	s.EventsRejected = maps.Clone(s.EventsRejected)
	s.ThrottledIDs.Sample = slices.Clone(s.ThrottledIDs.Sample)
	s.DailyQuotaIDs.Sample = slices.Clone(s.DailyQuotaIDs.Sample)
	return s
}

func (c *statsCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = newStats()
}
