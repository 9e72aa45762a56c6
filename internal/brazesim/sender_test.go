package brazesim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// scripted is a receiver whose answer to each request the test decides, from
// the ids in the request and how often they were seen.
type scripted struct {
	mu       sync.Mutex
	attempts map[string]int // by first id of a request
	acked    map[string]int // id -> requests answered 2xx holding it
	sizes    []int
	answer   func(ids []string, attempt int) int
}

func newScripted(t *testing.T, answer func(ids []string, attempt int) int) (*scripted, string) {
	t.Helper()
	s := &scripted{attempts: map[string]int{}, acked: map[string]int{}, answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// Answers below 100 are not HTTP statuses but behaviours.
const (
	hang  = 1 // never answer within the client's timeout
	reset = 2 // close the connection without an answer
)

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Braze-Currents-Version") != "1" {
		http.Error(w, "bad headers", http.StatusUnauthorized)
		return
	}
	var ids []string
	for _, ev := range gjson.GetBytes(body, "events").Array() {
		ids = append(ids, ev.Get("id").String())
	}
	switch status := s.record(ids); status {
	case hang:
		<-r.Context().Done()
	case reset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		http.Error(w, fmt.Sprintf("status %d", status), status)
	}
}

// record counts the request and decides its answer. The lock is released
// even if the script panics, so a broken script fails the test instead of
// blocking every later request.
func (s *scripted) record(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.Join(ids, ",")
	attempt := s.attempts[key]
	s.attempts[key]++
	s.sizes = append(s.sizes, len(ids))
	status := s.answer(ids, attempt)
	if status >= 200 && status < 300 {
		for _, id := range ids {
			s.acked[id]++
		}
	}
	return status
}

