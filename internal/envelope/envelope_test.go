package envelope

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// maxEvents is the limit the cases split with, unless they say otherwise.
const maxEvents = 5

func TestSplitEnvelope(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
		err        error
	}{
		{"events in order, raw", `{"events":[{"id":"a"}, {"id":"b","x":[1,2]}]}`, []string{`{"id":"a"}`, `{"id":"b","x":[1,2]}`}, nil},
		{"other top-level keys are ignored", `{"meta":{"v":1},"events":[{"id":"a"}]}`, []string{`{"id":"a"}`}, nil},
		{"a second events key is refused", `{"events":[{"id":"a"}],"events":[{"id":"b"}]}`, nil, ErrDuplicateEvent},
		{"a second events key is refused whatever the first held", `{"events":5,"events":[{"id":"b"}]}`, nil, ErrDuplicateEvent},
		{"an escaped second events key is the same key", `{"events":[],"\u0065vents":[{"id":"b"}]}`, nil, ErrDuplicateEvent},
		{"events up to the limit", `{"events":[{},{},{},{},{}]}`, []string{`{}`, `{}`, `{}`, `{}`, `{}`}, nil},
		{"one event past the limit", `{"events":[{},{},{},{},{},{}]}`, nil, ErrTooManyEvents},
		{"past the limit, the rest is not read", `{"events":[{},{},{},{},{},{},` + "\x00", nil, ErrTooManyEvents},
		{"nested past the scanner's depth", `{"events":[` + strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth) + `]}`, nil, ErrTooDeep},
		{"nested past the scanner's depth, unclosed", strings.Repeat(`{"a":`, jsonscan.MaxDepth+1), nil, ErrTooDeep},
		{"a bare value nested past the depth", strings.Repeat("[", jsonscan.MaxDepth+1), nil, ErrTooDeep},
		{"nested to the scanner's depth", `{"events":[` + strings.Repeat("[", jsonscan.MaxDepth-2) + strings.Repeat("]", jsonscan.MaxDepth-2) + `]}`, []string{strings.Repeat("[", jsonscan.MaxDepth-2) + strings.Repeat("]", jsonscan.MaxDepth-2)}, nil},
		{"an empty list is no events", `{"events":[]}`, []string{}, nil},
		{"events are not checked", `{"events":[1,"x", null ]}`, []string{`1`, `"x"`, `null`}, nil},
		{"truncated JSON", `{"events":[{"id":"a"}`, nil, ErrNotJSON},
		{"not JSON at all", `events=1`, nil, ErrNotJSON},
		{"an empty body", ``, nil, ErrNotJSON},
		{"events is null", `{"events":null}`, nil, ErrNotEnvelope},
		{"not an object", `[{"id":"a"}]`, nil, ErrNotEnvelope},
		{"no events key", `{"id":"a"}`, nil, ErrNotEnvelope},
		{"events not a list", `{"events":{"id":"a"}}`, nil, ErrNotEnvelope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Split([]byte(c.body), maxEvents)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d events %q, want %q", len(got), got, c.want)
			}
			for i := range got {
				if string(got[i]) != c.want[i] {
					t.Errorf("event %d: %s, want %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestSplitEventsCannotOverwriteEachOther(t *testing.T) {
	events, err := Split([]byte(`{"events":[{"id":"a"},{"id":"b"}]}`), maxEvents)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(events[0], "XXXX"...)
	if string(events[1]) != `{"id":"b"}` {
		t.Errorf("appending to the first event changed the second: %s", events[1])
	}
}

func TestNotAnEventNamesTheElementAndWhatItIs(t *testing.T) {
	events, err := Split([]byte(`{"events":[{"id":"a"}, null ,1,-2.5,"x",[],true,false]}`), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "null", "a number", "a number", "a string", "an array", "a boolean", "a boolean"}
	for k, ev := range events {
		err := NotAnEvent(k, ev)
		if want[k] == "" {
			if err != nil {
				t.Errorf("events[%d] %s: %v, want nil for an object", k, ev, err)
			}
			continue
		}
		if msg := fmt.Sprintf("events[%d]: %s is not a Currents event", k, want[k]); err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("events[%d] %s: %v, want %q", k, ev, err, msg)
		}
	}
}

func TestIsEnvelope(t *testing.T) {
	cases := map[string]bool{
		`{"events":[]}`:                true,
		`  { "events" : [] }`:          true,
		`{"event_type":"users.x"}`:     false,
		`{"id":"a","events":[]}`:       false, // not Braze's shape: an event with a field named events
		`["events"]`:                   false,
		``:                             false,
		strings.Repeat(" ", 10) + `{}`: false,
	}
	for line, want := range cases {
		if got := Is([]byte(line)); got != want {
			t.Errorf("Is(%q) = %v, want %v", line, got, want)
		}
	}
}
