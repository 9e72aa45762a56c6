package ampapi

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// Reasons an event fails for good. They label the failure metrics and start
// the error text a dead-letter route receives ("amplitude: <reason>: ...").
const (
	ReasonInvalidJSON      = "invalid_json"
	ReasonMissingID        = "missing_id"
	ReasonInvalidID        = "invalid_id"
	ReasonInvalidTime      = "invalid_time"
	ReasonMissingEventType = "missing_event_type"
	ReasonTooLarge         = "too_large"
	ReasonInvalidField     = "invalid_field"     // Amplitude's events_with_invalid_fields
	ReasonMissingField     = "missing_field"     // events_with_missing_fields
	ReasonInvalidIDLength  = "invalid_id_length" // events_with_invalid_id_lengths
	ReasonSilenced         = "silenced_device"   // silenced_events
	ReasonRejected         = "rejected"          // a 400 naming no event, narrowed down to this one
	ReasonDailyQuota       = "daily_quota"
	ReasonRateLimited      = "device_rate_limited"
)

// EventError is the permanent failure of one event.
type EventError struct {
	Reason string
	Detail string
}

func (e *EventError) Error() string { return "amplitude: " + e.Reason + ": " + e.Detail }

func eventError(reason, format string, args ...any) *EventError {
	return &EventError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Event is an Amplitude event that passed Inspect. Its ids are views of Raw
// (unless escaped), which must therefore not change while they are in use.
type Event struct {
	Raw      []byte
	DeviceID string
	UserID   string
}

// minMillis is the smallest `time` taken as milliseconds (March 1973): a
// UNIX time in seconds is far below it.
const minMillis = 100_000_000_000

// Fields are the top-level fields of an event that Amplitude checks, as
// JSON values; absent ones are the zero Value.
type Fields struct {
	UserID, DeviceID, EventType, Time jsonscan.Value
}

// Inspect makes Amplitude's checks on one event before any byte is sent, so
// a bad event fails alone instead of costing a request. maxBytes is the
// largest event a request can carry. One pass validates the whole event and
// picks out its top-level fields; like encoding/json, the last of duplicate
// keys wins.
func Inspect(raw []byte, minIDLength, maxBytes int) (Event, *EventError) {
	if len(raw) > maxBytes { // before reading it: Check would only say so after the scan
		return Event{}, tooLarge(raw, maxBytes)
	}
	if len(raw) == 0 || !utf8.Valid(raw) {
		return Event{}, eventError(ReasonInvalidJSON, "not a JSON object in UTF-8")
	}
	sc := jsonscan.New(unsafe.String(&raw[0], len(raw)))
	if sc.Peek() != '{' {
		sc.Value()
		if sc.End(); sc.Bad() {
			return Event{}, eventError(ReasonInvalidJSON, "not valid JSON")
		}
		return Event{}, eventError(ReasonInvalidJSON, "not a JSON object")
	}
	var f Fields
	it := sc.Object()
	for it.Next(&sc) {
		switch it.Name() {
		case "user_id":
			f.UserID = sc.Value()
		case "device_id":
			f.DeviceID = sc.Value()
		case "event_type":
			f.EventType = sc.Value()
		case "time":
			f.Time = sc.Value()
		default:
			sc.Value()
		}
	}
	if sc.End(); sc.Bad() {
		return Event{}, eventError(ReasonInvalidJSON, "not valid JSON")
	}
	return Check(raw, f, minIDLength, maxBytes)
}

// Check makes Inspect's checks on an event already known to be a JSON
// object in UTF-8 whose top-level fields are f, without reading it again.
func Check(raw []byte, f Fields, minIDLength, maxBytes int) (Event, *EventError) {
	if len(raw) > maxBytes {
		return Event{}, tooLarge(raw, maxBytes)
	}
	if f.EventType.Kind != jsonscan.String || f.EventType.Raw == `""` {
		return Event{}, eventError(ReasonMissingEventType, "event_type must be a non-empty string")
	}
	ev := Event{Raw: raw}
	var err *EventError
	if ev.UserID, err = checkID("user_id", f.UserID, minIDLength); err != nil {
		return Event{}, err
	}
	if ev.DeviceID, err = checkID("device_id", f.DeviceID, minIDLength); err != nil {
		return Event{}, err
	}
	if ev.UserID == "" && ev.DeviceID == "" {
		return Event{}, eventError(ReasonMissingID, "neither user_id nor device_id is set")
	}
	if f.Time.Kind != jsonscan.Absent {
		ms, perr := strconv.ParseInt(f.Time.Raw, 10, 64)
		if f.Time.Kind != jsonscan.Number || perr != nil || ms < minMillis {
			return Event{}, eventError(ReasonInvalidTime, "time %s is not an integer in milliseconds", f.Time.Raw)
		}
	}
	return ev, nil
}

func tooLarge(raw []byte, maxBytes int) *EventError {
	return eventError(ReasonTooLarge, "event of %d bytes; a request carries at most %d", len(raw), maxBytes)
}

// checkID returns the id, "" when absent, or why Amplitude would refuse it.
func checkID(field string, v jsonscan.Value, minLength int) (string, *EventError) {
	switch v.Kind {
	case jsonscan.Absent, jsonscan.Null:
		return "", nil
	case jsonscan.String:
	default:
		return "", eventError(ReasonInvalidID, "%s must be a string", field)
	}
	id := v.Text()
	if Blocklisted(id) {
		return "", eventError(ReasonInvalidID, "%s %q is on Amplitude's list of invalid ids", field, id)
	}
	if n := utf8.RuneCountInString(id); n < minLength {
		return "", eventError(ReasonInvalidID, "%s %q is shorter than min_id_length %d", field, id, minLength)
	}
	return id, nil
}

// blocklist holds the id values Amplitude rejects, lower-cased.
var blocklist = map[string]bool{
	"anonymous": true, "nil": true, "none": true, "null": true, "n/a": true, "na": true,
	"undefined": true, "unknown": true, "": true, "0": true, "-1": true, "{}": true,
	"00000000-0000-0000-0000-000000000000": true, "lmy47d": true,
}

// blockedStarts[n] holds the first bytes of the blocked ids n bytes long.
var blockedStarts = func() (starts [len("00000000-0000-0000-0000-000000000000") + 1]string) {
	for id := range blocklist {
		if id != "" {
			starts[len(id)] += id[:1]
		}
	}
	return starts
}()

// Blocklisted reports whether Amplitude refuses id as a user_id or device_id.
func Blocklisted(id string) bool {
	// Almost every real id differs from the blocked ones in length or first
	// byte: those skip the lower-casing and the lookup. A non-ASCII first
	// byte might lower-case to ASCII, so it takes the full test.
	if len(id) >= len(blockedStarts) {
		return false
	}
	if id != "" && id[0] < utf8.RuneSelf && strings.IndexByte(blockedStarts[len(id)], lowerASCII(id[0])) < 0 {
		return false
	}
	return blocklist[strings.ToLower(id)]
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
