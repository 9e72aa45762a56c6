package ampapi

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// nested is a value n levels deep: n-1 objects around an array.
func nested(n int) string {
	return strings.Repeat(`{"a":`, n-1) + `[1]` + strings.Repeat(`}`, n-1)
}

// TestChecksFollowAmplitudesDocumentedEventLimits: each rule Amplitude
// documents for an event's contents (see shape.go, and MaxTimeMillis), at
// its bound and past it.
func TestChecksFollowAmplitudesDocumentedEventLimits(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	rules := Rules{MinIDLength: 5, MaxBytes: 1 << 20, MaxFuture: 24 * time.Hour, Now: now}
	event := func(fields string) string {
		return `{"event_type":"[Appboy] Email Open","user_id":"user-1","time":1735786800000` + fields + `}`
	}
	long := func(chars int, unit string) string { return strings.Repeat(unit, chars) }
	cases := []struct {
		name, event, reason, field, detail string
		longStrings                        int
	}{
		// "Object depth may not exceed 40 layers."
		{name: "event_properties 40 levels deep", event: event(`,"event_properties":` + nested(40))},
		{name: "event_properties 41 levels deep", event: event(`,"event_properties":` + nested(41)),
			reason: ReasonTooDeep, field: "event_properties", detail: "event_properties nests 41 levels deep; Amplitude allows at most 40"},
		{name: "user_properties 41 levels deep, arrays counted", event: event(`,"user_properties":` + strings.Repeat(`[`, 41) + strings.Repeat(`]`, 41)),
			reason: ReasonTooDeep, field: "user_properties", detail: "user_properties nests 41 levels deep; Amplitude allows at most 40"},
		{name: "other fields may nest deeper", event: event(`,"groups":` + nested(45) + `,"event_properties":{}`)},
		{name: "brackets inside strings are not nesting", event: event(`,"event_properties":{"p":"` + strings.Repeat("{[", 60) + `"}`)},

		// "Amplitude reserves the following event names for internal use".
		{name: "[Amplitude] Revenue is reserved", event: `{"event_type":"[Amplitude] Revenue","user_id":"user-1"}`,
			reason: ReasonInvalidEventType, field: "event_type", detail: `event_type "[Amplitude] Revenue" is reserved for Amplitude's own use`},
		{name: "[Amplitude] Merged User is reserved", event: `{"event_type":"[Amplitude] Merged User","user_id":"user-1"}`, reason: ReasonInvalidEventType},
		{name: "an escaped reserved name is reserved", event: `{"event_type":"[Amplitude] Start Sessio\u006e","user_id":"user-1"}`, reason: ReasonInvalidEventType},
		{name: "other [Amplitude] names are the SDKs' and accepted", event: `{"event_type":"[Amplitude] Page Viewed","user_id":"user-1"}`},
		{name: "reserved names are matched exactly", event: `{"event_type":"[amplitude] revenue","user_id":"user-1"}`},

		// "All string values ... have a character limit of 1024 characters";
		// "Amplitude truncates any values exceeding these limits."
		{name: "a property of 1024 characters", event: event(`,"event_properties":{"p":"` + long(1024, "é") + `"}`)},
		{name: "a property of 1025 characters is counted", event: event(`,"event_properties":{"p":"` + long(1025, "x") + `"}`), longStrings: 1},
		{name: "every long value counts, in arrays and user_properties too",
			event:       event(`,"event_properties":{"a":["` + long(2000, "x") + `","` + long(1025, "€") + `"]},"user_properties":{"b":"` + long(1100, "y") + `"}`),
			longStrings: 3},
		{name: "escapes count as the character they stand for", event: event(`,"event_properties":{"p":"` + long(1024, `\u00e9`) + `"}`)},
		{name: "a long escaped value is counted", event: event(`,"event_properties":{"p":"` + long(1025, `\n`) + `"}`), longStrings: 1},
		{name: "a long key is no value", event: event(`,"event_properties":{"` + long(1500, "k") + `":1}`)},
		{name: "a long event_type is counted", event: `{"event_type":"` + long(1025, "e") + `","user_id":"user-1"}`, longStrings: 1},
		{name: "a user_id of 1024 characters", event: `{"event_type":"e","user_id":"` + long(1024, "u") + `"}`},
		{name: "a longer user_id is refused: truncated, it could merge users", event: `{"event_type":"e","user_id":"` + long(1025, "u") + `"}`,
			reason: ReasonInvalidID, field: "user_id", detail: "user_id of 1025 characters is longer than Amplitude's 1024: truncating it could merge users"},
		{name: "a longer device_id is refused", event: `{"event_type":"e","user_id":"user-1","device_id":"` + long(1030, "d") + `"}`, reason: ReasonInvalidID, field: "device_id"},

		// Times: past the year 9999 nothing is a time in milliseconds; nearer
		// bounds are the rules' max_future.
		{name: "the last millisecond of 9999 with no max_future", event: `{"event_type":"e","user_id":"user-1","time":253402300799999}`},
		{name: "microseconds as milliseconds", event: `{"event_type":"e","user_id":"user-1","time":1700000000123000}`, reason: ReasonInvalidTime, field: "time",
			detail: "time 1700000000123000 is past the year 9999, the latest Amplitude holds: microseconds or nanoseconds sent as milliseconds?"},
		{name: "nanoseconds beyond int64", event: `{"event_type":"e","user_id":"user-1","time":17000000001230000000}`, reason: ReasonInvalidTime,
			detail: "time 17000000001230000000 is past the year 9999, the latest Amplitude holds: microseconds or nanoseconds sent as milliseconds?"},
		{name: "max_future ahead of now", event: `{"event_type":"e","user_id":"user-1","time":1735873200000}`},
		{name: "past max_future", event: `{"event_type":"e","user_id":"user-1","time":1735873200001}`, reason: ReasonInvalidTime, field: "time",
			detail: "time 1735873200001 (2025-01-03T03:00:00Z) is more than max_future 24h0m0s ahead of now (2025-01-02T03:00:00Z)"},
		{name: "a huge negative time is not in milliseconds", event: `{"event_type":"e","user_id":"user-1","time":-99999999999999999999}`, reason: ReasonInvalidTime,
			detail: "time -99999999999999999999 is not an integer in milliseconds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rules
			if strings.Contains(c.name, "no max_future") {
				r.MaxFuture = 0
			}
			ev, err := r.Inspect([]byte(c.event))
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if ev.LongStrings != c.longStrings {
					t.Errorf("%d long strings, want %d", ev.LongStrings, c.longStrings)
				}
				return
			}
			if err == nil || err.Reason != c.reason {
				t.Fatalf("want reason %s, got %v", c.reason, err)
			}
			if c.field != "" && err.Field != c.field {
				t.Errorf("field %q, want %q", err.Field, c.field)
			}
			if c.detail != "" && err.Detail != c.detail {
				t.Errorf("detail %q\n         want %q", err.Detail, c.detail)
			}
		})
	}
}

