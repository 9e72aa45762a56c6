package amplitude

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

// rawEvent is an event with the given extra members, for one user.
func rawEvent(insertID, members string) []byte {
	return fmt.Appendf(nil, `{"event_type":"e","insert_id":%q,"user_id":"user-%s","time":%d%s}`,
		insertID, insertID, time.Now().UnixMilli(), members)
}

// deep is a value nested n levels.
func deep(n int) string { return strings.Repeat(`{"a":`, n-1) + `[1]` + strings.Repeat(`}`, n-1) }

// The rules Amplitude documents for an event's contents, and the output's
// bound on times, are applied before any byte is sent.
func TestEventsPastAmplitudesDocumentedLimitsFailBeforeSending(t *testing.T) {
	day := 24 * time.Hour
	at := func(id string, ms int64) []byte {
		return fmt.Appendf(nil, `{"event_type":"e","insert_id":%q,"user_id":"user-12345","time":%d}`, id, ms)
	}
	ahead := func(d time.Duration) int64 { return time.Now().Add(d).UnixMilli() }
	cases := []struct {
		name   string
		fields string
		event  []byte
		reason string // "" when it is sent
	}{
		{name: "event_properties 40 levels deep", event: rawEvent("deep-40", `,"event_properties":`+deep(40))},
		{name: "event_properties 41 levels deep", event: rawEvent("deep-41", `,"event_properties":`+deep(41)), reason: "too_deep"},
		{name: "user_properties 41 levels deep", event: rawEvent("user-deep-41", `,"user_properties":`+deep(41)), reason: "too_deep"},
		{name: "an event name Amplitude reserves", event: []byte(`{"event_type":"[Amplitude] Revenue (Verified)","insert_id":"reserved","user_id":"user-12345"}`), reason: "invalid_event_type"},
		{name: "a user_id longer than 1024 characters", event: []byte(`{"event_type":"e","insert_id":"long-id","user_id":"` + strings.Repeat("u", 1025) + `"}`), reason: "invalid_id"},
		{name: "an id shorter than min_id_length", event: event("short-id", "abcd", ""), reason: "invalid_id_length"},
		{name: "microseconds sent as milliseconds", event: at("micros", 1700000000123000), reason: "invalid_time"},
		{name: "seconds times a million", event: at("seconds-1e6", 1700000000*1_000_000), reason: "invalid_time"},
		{name: "past the year 9999", event: at("year-10000", 253402300800000), reason: "invalid_time"},
		{name: "the year 2500, with no max_future by default", event: at("year-2500", time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())},
		{name: "two days ahead, max_future 24h", fields: `{max_future: 24h}`, event: at("two-days", ahead(2*day)), reason: "invalid_time"},
		{name: "an hour ahead, max_future 24h", fields: `{max_future: 24h}`, event: at("an-hour", ahead(time.Hour))},
		{name: "an hour ahead, max_future 30m", fields: `{max_future: 30m}`, event: at("an-hour-30m", ahead(time.Hour)), reason: "invalid_time"},
		{name: "past the year 9999 with max_future set", fields: `{max_future: 24h}`, event: at("year-10000-24h", 253402300800000), reason: "invalid_time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			emu := startEmulator(t, emulator.Config{})
			p := startPipeline(t, emu.URL, c.fields)
			p.send(t, [][]byte{c.event}, 1)
			p.stop()
			var fail map[string]string
			id := insertIDOf(c.event)
			if c.reason != "" {
				fail = map[string]string{id: c.reason}
				if n := len(emu.Stats().Requests); n != 0 {
					t.Errorf("requests were sent: %v", emu.Stats().Requests)
				}
				if got := p.metrics.sum("amplitude_events_failed", "reason="+c.reason); got != 1 {
					t.Errorf("amplitude_events_failed{reason=%s} is %d, want 1", c.reason, got)
				}
			}
			expectOutcomes(t, emu, p, [][]byte{c.event}, fail)
		})
	}
}

