package brazesim

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// Report sums a run up.
type Report struct {
	Events   int `json:"events"`
	Acked    int `json:"acked"`
	Rejected int `json:"rejected"`
	Failed   int `json:"failed"`

	Requests int            `json:"requests"` // every attempt, retries included
	Retries  int            `json:"retries"`
	Splits   int            `json:"splits"`
	Answers  map[string]int `json:"answers"` // by status code, "timeout" or "connection_error"

	// Latency of the attempts that got an answer or timed out, in ms.
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP90 float64 `json:"latency_p90_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	LatencyMax float64 `json:"latency_max_ms"`

	Seconds           float64 `json:"seconds"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	EventsPerSecond   float64 `json:"events_per_second"` // acknowledged events
}

// stats collects what the workers see.
type stats struct {
	mu        sync.Mutex
	answers   map[string]int
	latencies []time.Duration
	requests  int
	retries   int
	splits    int
}

func newStats() *stats { return &stats{answers: map[string]int{}} }

func (s *stats) answer(kind string, latency time.Duration, timed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.answers[kind]++
	if timed {
		s.latencies = append(s.latencies, latency)
	}
}

func (s *stats) retry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retries++
}

func (s *stats) split() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.splits++
}

func (s *stats) report(outcomes []Outcome, elapsed time.Duration) Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Report{Events: len(outcomes), Requests: s.requests, Retries: s.retries, Splits: s.splits,
		Answers: maps.Clone(s.answers), Seconds: elapsed.Seconds()}
	for _, o := range outcomes {
		switch o.Status {
		case Acked:
			r.Acked++
		case Rejected:
			r.Rejected++
		default:
			r.Failed++
		}
	}
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	r.LatencyP50, r.LatencyP90, r.LatencyP99 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.90)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		r.LatencyMax = ms(lat[len(lat)-1])
	}
	if r.Seconds > 0 {
		r.RequestsPerSecond = float64(r.Requests) / r.Seconds
		r.EventsPerSecond = float64(r.Acked) / r.Seconds
	}
	return r
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteTable writes the report for a person.
func (r Report) WriteTable(w io.Writer) error {
	answers := make([]string, 0, len(r.Answers))
	for k := range r.Answers {
		answers = append(answers, k)
	}
	sort.Strings(answers)
	_, err := fmt.Fprintf(w, "events     %d: %d acknowledged, %d rejected, %d failed\n"+
		"requests   %d (%d retries, %d splits) in %.2fs\n"+
		"rate       %.1f requests/s, %.1f events/s\n"+
		"latency    p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.Events, r.Acked, r.Rejected, r.Failed, r.Requests, r.Retries, r.Splits, r.Seconds,
		r.RequestsPerSecond, r.EventsPerSecond, r.LatencyP50, r.LatencyP90, r.LatencyP99, r.LatencyMax)
	if err != nil {
		return err
	}
	for _, k := range answers {
		if _, err := fmt.Fprintf(w, "answers    %-16s %d\n", k, r.Answers[k]); err != nil {
			return err
		}
	}
	return nil
}
