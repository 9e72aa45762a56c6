package amplitude

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

// The test_redeliver input stands for a source that redelivers what its
// consumer nacks, as Braze resends a request answered with an error: each
// batch comes back a little later until it is acknowledged.
var sources sync.Map // name -> *redeliverer

type redeliverer struct {
	mu      sync.Mutex
	pending []service.MessageBatch
	ready   chan struct{} // a batch was queued
	nacks   map[string]int
	acked   int
	done    chan struct{} // every batch acknowledged
	total   int
}

func init() {
	err := service.RegisterBatchInput("test_redeliver",
		service.NewConfigSpec().Field(service.NewStringField("name")),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchInput, error) {
			name, err := conf.FieldString("name")
			if err != nil {
				return nil, err
			}
			r, ok := sources.Load(name)
			if !ok {
				return nil, fmt.Errorf("no source %q", name)
			}
			return r.(*redeliverer), nil
		})
	if err != nil {
		panic(err)
	}
}

func newRedeliverer(batches []service.MessageBatch) *redeliverer {
	r := &redeliverer{pending: batches, ready: make(chan struct{}, len(batches)), nacks: map[string]int{},
		done: make(chan struct{}), total: len(batches)}
	for range batches {
		r.ready <- struct{}{}
	}
	return r
}

func (r *redeliverer) Connect(context.Context) error { return nil }
func (r *redeliverer) Close(context.Context) error   { return nil }

func (r *redeliverer) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	r.mu.Lock()
	b := r.pending[0]
	r.pending = r.pending[1:]
	r.mu.Unlock()
	return b.Copy(), func(_ context.Context, err error) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if err == nil {
			if r.acked++; r.acked == r.total {
				close(r.done)
			}
			return nil
		}
		for _, m := range b {
			raw, _ := m.AsBytes()
			var ev struct {
				InsertID string `json:"insert_id"`
			}
			_ = json.Unmarshal(raw, &ev)
			r.nacks[ev.InsertID]++
		}
		time.AfterFunc(20*time.Millisecond, func() { // the sender's retry delay
			r.mu.Lock()
			r.pending = append(r.pending, b)
			r.mu.Unlock()
			r.ready <- struct{}{}
		})
		return nil
	}, nil
}

// An event held past max_hold for its device's rate is dead-lettered by
// default; with on_hold_timeout: nack it fails with reason nack, the
// documented switch rejects it, the input's source gets the nack and
// delivers it again, until it goes. Failures for good still go to the dead
// letter either way.
func TestEventsHeldPastMaxHoldAreNackedForTheSourceToDeliverAgain(t *testing.T) {
	for _, tt := range []struct {
		onHoldTimeout string
		nacked        bool
	}{
		{onHoldTimeout: "dead_letter"},
		{onHoldTimeout: "nack", nacked: true},
	} {
		t.Run(tt.onHoldTimeout, func(t *testing.T) {
			emu := startEmulator(t, emulator.Config{})
			// One device sends 8 events at once; at 20 per second with a
			// burst of 1, all but the first wait longer than max_hold.
			var sent []service.MessageBatch
			var all [][]byte
			for i := range 8 {
				ev := event(fmt.Sprintf("hot-%d", i), "user-hot", "device-hot")
				all = append(all, ev)
				sent = append(sent, service.MessageBatch{service.NewMessage(ev)})
			}
			for _, ev := range append(events("cool", 4), event("short", "abc", "")) {
				all = append(all, ev)
				sent = append(sent, service.MessageBatch{service.NewMessage(ev)})
			}
			src := newRedeliverer(sent)
			name := fmt.Sprintf("nack-%s-%d", tt.onHoldTimeout, pipelines.Add(1))
			sources.Store(name, src)
			p := startNackPipeline(t, name, emu.URL, fmt.Sprintf(`{max_in_flight: 16, limits: {rate: 20, burst: 1, max_hold: 10ms, on_hold_timeout: %s}}`, tt.onHoldTimeout))

			select {
			case <-src.done:
			case <-time.After(time.Minute): // a hang, not a slow run
				t.Fatalf("%d of %d batches acknowledged", src.acked, src.total)
			}
			p.stop()

			fail := map[string]string{"short": "invalid_id_length"}
			src.mu.Lock()
			nacks := src.nacks
			src.mu.Unlock()
			if tt.nacked {
				if len(nacks) == 0 {
					t.Fatal("no event was nacked: the test did not exercise the hold")
				}
				for id := range nacks {
					if !strings.HasPrefix(id, "hot-") {
						t.Errorf("%s was nacked", id)
					}
				}
				if got := p.metrics.sum("amplitude_events_failed", "reason=nack"); got != int64(sumOf(nacks)) {
					t.Errorf("amplitude_events_failed{reason=nack} is %d, the source saw %d nacks", got, sumOf(nacks))
				}
			} else {
				if len(nacks) != 0 {
					t.Errorf("nacked %v with on_hold_timeout: dead_letter", nacks)
				}
				// Batches reach the output in no fixed order, and a slow
				// machine may space them past the rate's interval: whichever
				// hot events went, the others must fail with the device's
				// rate, and the hold must have refused at least one.
				went := map[string]bool{}
				for _, ev := range emu.Events() {
					went[ev.InsertID] = true
				}
				accepted := 0
				for i := range 8 {
					id := fmt.Sprintf("hot-%d", i)
					if went[id] {
						accepted++
						continue
					}
					fail[id] = "device_rate_limited"
				}
				if accepted == 0 || accepted == 8 {
					t.Fatalf("%d of 8 hot events went: want the first at once and the hold to refuse some", accepted)
				}
			}
			expectOutcomes(t, emu, p, all, fail)
		})
	}
}

func sumOf(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// startNackPipeline runs test_redeliver into the documented nack pattern:
// `fallback: [amplitude, switch: [nack: reject, else: dead letter]]`.
func startNackPipeline(t *testing.T, name, url, fields string) *pipeline {
	t.Helper()
	p, sb := newPipeline(t, name)
	if err := sb.AddInputYAML(fmt.Sprintf(`test_redeliver: {name: %s}`, name)); err != nil {
		t.Fatal(err)
	}
	err := sb.AddOutputYAML(fmt.Sprintf(`
fallback:
  - amplitude: %s
  - switch:
      cases:
        - check: '@fallback_error.has_prefix("amplitude: nack: ")'
          output:
            reject: '${! @fallback_error }'
        - output:
            test_capture: {name: %s}
`, amplitudeConfig(t, url, fields), name))
	if err != nil {
		t.Fatal(err)
	}
	p.run(t, sb)
	return p
}
