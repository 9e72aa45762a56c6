package amplitude

import (
	"fmt"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	_ "github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)

// The currents_to_amplitude processor hands the output the fields it wrote
// (handoff.With), and the output checks them instead of reading the event
// again. The checks that depend on the output's options must still apply,
// and an event changed after the processor must be read again.
func TestEventsFromTheMappingProcessorGetEveryCheckOfTheOutput(t *testing.T) {
	currents := func(id, user string) []byte {
		return fmt.Appendf(nil, `{"event_type":"users.messages.email.Open","id":%q,"time":1700000000,`+
			`"user":{"external_user_id":%q,"device_id":"device-%s"},"properties":{"campaign_name":"Welcome"}}`, id, user, id)
	}
	// Only insert_id matters to expectOutcomes.
	insertIDs := func(ids ...string) (out [][]byte) {
		for _, id := range ids {
			out = append(out, fmt.Appendf(nil, `{"insert_id":%q}`, id))
		}
		return out
	}
	for _, tt := range []struct {
		name       string
		fields     string
		processors []string
		fail       map[string]string
	}{
		{
			name:       "the output's min_id_length applies to the ids the processor wrote",
			fields:     `{min_id_length: 6}`,
			processors: []string{`currents_to_amplitude: {}`},
			fail:       map[string]string{"event-short": "invalid_id_length"},
		},
		{
			name:   "an event changed after the processor is read again",
			fields: `{}`,
			processors: []string{`currents_to_amplitude: {}`,
				`mutation: 'root.event_type = if this.insert_id == "event-short" { "" } else { this.event_type }'`},
			fail: map[string]string{"event-short": "missing_event_type"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu := startEmulator(t, emulator.Config{})
			p := startPipeline(t, emu.URL, tt.fields, tt.processors...)
			p.send(t, [][]byte{currents("event-long", "user-long"), currents("event-short", "abcde")}, 2)
			p.stop()
			expectOutcomes(t, emu, p, insertIDs("event-long", "event-short"), tt.fail)
		})
	}
}
