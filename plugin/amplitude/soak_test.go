package amplitude

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
)

// soakEvents is the soak test's size: small in `go test`, SOAK_EVENTS=100000
// from `make soak`.
func soakEvents(t *testing.T) int {
	if s := os.Getenv("SOAK_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SOAK_EVENTS: %v", err)
		}
		return n
	}
	return 20_000
}

// Currents events through the real mapping and output into an emulator that
// faults 10% of requests, with hot devices that get throttled: no event is
// lost, none is accepted twice, and the only failures are hot devices held
// past max_hold.
func TestSoakLosesAndDuplicatesNothing(t *testing.T) {
	n := soakEvents(t)
	emu := startEmulator(t, emulator.Config{Faults: emulator.Faults{
		Seed: 42, ErrorRate: 0.07, ErrorCodes: []int{500, 502, 503, 504}, IngestBeforeError: true, ResetRate: 0.03,
	}})
	// A limiter a little above Amplitude's 30/s lets hot devices reach
	// the emulator's 429s as well as the limiter's holds.
	p := startPipeline(t, emu.URL, `{limits: {rate: 40, burst: 5, max_hold: 3s}, throttle_pause: 500ms, max_in_flight: 64}`,
		"mapping: |\n  root = content().currents_to_amplitude()\n  root = if root == null { deleted() }")

	cfg := currentsgen.DefaultConfig()
	cfg.Users, cfg.HotDevices, cfg.HotShare = n/4, 3, 0.05
	gen, err := currentsgen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	expected := map[string]string{} // insert_id -> device_id, for events the mapping keeps
	var currents [][]byte
	for range n {
		ev := gen.Next(nil)
		currents = append(currents, ev)
		out, err := mapper.MapRaw(nil, ev)
		switch {
		case errors.Is(err, currentsmap.ErrExcluded):
		case err != nil:
			t.Fatal(err)
		default:
			expected[gjson.GetBytes(out, "insert_id").String()] = gjson.GetBytes(out, "device_id").String()
		}
	}

	start := time.Now()
	p.send(t, currents, 100)
	p.stop()
	elapsed := time.Since(start)

	accepted := map[string]int{}
	for _, ev := range emu.Events() {
		accepted[ev.InsertID]++
	}
	failures := p.capture.snapshot()
	var lost, duplicated, wrongFailures, rateLimited int
	for id, device := range expected {
		switch {
		case accepted[id] > 1 || len(failures[id]) > 1 || (accepted[id] == 1 && len(failures[id]) == 1):
			duplicated++
		case accepted[id] == 1:
		case len(failures[id]) == 1 && strings.HasPrefix(failures[id][0], "amplitude: device_rate_limited: ") && strings.HasPrefix(device, "hot-device-"):
			rateLimited++
		case len(failures[id]) == 1:
			wrongFailures++
			t.Errorf("%s (%s) failed: %s", id, device, failures[id][0])
		default:
			lost++
		}
		delete(accepted, id)
		delete(failures, id)
	}
	s := emu.Stats()
	t.Logf("%d events (%d sent after mapping) in %s: %d rate-limited hot-device events failed, emulator %+v",
		n, len(expected), elapsed.Round(time.Millisecond), rateLimited, s.Requests)
	if lost != 0 || duplicated != 0 || wrongFailures != 0 || len(accepted) != 0 || len(failures) != 0 {
		t.Fatalf("lost %d, duplicated %d, wrong failures %d, unexpected accepted %d, unexpected failures %d",
			lost, duplicated, wrongFailures, len(accepted), len(failures))
	}
	faulted := s.ConnectionResets
	for code, count := range s.Requests {
		if code >= 500 {
			faulted += count
		}
	}
	if faulted == 0 || s.Requests[429] == 0 {
		t.Errorf("the soak did not exercise faults (%d) and throttling (%d)", faulted, s.Requests[429])
	}
}
