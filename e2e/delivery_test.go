package e2e

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/brazesim"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
)

// Devices the emulator answers as silenced: their events come back from
// Amplitude as failed and must land in the dead-letter file. The generator
// gives user N the devices device-N-0 and device-N-1.
const silencedDevices = "device-3-0,device-7-1"

// simFlags are Braze's behaviour with quick retries, so the tests stay short.
var simFlags = []string{"-concurrency", "4", "-backoff", "50ms", "-max-backoff", "1s", "-timeout", "20s", "-give-up", "90s"}

// workload is a mixed set of Currents events made from Braze's Custom HTTP
// examples: identified and anonymous users, one event type without any user
// id, and users on silenced devices.
func workload(t *testing.T, n int, seed uint64) [][]byte {
	t.Helper()
	g, err := currentsgen.New(currentsgen.Config{Seed: seed, Users: 300, AnonymousShare: 0.05,
		StartTime: time.Now().Unix(), PerSecond: 1000, Userless: true})
	if err != nil {
		t.Fatal(err)
	}
	return g.Events(n)
}

// The fate each event must meet, from the mapping the config uses.
type fate int

const (
	delivered      fate = iota // in the emulator exactly once
	excluded                   // left out by the mapping (anonymous user): nowhere
	mappingFailed              // dead-lettered with the mapping's "currents event ..." reason
	amplitudeFails             // dead-lettered with the amplitude output's reason
)

func expectedFates(t *testing.T, events [][]byte) map[string]fate {
	t.Helper()
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	silenced := map[string]bool{}
	for _, d := range strings.Split(silencedDevices, ",") {
		silenced[d] = true
	}
	fates := map[string]fate{}
	for _, ev := range events {
		id := gjson.GetBytes(ev, "id").String()
		_, err := m.MapRaw(nil, ev)
		switch {
		case errors.Is(err, currentsmap.ErrExcluded):
			fates[id] = excluded
		case err != nil:
			fates[id] = mappingFailed
		case silenced[gjson.GetBytes(ev, "user.device_id").String()]:
			fates[id] = amplitudeFails
		default:
			fates[id] = delivered
		}
	}
	return fates
}

// checkEveryEvent asserts each event's fate: Braze saw every request
// acknowledged, and every event is in the emulator exactly once or in the
// dead-letter file with its reason; nothing else arrived anywhere.
// A crash may write an event's dead letter twice, never with another reason.
func checkEveryEvent(t *testing.T, events [][]byte, outcomes []brazesim.Outcome, recorded map[string]int, dead map[string][]string, crashed bool) {
	t.Helper()
	fates := expectedFates(t, events)
	if len(outcomes) != len(events) {
		t.Fatalf("braze-sim reported %d outcomes for %d events", len(outcomes), len(events))
	}
	for _, o := range outcomes {
		if o.Status != brazesim.Acked {
			t.Errorf("Braze's request for event %s was not acknowledged: %s %s", o.ID, o.Status, o.Reason)
		}
	}
	count := map[fate]int{}
	for id, f := range fates {
		count[f]++
		n, reasons := recorded[id], dead[id]
		switch f {
		case delivered:
			if n != 1 || len(reasons) != 0 {
				t.Errorf("event %s: recorded %d times, dead letters %q; want recorded once", id, n, reasons)
			}
		case excluded:
			if n != 0 || len(reasons) != 0 {
				t.Errorf("excluded event %s: recorded %d times, dead letters %q; want neither", id, n, reasons)
			}
		case mappingFailed, amplitudeFails:
			prefix := map[fate]string{mappingFailed: "currents event ", amplitudeFails: "amplitude: " + ampapi.ReasonSilenced + ": "}[f]
			if n != 0 || len(reasons) == 0 || (!crashed && len(reasons) != 1) {
				t.Errorf("event %s: recorded %d times, dead letters %q; want one dead letter", id, n, reasons)
			}
			for _, r := range reasons {
				if !strings.HasPrefix(r, prefix) {
					t.Errorf("event %s: dead-letter reason %q, want %q...", id, r, prefix)
				}
			}
		}
	}
	for id := range recorded {
		if _, ok := fates[id]; !ok {
			t.Errorf("the emulator recorded an unknown insert_id %q", id)
		}
	}
	for id := range dead {
		if _, ok := fates[id]; !ok {
			t.Errorf("an unknown event %q is in the dead-letter file", id)
		}
	}
	// The workload must exercise every path, or the test proves little.
	for f, name := range map[fate]string{delivered: "delivered", excluded: "excluded", mappingFailed: "mapping failures", amplitudeFails: "Amplitude failures"} {
		if count[f] == 0 {
			t.Errorf("the workload has no %s", name)
		}
	}
	t.Logf("%d events: %d delivered, %d excluded, %d dead-lettered by the mapping, %d by Amplitude",
		len(events), count[delivered], count[excluded], count[mappingFailed], count[amplitudeFails])
}

func TestEveryEventDeliveredOnceOrDeadLettered(t *testing.T) {
	events := workload(t, 3000, 11)
	emu := startEmulator(t, "-silence", silencedDevices)
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	rcv := startReceiver(t, receiverEnv{Address: "127.0.0.1:0", Token: e2eToken, Endpoint: emu.URL + "/2/httpapi", DeadLetter: deadLetter})

	report, outcomes := startSim(t, rcv.URL, e2eToken, events, simFlags...).wait(t)
	t.Logf("braze-sim: %+v", report)
	rcv.stop(t)
	checkEveryEvent(t, events, outcomes, emu.recordedInsertIDs(t), deadLetters(t, deadLetter), false)
}

// The same, with the emulator failing, resetting and stalling requests, and
// the receiver killed with SIGKILL mid-run and started again.
func TestEveryEventSurvivesFaultsAndACrash(t *testing.T) {
	events := workload(t, 6000, 12)
	emu := startEmulator(t, "-silence", silencedDevices, "-seed", "3",
		"-error-rate", "0.05", "-ingest-before-error", "-reset-rate", "0.02", "-slow-rate", "0.02", "-slow-delay", "1s")
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	env := receiverEnv{Address: "127.0.0.1:0", Token: e2eToken, Endpoint: emu.URL + "/2/httpapi", DeadLetter: deadLetter}
	rcv := startReceiver(t, env)

	sim := startSim(t, rcv.URL, e2eToken, events, simFlags...)
	waitIngested(t, emu, int64(len(events)/5))
	restarted := crashMidRun(t, rcv, sim, func(address string) *receiverProc {
		env.Address = address
		return startReceiver(t, env)
	})

	report, outcomes := sim.wait(t)
	t.Logf("braze-sim: %+v", report)
	if report.Answers["connection_error"] == 0 {
		t.Error("braze-sim saw no connection error: the crash went unnoticed")
	}
	restarted.stop(t)
	stats := emu.stats(t)
	t.Logf("emulator: requests by status %v, %d connection resets, %d events deduplicated", stats.Requests, stats.ConnectionResets, stats.EventsDeduplicated)
	checkEveryEvent(t, events, outcomes, emu.recordedInsertIDs(t), deadLetters(t, deadLetter), true)
}

// waitIngested waits until the emulator has accepted n events.
func waitIngested(t *testing.T, emu *emulatorProc, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for emu.stats(t).EventsIngested < n {
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not ingest %d events: %+v", n, emu.stats(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
