package brazesim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// Config is how the simulated connector sends.
type Config struct {
	URL            string
	Token          string // sent as Authorization: Bearer <token>; "" sends none
	BatchSize      int    // events per request; Braze sends up to 100
	Concurrency    int    // requests at once
	RequestTimeout time.Duration
	Backoff        time.Duration // first wait before a retry; waits double, with jitter
	MaxBackoff     time.Duration
	GiveUpAfter    time.Duration // a batch still failing this long after its first try is given up
	Client         *http.Client  // nil: a client sized for Concurrency
}

// DefaultConfig is Braze's shape of traffic with quick retries.
func DefaultConfig() Config {
	return Config{BatchSize: 100, Concurrency: 8, RequestTimeout: 30 * time.Second,
		Backoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, GiveUpAfter: 10 * time.Minute}
}

// The final status of each event.
const (
	Acked    = "acked"    // a 2xx answered a request holding it
	Rejected = "rejected" // a 400 or 413 alone, or another 4xx: Braze drops it
	Failed   = "failed"   // still failing when given up
)

// Outcome is what became of one event.
type Outcome struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Send posts every event and returns the report and each event's outcome,
// in the order of events. It ends early, with the unsent events failed, when
// ctx ends.
func Send(ctx context.Context, cfg Config, events [][]byte) (Report, []Outcome) {
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 1
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Concurrency,
			IdleConnTimeout:     time.Minute,
		}}
	}
	s := &sender{cfg: cfg, client: client, events: events, outcomes: make([]Outcome, len(events)), stats: newStats()}
	for i, ev := range events {
		s.outcomes[i] = Outcome{Index: i, ID: gjson.GetBytes(ev, "id").String()}
	}

	batches := make(chan []int)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				s.deliver(ctx, rng, batch, time.Now().Add(cfg.GiveUpAfter))
			}
		}()
	}
	start := time.Now()
	for lo := 0; lo < len(events); lo += cfg.BatchSize {
		hi := min(lo+cfg.BatchSize, len(events))
		batch := make([]int, hi-lo)
		for k := range batch {
			batch[k] = lo + k
		}
		batches <- batch
	}
	close(batches)
	wg.Wait()
	return s.stats.report(s.outcomes, time.Since(start)), s.outcomes
}

type sender struct {
	cfg      Config
	client   *http.Client
	events   [][]byte
	outcomes []Outcome // each index is written by the one worker holding it
	stats    *stats
}

// deliver sends one batch until it is acknowledged, rejected or given up,
// splitting it as Braze does.
func (s *sender) deliver(ctx context.Context, rng *rand.Rand, batch []int, giveUp time.Time) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.stats.retry()
			wait := s.backoff(rng, attempt)
			if time.Now().Add(wait).After(giveUp) {
				s.settle(batch, Failed, "given up after "+s.cfg.GiveUpAfter.String())
				return
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				s.settle(batch, Failed, ctx.Err().Error())
				return
			}
		}
		status, text := s.post(ctx, batch)
		switch {
		case status >= 200 && status < 300:
			s.settle(batch, Acked, "")
			return
		case status == http.StatusBadRequest && len(batch) > 1:
			s.stats.split()
			for _, i := range batch {
				s.deliver(ctx, rng, []int{i}, giveUp)
			}
			return
		case status == http.StatusRequestEntityTooLarge && len(batch) > 1:
			s.stats.split()
			half := len(batch) / 2
			s.deliver(ctx, rng, batch[:half], giveUp)
			s.deliver(ctx, rng, batch[half:], giveUp)
			return
		case retryable(status):
			if ctx.Err() != nil {
				s.settle(batch, Failed, ctx.Err().Error())
				return
			}
			continue
		default:
			s.settle(batch, Rejected, strconv.Itoa(status)+": "+text)
			return
		}
	}
}

// retryable: 5xx, 429 and no answer at all (status 0: a timeout or a
// connection error).
func retryable(status int) bool {
	return status == 0 || status == http.StatusTooManyRequests || status >= 500
}

func (s *sender) backoff(rng *rand.Rand, attempt int) time.Duration {
	d := s.cfg.Backoff << min(attempt-1, 30)
	if d <= 0 || d > s.cfg.MaxBackoff {
		d = s.cfg.MaxBackoff
	}
	return d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
}

func (s *sender) settle(batch []int, status, reason string) {
	for _, i := range batch {
		s.outcomes[i].Status, s.outcomes[i].Reason = status, reason
	}
}

// post sends one envelope and returns the status (0 when no answer came) and
// the start of the answer's text.
func (s *sender) post(ctx context.Context, batch []int) (int, string) {
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	for k, i := range batch {
		if k > 0 {
			body.WriteByte(',')
		}
		body.Write(s.events[i])
	}
	body.WriteString(`]}`)

	reqCtx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, s.cfg.URL, &body)
	if err != nil {
		s.stats.answer("error", 0, false)
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Braze-Currents-Version", "1")
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		timedOut := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if timedOut {
			s.stats.answer("timeout", time.Since(start), true)
		} else {
			s.stats.answer("connection_error", 0, false)
		}
		return 0, err.Error()
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
	resp.Body.Close()
	s.stats.answer(strconv.Itoa(resp.StatusCode), time.Since(start), true)
	return resp.StatusCode, string(bytes.TrimSpace(text))
}
