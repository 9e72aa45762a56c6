package brazehttp

import (
	"errors"
	"testing"
)

func TestSplitEnvelope(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
		err  error
	}{
		{name: "events come out one by one, as sent", body: `{"events":[{"id":"a","n":1}, {"id":"b"} ]}`, want: []string{`{"id":"a","n":1}`, `{"id":"b"}`}},
		{name: "an empty list is an envelope", body: `{"events":[]}`, want: nil},
		{name: "other top-level keys are ignored", body: `{"v":1,"events":[{"id":"a"}]}`, want: []string{`{"id":"a"}`}},
		{name: "events that are not objects still come out, to fail with a reason later", body: `{"events":[1,"x",null]}`, want: []string{`1`, `"x"`, `null`}},
		{name: "truncated JSON", body: `{"events":[{"id":"a"}`, err: ErrNotJSON},
		{name: "not JSON at all", body: `events=1`, err: ErrNotJSON},
		{name: "an empty body", body: ``, err: ErrNotJSON},
		{name: "a bare array", body: `[{"id":"a"}]`, err: ErrNotEnvelope},
		{name: "no events key", body: `{"event":[]}`, err: ErrNotEnvelope},
		{name: "events is an object", body: `{"events":{"id":"a"}}`, err: ErrNotEnvelope},
		{name: "events is null", body: `{"events":null}`, err: ErrNotEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitEnvelope([]byte(tt.body))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %q, want %q", len(got), got, tt.want)
			}
			for k := range got {
				if string(got[k]) != tt.want[k] {
					t.Errorf("event %d = %s, want %s", k, got[k], tt.want[k])
				}
			}
		})
	}
}

func TestSplitEnvelopeCopiesEachEvent(t *testing.T) {
	body := []byte(`{"events":[{"id":"a"},{"id":"b"}]}`)
	got, err := SplitEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	// A processor appending to one event must not overwrite the next one,
	// nor the body.
	got[0] = append(got[0], "XXXXXXXX"...)
	if string(got[1]) != `{"id":"b"}` || string(body) != `{"events":[{"id":"a"},{"id":"b"}]}` {
		t.Fatalf("events share memory: %q, body %q", got[1], body)
	}
}