func testEvents(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"id":"ev-%d","event_type":"users.messages.email.Open"}`, i)
	}
	return out
}

func testConfig(url string) Config {
	return Config{URL: url, Token: "tok", BatchSize: 100, Concurrency: 4, RequestTimeout: time.Second,
		Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, GiveUpAfter: time.Minute}
}

func TestSend(t *testing.T) {
	tests := []struct {
		name   string
		events int
		answer func(ids []string, attempt int) int
		check  func(t *testing.T, r Report, out []Outcome, s *scripted)
	}{
		{
			name: "batches of up to 100, each acknowledged once", events: 250,
			answer: func([]string, int) int { return 200 },
			check: func(t *testing.T, r Report, out []Outcome, s *scripted) {
				if r.Requests != 3 || r.Retries != 0 || r.Answers["200"] != 3 {
					t.Errorf("requests %d, retries %d, answers %v", r.Requests, r.Retries, r.Answers)
				}
				for _, n := range s.sizes {
					if n > 100 {
						t.Errorf("a request of %d events", n)
					}
				}
			},
		},
		{
			name: "5xx, 429, timeouts and resets are retried until acknowledged", events: 400,
			answer: func(_ []string, attempt int) int {
				// An answer lost to a slow machine brings one more
				// attempt: it is acknowledged, and the counts below fail.
				script := []int{503, 429, hang, reset, 500, 200}
				return script[min(attempt, len(script)-1)]
			},
			check: func(t *testing.T, r Report, _ []Outcome, _ *scripted) {
				for _, k := range []string{"503", "429", "timeout", "connection_error", "500", "200"} {
					if r.Answers[k] != 4 {
						t.Errorf("answers %v: want 4 of %s", r.Answers, k)
					}
				}
				if r.Retries != 20 {
					t.Errorf("%d retries, want 20", r.Retries)
				}
			},
		},
		{
			name: "413 splits in halves down to what fits", events: 100,
			answer: func(ids []string, _ int) int {
				if len(ids) > 30 {
					return 413
				}
				return 200
			},
			check: func(t *testing.T, r Report, _ []Outcome, s *scripted) {
				// 100 -> 50+50 -> 4 x 25.
				if r.Splits != 3 || r.Answers["413"] != 3 || r.Answers["200"] != 4 {
					t.Errorf("splits %d, answers %v", r.Splits, r.Answers)
				}
			},
		},
		{
			name: "400 splits into single events and drops the one still refused", events: 100,
			answer: func(ids []string, _ int) int {
				for _, id := range ids {
					if id == "ev-42" {
						return 400
					}
				}
				return 200
			},
			check: func(t *testing.T, r Report, out []Outcome, _ *scripted) {
				if r.Rejected != 1 || out[42].Status != Rejected || !strings.HasPrefix(out[42].Reason, "400: ") {
					t.Errorf("rejected %d, event 42: %+v", r.Rejected, out[42])
				}
				if r.Answers["200"] != 99 {
					t.Errorf("answers %v: want 99 single-event 200s", r.Answers)
				}
			},
		},
		{
			name: "an event too large alone is rejected", events: 2,
			answer: func(ids []string, _ int) int {
				if ids[len(ids)-1] == "ev-1" {
					return 413
				}
				return 200
			},
			check: func(t *testing.T, r Report, out []Outcome, _ *scripted) {
				if out[0].Status != Acked || out[1].Status != Rejected || r.Splits != 1 {
					t.Errorf("outcomes %+v", out)
				}
			},
		},
		{
			name: "other 4xx are not retried", events: 10,
			answer: func([]string, int) int { return 403 },
			check: func(t *testing.T, r Report, out []Outcome, _ *scripted) {
				if r.Requests != 1 || r.Rejected != 10 || out[0].Reason != "403: status 403" {
					t.Errorf("requests %d, rejected %d, %+v", r.Requests, r.Rejected, out[0])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := newScripted(t, tt.answer)
			events := testEvents(tt.events)
			r, out := Send(context.Background(), testConfig(url), events)
			s.mu.Lock() // the handlers are done, but the race detector cannot know
			defer s.mu.Unlock()
			if r.Events != tt.events || len(out) != tt.events || r.Acked+r.Rejected+r.Failed != tt.events {
				t.Fatalf("report %+v for %d events", r, tt.events)
			}
			for i, o := range out {
				if o.Index != i || o.ID != fmt.Sprintf("ev-%d", i) {
					t.Fatalf("outcome %d: %+v", i, o)
				}
				// The receiver's view agrees: acknowledged events were
				// answered 2xx exactly once, the others never.
				if want := map[string]int{Acked: 1}[o.Status]; s.acked[o.ID] != want {
					t.Fatalf("event %s is %s but was acknowledged %d times", o.ID, o.Status, s.acked[o.ID])
				}
			}
			if r.Requests > 0 && (r.RequestsPerSecond <= 0 || r.LatencyP99 < r.LatencyP50) {
				t.Errorf("rates and latencies %+v", r)
			}
			tt.check(t, r, out, s)
		})
	}
}

func TestSendGivesUp(t *testing.T) {
	_, url := newScripted(t, func([]string, int) int { return 500 })
	cfg := testConfig(url)
	cfg.GiveUpAfter = 50 * time.Millisecond
	r, out := Send(context.Background(), cfg, testEvents(5))
	if r.Failed != 5 || out[0].Status != Failed || !strings.Contains(out[0].Reason, "given up") {
		t.Fatalf("report %+v, outcome %+v", r, out[0])
	}
	if r.Retries == 0 {
		t.Fatal("gave up without retrying")
	}
}

func TestSendStopsWithItsContext(t *testing.T) {
	_, url := newScripted(t, func([]string, int) int { return 503 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r, out := Send(ctx, testConfig(url), testEvents(5))
	if r.Failed != 5 || out[4].Status != Failed {
		t.Fatalf("report %+v, outcome %+v", r, out[4])
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	r := Report{Events: 10, Acked: 9, Rejected: 1, Requests: 3, Answers: map[string]int{"200": 2, "400": 1}, LatencyP99: 12.5}
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"9 acknowledged, 1 rejected, 0 failed", "p99 12.5 ms", "answers    200", "answers    400"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table misses %q:\n%s", want, b.String())
		}
	}
}
