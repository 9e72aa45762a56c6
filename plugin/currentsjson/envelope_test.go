package currentsjson

import (
	"errors"
	"strings"
	"testing"
)

func TestSplitEnvelope(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
		err        error
	}{
		{"events in order, raw", `{"events":[{"id":"a"}, {"id":"b","x":[1,2]}]}`, []string{`{"id":"a"}`, `{"id":"b","x":[1,2]}`}, nil},
		{"other top-level keys are ignored", `{"meta":{"v":1},"events":[{"id":"a"}]}`, []string{`{"id":"a"}`}, nil},
		{"the first events key counts", `{"events":[{"id":"a"}],"events":5}`, []string{`{"id":"a"}`}, nil},
		{"an empty list is no events", `{"events":[]}`, []string{}, nil},
		{"events are not checked", `{"events":[1,"x",null]}`, []string{`1`, `"x"`, `null`}, nil},
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
			got, err := SplitEnvelope([]byte(c.body))
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
	events, err := SplitEnvelope([]byte(`{"events":[{"id":"a"},{"id":"b"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(events[0], "XXXX"...)
	if string(events[1]) != `{"id":"b"}` {
		t.Errorf("appending to the first event changed the second: %s", events[1])
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
		if got := IsEnvelope([]byte(line)); got != want {
			t.Errorf("IsEnvelope(%q) = %v, want %v", line, got, want)
		}
	}
}
