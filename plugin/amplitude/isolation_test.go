package amplitude

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

// arrivals records when the emulator accepted each event.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time // insert_id -> acceptance time
	n  map[string]int       // insert_id -> times accepted
}

func (a *arrivals) Record(events []emulator.Event) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range events {
		id := strings.Clone(ev.InsertID)
		a.at[id] = now
		a.n[id]++
	}
}

// isolationRun is what one run of the isolation scenario measured.
type isolationRun struct {
	p50, p99  time.Duration // delivery latency of the normal devices' events
	sent      int
	held      int // hot-device events failed as device_rate_limited
	throttled int64
}

// runIsolation sends, for the given duration, one event per second from each
// of 1,000 devices and, if hot, 100 times Amplitude's HTTP V2 rate (3,000
// events/s) from one more device, mixed into the same batches, through a
// real stream into an emulator that enforces Amplitude's limits.
func runIsolation(t *testing.T, hot bool, duration time.Duration) isolationRun {
	t.Helper()
	rec := &arrivals{at: map[string]time.Time{}, n: map[string]int{}}
	emu := startEmulator(t, emulator.Config{Recorder: rec})
	p := startPipeline(t, emu.URL, `{max_in_flight: 1024, limits: {max_hold: 1s}}`)

	const devices, hotPerSecond, tick = 1000, 3000, 10 * time.Millisecond
	produced := map[string]time.Time{}
	normal := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, int(duration/tick)+1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	seq := 0
	for start := time.Now(); time.Since(start) < duration; <-ticker.C {
		var batch [][]byte
		for range devices * int(tick) / int(time.Second) {
			id := fmt.Sprintf("normal-%06d", seq)
			d := seq % devices
			batch = append(batch, event(id, fmt.Sprintf("user-%04d", d), fmt.Sprintf("device-%04d", d)))
			normal[id] = true
			seq++
		}
		if hot {
			for range hotPerSecond * int(tick) / int(time.Second) {
				batch = append(batch, event(fmt.Sprintf("hot-%06d", seq), "hot-user", "hot-device"))
				seq++
			}
			rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		}
		msgs := make(service.MessageBatch, len(batch))
		now := time.Now()
		for i, ev := range batch {
			msgs[i] = service.NewMessage(ev)
			produced[gjson.GetBytes(ev, "insert_id").String()] = now
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.produce(ctx, msgs); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a batch was not acknowledged: %v", err)
	}
	p.stop()

	failures := p.capture.snapshot()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	run := isolationRun{sent: len(produced), throttled: emu.Stats().ThrottledIDs.Count}
	var latencies []time.Duration
	for id, at := range produced {
		fails := failures[id]
		switch {
		case rec.n[id] == 1 && len(fails) == 0:
			if normal[id] {
				latencies = append(latencies, rec.at[id].Sub(at))
			}
		case rec.n[id] == 0 && !normal[id] && len(fails) == 1 && strings.HasPrefix(fails[0], "amplitude: device_rate_limited: "):
			run.held++
		default:
			t.Errorf("%s: accepted %d times, failures %q", id, rec.n[id], fails)
		}
	}
	slices.Sort(latencies)
	run.p50 = latencies[len(latencies)/2]
	run.p99 = latencies[len(latencies)*99/100]
	return run
}

// A device sending 100 times its rate slows only itself: no 429 reaches
// Amplitude's other users, and the other devices' events arrive as fast as
// without it.
func TestAHotDeviceSlowsOnlyItself(t *testing.T) {
	const duration = 3 * time.Second
	calm := runIsolation(t, false, duration)
	hot := runIsolation(t, true, duration)
	t.Logf("without the hot device: %d events, latency p50 %v p99 %v", calm.sent, calm.p50, calm.p99)
	t.Logf("with the hot device:    %d events, latency p50 %v p99 %v; %d hot events failed device_rate_limited, %d ids throttled by the emulator",
		hot.sent, hot.p50, hot.p99, hot.held, hot.throttled)

	if hot.throttled != 0 || calm.throttled != 0 {
		t.Errorf("the emulator throttled %d ids (%d without the hot device): the limiter let a device past Amplitude's rate", hot.throttled, calm.throttled)
	}
	if hot.held == 0 {
		t.Errorf("no hot-device event was held back: the scenario did not exceed the rate")
	}
	// Generous margins: the hot device's events cost CPU even when refused,
	// and CI runs this under the race detector beside other packages.
	if bound := 3*calm.p99 + 250*time.Millisecond; hot.p99 > bound {
		t.Errorf("p99 latency of normal devices rose from %v to %v with a hot device, above the bound %v", calm.p99, hot.p99, bound)
	}
}
