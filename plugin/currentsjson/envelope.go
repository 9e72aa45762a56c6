// Package currentsjson reads Braze Currents events in JSON as Braze writes
// them: the Custom HTTP connector's bodies, {"events":[...]}, and files of
// JSON lines holding single events or such bodies (the currents_jsonl
// scanner).
package currentsjson

import (
	"bytes"
	"errors"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
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
	sc := jsonscan.New(unsafe.String(unsafe.SliceData(body), len(body)))
	if sc.Peek() != '{' {
		sc.Value() // validated only, to tell "not JSON" from "not an envelope"
		if sc.End(); sc.Bad() {
			return nil, ErrNotJSON
		}
		return nil, ErrNotEnvelope
	}
	var events [][]byte
	found, isList := false, false
	it := sc.Object()
	for it.Next(&sc) {
		// The first "events" counts, as in a lookup by key.
		if it.Name() != "events" || found {
			sc.Value()
			continue
		}
		found = true
		if isList = sc.Peek() == '['; !isList {
			sc.Value()
			continue
		}
		events = make([][]byte, 0, 100) // Braze sends up to 100 per body
		for el := sc.Array(); el.Next(&sc); {
			sc.Peek() // to the element's first byte
			from := sc.Pos()
			sc.Value()
			events = append(events, body[from:sc.Pos():sc.Pos()])
		}
	}
	switch sc.End(); {
	case sc.Bad():
		return nil, ErrNotJSON
	case !isList:
		return nil, ErrNotEnvelope
	}
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
