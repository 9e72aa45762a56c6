// Package envelope splits the bodies of Braze's Custom HTTP connector,
// {"events":[...]}, into their events without parsing them, for the
// braze_currents input and the currents_jsonl scanner.
package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// Errors of a body that is not a Custom HTTP connector envelope; an HTTP 400
// can say them as they are.
var (
	ErrNotJSON        = errors.New("body is not valid JSON")
	ErrTooDeep        = fmt.Errorf("body nests arrays and objects deeper than %d levels", jsonscan.MaxDepth)
	ErrNotEnvelope    = errors.New(`body is not a Braze Currents envelope: expected a JSON object with an "events" array`)
	ErrDuplicateEvent = errors.New(`body has the "events" key more than once: which list is meant is ambiguous`)
)

// ErrTooManyEvents is Split's error for a body holding more events
// than its caller takes.
var ErrTooManyEvents = errors.New("body holds too many events")

// Split returns the events of a body {"events":[ev, ...]} as slices
// of body, which the caller must therefore not change afterwards. Each slice
// starts at its element's first byte. The events themselves are not checked
// (NotAnEvent tells those that are not objects): one that cannot be mapped
// fails later with its reason instead of failing its companions. Other
// top-level keys are ignored, as Braze may add some; a second "events" key
// is refused rather than guessed at.
//
// Past maxEvents events it stops and returns ErrTooManyEvents, so a small
// body of tiny events never costs more than maxEvents slices; the rest of
// the body is then not read.
func Split(body []byte, maxEvents int) ([][]byte, error) {
	sc := jsonscan.New(unsafe.String(unsafe.SliceData(body), len(body)))
	if sc.Peek() != '{' {
		sc.Value() // validated only, to tell "not JSON" from "not an envelope"
		if sc.End(); sc.Bad() {
			return nil, scanError(&sc)
		}
		return nil, ErrNotEnvelope
	}
	var events [][]byte
	found, isList := false, false
	it := sc.Object()
	for it.Next(&sc) {
		if it.Name() != "events" {
			sc.Value()
			continue
		}
		if found {
			return nil, ErrDuplicateEvent
		}
		found = true
		if isList = sc.Peek() == '['; !isList {
			sc.Value()
			continue
		}
		events = make([][]byte, 0, min(maxEvents, 100)) // Braze sends up to 100 per body
		for el := sc.Array(); el.Next(&sc); {
			if len(events) == maxEvents {
				return nil, ErrTooManyEvents
			}
			sc.Peek() // to the element's first byte
			from := sc.Pos()
			sc.Value()
			events = append(events, body[from:sc.Pos():sc.Pos()])
		}
	}
	switch sc.End(); {
	case sc.Bad():
		return nil, scanError(&sc)
	case !isList:
		return nil, ErrNotEnvelope
	}
	return events, nil
}

func scanError(sc *jsonscan.Scanner) error {
	if sc.TooDeep() {
		return ErrTooDeep
	}
	return ErrNotJSON
}

// NotAnEvent returns why element k of a body's events, as Split
// returns it, is not a Currents event, or nil when it is a JSON object: what
// an object holds is the mapping's to check. A dead letter can then say
// where the element was, even when it holds nothing, as null does.
func NotAnEvent(k int, element []byte) error {
	var kind string
	switch element[0] { // Split's elements are valid JSON: never empty
	case '{':
		return nil
	case 'n':
		kind = "null"
	case '[':
		kind = "an array"
	case '"':
		kind = "a string"
	case 't', 'f':
		kind = "a boolean"
	default:
		kind = "a number"
	}
	return fmt.Errorf("events[%d]: %s is not a Currents event, which is a JSON object", k, kind)
}

// Is reports whether a JSON line looks like a body rather than a
// single event, from its first key alone: Braze's bodies start with
// "events", a key no Currents event has. It reads a few bytes, not the line.
func Is(line []byte) bool {
	line = bytes.TrimLeft(line, " \t\r\n")
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(line[1:], " \t\r\n"), []byte(`"events"`))
}