// Measure's quick passes must never miss what a full reading finds: random
// events near the bounds, measured both ways.
func TestMeasureAgreesWithAFullReading(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	units := []string{"x", "é", "€", "😀", "{", "[", " ", `"`, `\\`, `\u00e9`, `\n`}
	// A third of the events are ASCII, a third have other characters but no
	// escapes (the quick passes decide both), a third have escapes.
	var unitsNow []string
	str := func() string {
		n := rng.IntN(8)
		if rng.IntN(8) == 0 { // few long ones, around the limit
			n = []int{1000, 1023, 1024, 1025, 1026, 1500}[rng.IntN(6)]
		}
		var b strings.Builder
		b.WriteByte('"')
		for range n { // n characters, each unit being one
			u := unitsNow[rng.IntN(len(unitsNow))]
			if u == `"` {
				u = `\"`
			}
			b.WriteString(u)
		}
		b.WriteByte('"')
		return b.String()
	}
	// A chain of containers down to a random depth around the limit, with
	// strings beside it.
	var value func(depth, target int) string
	value = func(depth, target int) string {
		switch {
		case depth == target:
			return []string{str(), "12345", "null"}[rng.IntN(3)]
		case rng.IntN(2) == 0:
			return `{` + str() + `:` + str() + `,"k":` + value(depth+1, target) + `}`
		default:
			return `[` + value(depth+1, target) + `,` + str() + `]`
		}
	}
	depth := func() int { return []int{0, 1, 3, 39, 40, 41, 42, 60}[rng.IntN(8)] }
	for i := range 600 {
		unitsNow = [][]string{units[:1], units[:7], units}[i%3]
		ev := `{"event_type":` + str() + `,"event_properties":` + value(0, depth()) + `,"user_properties":` + value(0, depth()) +
			`,"p":` + value(0, depth()) + `}`
		if !json.Valid([]byte(ev)) {
			t.Fatalf("generated invalid JSON: %s", ev)
		}
		got, want := Measure([]byte(ev)), fullReading(t, ev)
		if got != want {
			t.Fatalf("event %d: Measure %+v, a full reading %+v\n%s", i, got, want, ev)
		}
	}
}

// fullReading measures an event with encoding/json.
func fullReading(t *testing.T, raw string) Shape {
	var ev map[string]any
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	var s Shape
	var walk func(v any, depth int) int
	walk = func(v any, depth int) int {
		switch v := v.(type) {
		case map[string]any:
			deepest := depth + 1
			for _, m := range v {
				deepest = max(deepest, walk(m, depth+1))
			}
			return deepest
		case []any:
			deepest := depth + 1
			for _, m := range v {
				deepest = max(deepest, walk(m, depth+1))
			}
			return deepest
		case string:
			if utf8.RuneCountInString(v) > MaxStringChars {
				s.LongStrings++
			}
		}
		return depth
	}
	depths := map[string]int{}
	for k, v := range ev {
		depths[k] = walk(v, 0)
	}
	// The first too-deep field in the event's order is the one named.
	for _, name := range []string{"event_properties", "user_properties"} {
		if d := depths[name]; d > MaxPropertyDepth && s.DeepField == "" {
			s.DeepField, s.Depth = name, d
		}
	}
	return s
}

func TestReservedEventTypesAreAmplitudesList(t *testing.T) {
	var got []string
	for _, name := range []string{"[Amplitude] Start Session", "[Amplitude] End Session", "[Amplitude] Revenue",
		"[Amplitude] Revenue (Verified)", "[Amplitude] Revenue (Unverified)", "[Amplitude] Merged User",
		"[Amplitude] Page Viewed", "$identify", "$groupidentify", "", "Revenue"} {
		if ReservedEventType(name) {
			got = append(got, name)
		}
	}
	if want := "[[Amplitude] Start Session [Amplitude] End Session [Amplitude] Revenue [Amplitude] Revenue (Verified) " +
		"[Amplitude] Revenue (Unverified) [Amplitude] Merged User]"; fmt.Sprint(got) != want {
		t.Errorf("reserved %v", got)
	}
}

func TestMaxTimeMillisIsTheLastMillisecondOf9999(t *testing.T) {
	if got := time.UnixMilli(MaxTimeMillis).UTC(); got != time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC) {
		t.Errorf("MaxTimeMillis is %v", got)
	}
}
