package ampapi

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// Amplitude's documented limits on what an event holds, beyond its ids and
// time.
//
// https://amplitude.com/docs/apis/analytics/http-v2 (Event array keys, and
// the same text in https://amplitude.com/docs/apis/analytics/batch-event-upload):
//   - event_properties, user_properties: "Object depth may not exceed 40
//     layers." Amplitude says nothing of what it does past that: it is
//     refused here, with reason too_deep, rather than lost in Amplitude.
//   - event_type: "Amplitude reserves the following event names for internal
//     use: [Amplitude] Start Session, [Amplitude] End Session, [Amplitude]
//     Revenue, [Amplitude] Revenue (Verified), [Amplitude] Revenue
//     (Unverified), and [Amplitude] Merged User." The HTTP V2 API validates
//     "event_type name (cannot be event names that are reserved for Amplitude
//     use)" since its launch: such an event is refused, reason
//     invalid_event_type. Other "[Amplitude] ..." names (the SDKs' own, such
//     as "[Amplitude] Page Viewed") are Amplitude's to give and are accepted.
//
// https://amplitude.com/docs/apis/analytics/http-v2 (String character limit):
// "All string values, like user_id, event, or user property values, have a
// character limit of 1024 characters", and https://amplitude.com/docs/faq/limits
// (Character limit for strings): "Amplitude truncates any values exceeding
// these limits." A longer string is sent as it is and counted (Event.LongStrings,
// the output's amplitude_truncated_values), except an id: truncating ids would
// merge users, so a longer user_id or device_id is refused (invalid_id).
// Characters are Unicode code points, as for min_id_length.
const (
	MaxPropertyDepth = 40
	MaxStringChars   = 1024
)

// reservedEventTypes are the event names Amplitude keeps for itself.
var reservedEventTypes = map[string]bool{
	"[Amplitude] Start Session":        true,
	"[Amplitude] End Session":          true,
	"[Amplitude] Revenue":              true,
	"[Amplitude] Revenue (Verified)":   true,
	"[Amplitude] Revenue (Unverified)": true,
	"[Amplitude] Merged User":          true,
}

// ReservedEventType reports whether Amplitude refuses name as an event_type.
func ReservedEventType(name string) bool {
	// All share the prefix: other names, "[Appboy] ..." among them, skip the lookup.
	return strings.HasPrefix(name, "[Amplitude] ") && reservedEventTypes[name]
}

// Shape is what Amplitude's nesting and string limits see in an event.
type Shape struct {
	// DeepField is "event_properties" or "user_properties" when that field
	// nests more than MaxPropertyDepth levels (Depth of them, the field's own
	// object or array being the first), "" when neither does.
	DeepField string
	Depth     int
	// LongStrings counts the string values (not keys) longer than
	// MaxStringChars characters, anywhere in the event.
	LongStrings int
}

// Measure finds the Shape of an event known to be a JSON object in valid
// UTF-8. Events within the limits, nearly all, are told apart by two cheap
// passes over their bytes; only the others are read value by value.
func Measure(raw []byte) Shape {
	var s Shape
	deep, long := mayBeDeep(raw), mayHoldLongString(raw)
	if !deep && !long {
		return s
	}
	sc := jsonscan.New(unsafe.String(unsafe.SliceData(raw), len(raw)))
	it := sc.Object()
	for it.Next(&sc) {
		name := it.Name()
		switch {
		case deep && s.DeepField == "" && (name == "event_properties" || name == "user_properties"):
			if depth := s.walk(&sc, 0); depth > MaxPropertyDepth {
				s.DeepField, s.Depth = name, depth
			}
		case long:
			s.walk(&sc, 0)
		default:
			sc.Value()
		}
	}
	return s
}

// mayBeDeep is false when the event has too few brackets for any field to
// nest past MaxPropertyDepth: the event's own brace is one of them.
func mayBeDeep(raw []byte) bool {
	return bytes.Count(raw, []byte{'{'})+bytes.Count(raw, []byte{'['})-1 > MaxPropertyDepth
}

// mayHoldLongString is false when no string in raw can be longer than
// MaxStringChars characters. Every run of bytes between two quotes that are
// not escaped is a string's content or lies between strings; if every
// window of MaxStringChars+1 bytes after such a quote holds another, no run
// is longer than MaxStringChars bytes, let alone characters (escapes only
// make the text shorter than its bytes). Each step jumps to the window's
// last quote, so a typical event takes two or three steps.
func mayHoldLongString(raw []byte) bool {
	const window = MaxStringChars + 1
	if len(raw) <= MaxStringChars+2 {
		return false
	}
	for p := bytes.IndexByte(raw, '"') + 1; len(raw)-p > window; {
		end := p + window
		q := bytes.LastIndexByte(raw[p:end], '"')
		for q >= 0 && escaped(raw, p+q) {
			end = p + q
			q = bytes.LastIndexByte(raw[p:end], '"')
		}
		if q < 0 {
			return true
		}
		p += q + 1
	}
	return false
}

// escaped reports whether the byte at i follows an odd run of backslashes.
func escaped(raw []byte, i int) bool {
	n := 0
	for i > n && raw[i-n-1] == '\\' {
		n++
	}
	return n%2 == 1
}

// walk reads the value at the scanner, counting its long strings, and
// returns its depth below the given one.
func (s *Shape) walk(sc *jsonscan.Scanner, depth int) int {
	deepest := depth + 1
	switch sc.Peek() {
	case '{':
		it := sc.Object()
		for it.Next(sc) {
			deepest = max(deepest, s.walk(sc, depth+1))
		}
	case '[':
		el := sc.Array()
		for el.Next(sc) {
			deepest = max(deepest, s.walk(sc, depth+1))
		}
	default:
		if v := sc.Value(); v.Kind == jsonscan.String && longString(v) {
			s.LongStrings++
		}
		return depth
	}
	return deepest
}

// longString reports whether a string value holds more than MaxStringChars
// characters. Escapes only ever shorten the text, so a literal of at most
// MaxStringChars bytes between its quotes is short.
func longString(v jsonscan.Value) bool {
	if len(v.Raw)-2 <= MaxStringChars {
		return false
	}
	return utf8.RuneCountInString(v.Text()) > MaxStringChars
}