func insertIDOf(ev []byte) string {
	_, rest, _ := strings.Cut(string(ev), `"insert_id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// Amplitude truncates string values past 1024 characters rather than
// refusing the event: the output sends them unchanged and counts them.
func TestStringsAmplitudeTruncatesAreSentAndCounted(t *testing.T) {
	emu := startEmulator(t, emulator.Config{})
	p := startPipeline(t, emu.URL, "")
	long := strings.Repeat("x", 1025)
	sent := [][]byte{
		rawEvent("two-long", `,"event_properties":{"a":"`+long+`","b":["`+long+`"]}`),
		rawEvent("one-long", `,"user_properties":{"c":"`+long+`é"}`),
		rawEvent("at-the-limit", `,"event_properties":{"a":"`+long[1:]+`"}`),
	}
	p.send(t, sent, 3)
	p.stop()
	expectOutcomes(t, emu, p, sent, nil)
	for _, ev := range emu.Events() {
		if i := slices.IndexFunc(sent, func(s []byte) bool { return insertIDOf(s) == ev.InsertID }); string(ev.Raw) != string(sent[i]) {
			t.Errorf("%s arrived changed", ev.InsertID)
		}
	}
	if got := p.metrics.sum("amplitude_truncated_values"); got != 3 {
		t.Errorf("amplitude_truncated_values is %d, want 3", got)
	}
	if got := emu.Stats().StringsTruncated; got != 3 {
		t.Errorf("the emulator truncated %d strings, want 3", got)
	}
}

// Short external ids are common in Braze data: each one fails with its
// reason, and the log says, at most once per log_interval, which setting
// decides it.
func TestIDsShorterThanMinIDLengthAreReportedNamingTheSetting(t *testing.T) {
	emu := startEmulator(t, emulator.Config{})
	p := startPipeline(t, emu.URL, `{log_interval: 1h}`)
	var sent [][]byte
	fail := map[string]string{}
	for i := range 30 {
		id := fmt.Sprintf("short-%d", i)
		sent = append(sent, event(id, fmt.Sprintf("u%d", i), ""))
		fail[id] = "invalid_id_length"
	}
	sent = append(sent, events("long", 10)...)
	p.send(t, sent, 4)
	p.stop()
	expectOutcomes(t, emu, p, sent, fail)
	if got := p.metrics.sum("amplitude_events_failed", "reason=invalid_id_length"); got != 30 {
		t.Errorf("amplitude_events_failed{reason=invalid_id_length} is %d, want 30", got)
	}
	logs := p.logs.String()
	if n := strings.Count(logs, "events failed since the last report for ids shorter than min_id_length 5"); n != 1 {
		t.Errorf("%d warnings about min_id_length within one log_interval, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "lower the output's min_id_length") {
		t.Errorf("no warning naming the setting:\n%s", logs)
	}
}

// Every metric the output registers is in its documentation.
func TestEveryMetricIsDocumented(t *testing.T) {
	emu := startEmulator(t, emulator.Config{})
	p := startPipeline(t, emu.URL, "")
	p.send(t, events("metrics", 1), 1)
	p.stop()
	documented := map[string]bool{}
	for _, d := range metricDocs {
		documented[d[0]] = true
	}
	var registered []string
	for _, name := range p.metrics.names() {
		if strings.HasPrefix(name, "amplitude_") {
			registered = append(registered, name)
			if !documented[name] {
				t.Errorf("%s is not documented", name)
			}
		}
	}
	if len(registered) != len(metricDocs) {
		t.Errorf("registered %v, documented %d", registered, len(metricDocs))
	}
}

// Settings that cannot work are refused with an error naming the field.
func TestBadSettingsAreRefusedNamingTheField(t *testing.T) {
	for _, tt := range []struct{ config, field string }{
		{`{api_key: k, max_future: -1s}`, "max_future"},
		{`{api_key: k, min_id_length: 0}`, "min_id_length"},
		{`{api_key: k, limits: {on_hold_timeout: later}}`, "on_hold_timeout"},
	} {
		t.Run(tt.config, func(t *testing.T) {
			conf, err := outputSpec().ParseYAML(tt.config, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newOutput(conf, service.MockResources()); err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want an error naming %s", err, tt.field)
			}
		})
	}
}
