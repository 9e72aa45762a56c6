package amplitude

import (
	"testing"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

// Benthos hands a batch of one message the batch's error, not the message's:
// a dead letter of one event must still say why that event failed, whether
// the output refused it or Amplitude did.
func TestEveryDeadLetterLineCarriesItsEventsOwnReason(t *testing.T) {
	emu := startEmulator(t, emulator.Config{Faults: emulator.Faults{SilencedDevices: []string{"device-quiet"}}})
	p := startPipeline(t, emu.URL, "")
	sent := [][]byte{
		event("short", "abc", ""),
		event("silenced", "user-quiet", "device-quiet"),
		[]byte(`{"insert_id":"untyped","user_id":"user-12345"}`),
		event("fine", "user-fine", "device-fine"),
	}
	p.send(t, sent, 1)
	p.stop()
	expectOutcomes(t, emu, p, sent, map[string]string{"short": "invalid_id_length", "silenced": "silenced_device", "untyped": "missing_event_type"})
}
