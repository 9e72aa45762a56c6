// Package currentsjson reads Braze Currents events in JSON as Braze writes
// them: the Custom HTTP connector's bodies, {"events":[...]}, and files of
// JSON lines holding single events or such bodies (the currents_jsonl
// scanner).
package currentsjson

import (
	"bytes"
	"errors"

	"github.com/tidwall/gjson"
)

// Errors of a body that is not a Custom HTTP connector envelope; an HTTP 400
// can say them as they are.
var (
	ErrNotJSON     = errors.New("body is not valid JSON")
	ErrNotEnvelope = errors.New(`body is not a Braze Currents envelope: expected a JSON object with an "events" array`)
)

// SplitEnvelope returns the events of a body {"events":[ev, ...]} as slices
// of body, which the caller must therefore not change afterwards. The events
// themselves are not checked: one that cannot be mapped fails later with its
// reason instead of failing its companions. Other top-level keys are
// ignored, as Braze may add some.
func SplitEnvelope(body []byte) ([][]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, ErrNotJSON
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, ErrNotEnvelope
	}
	list := root.Get("events")
	if !list.IsArray() {
		return nil, ErrNotEnvelope
	}
	events := make([][]byte, 0, 100) // Braze sends up to 100 per body
	list.ForEach(func(_, ev gjson.Result) bool {
		// gjson's Index is the value's offset in body.
		events = append(events, body[ev.Index:ev.Index+len(ev.Raw):ev.Index+len(ev.Raw)])
		return true
	})
	return events, nil
}

// IsEnvelope reports whether a JSON line looks like a body rather than a
// single event, from its first key alone: Braze's bodies start with
// "events", a key no Currents event has. It reads a few bytes, not the line.
func IsEnvelope(line []byte) bool {
	line = bytes.TrimLeft(line, " \t\r\n")
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(line[1:], " \t\r\n"), []byte(`"events"`))
}
