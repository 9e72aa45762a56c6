package ampapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	ReasonInvalidEventType = "invalid_event_type" // a name Amplitude reserves
	ReasonTooDeep          = "too_deep"           // properties nested past MaxPropertyDepth
	ReasonTooLarge         = "too_large"
	ReasonInvalidField     = "invalid_field"     // Amplitude's events_with_invalid_fields
	ReasonMissingField     = "missing_field"     // events_with_missing_fields
	ReasonInvalidIDLength  = "invalid_id_length" // events_with_invalid_id_lengths, or shorter than min_id_length before sending
	ReasonSilenced         = "silenced_device"   // silenced_events
	ReasonRejected         = "rejected"          // a 400 naming no event, narrowed down to this one
	ReasonDailyQuota       = "daily_quota"
	ReasonRateLimited      = "device_rate_limited"
	// ReasonNack marks an event the sender wants delivered again later by its
	// source rather than dead-lettered; the detail starts with the reason it
	// could not go now.
	ReasonNack = "nack"
)

// EventError is the permanent failure of one event.
type EventError struct {
	Reason string
	Detail string
	Field  string // the event's field the failure is about, when it is about one
}

func (e *EventError) Error() string { return "amplitude: " + e.Reason + ": " + e.Detail }

func eventError(reason, format string, args ...any) *EventError {
	return &EventError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

func fieldError(field, reason, format string, args ...any) *EventError {
	return &EventError{Reason: reason, Detail: fmt.Sprintf(format, args...), Field: field}
}

// Event is an Amplitude event that passed Inspect. Its ids are views of Raw
// (unless escaped), which must therefore not change while they are in use.
type Event struct {
	Raw      []byte
	DeviceID string
	UserID   string
	// LongStrings counts the string values Amplitude will truncate to
	// MaxStringChars characters.
	LongStrings int
}

// minMillis is the smallest `time` taken as milliseconds (March 1973): a
// UNIX time in seconds is far below it.
const minMillis = 100_000_000_000

// MaxTimeMillis is the last millisecond of the year 9999, the latest `time`
// Amplitude can hold: it hands event times back as ISO-8601 timestamps
// (https://amplitude.com/docs/apis/analytics/export: "event_time": UTC
// ISO-8601 formatted timestamp), whose years have four digits. A time in
// microseconds or nanoseconds taken for milliseconds lies far past it
// (1700000000123000 is tens of thousands of years ahead). Amplitude documents
// storing times "hundreds of years in the future"
// (https://amplitude.com/docs/sdks/sdk-debugging): nearer bounds are the
// sender's choice (Rules.MaxFuture), not Amplitude's rule.
const MaxTimeMillis = 253_402_300_799_999

// Fields are the top-level fields of an event that Amplitude checks, as
// JSON values; absent ones are the zero Value.
type Fields struct {
	UserID, DeviceID, EventType, Time jsonscan.Value
}

// Rules are the checks on an event that depend on the sender's settings.
type Rules struct {
	MinIDLength int // Amplitude's min_id_length option
	MaxBytes    int // the largest event a request can carry
	// MaxFuture, when positive, refuses times more than MaxFuture after Now:
	// a wrong unit or a broken clock rather than an event that happened.
	MaxFuture time.Duration
	Now       time.Time
}

// Inspect makes Amplitude's checks without a MaxFuture.
func Inspect(raw []byte, minIDLength, maxBytes int) (Event, *EventError) {
	return Rules{MinIDLength: minIDLength, MaxBytes: maxBytes}.Inspect(raw)
}

// Check makes Amplitude's checks without a MaxFuture.
func Check(raw []byte, f Fields, minIDLength, maxBytes int) (Event, *EventError) {
	return Rules{MinIDLength: minIDLength, MaxBytes: maxBytes}.Check(raw, f)
}

// Inspect makes Amplitude's checks on one event before any byte is sent, so
// a bad event fails alone instead of costing a request. One pass validates
// the whole event and picks out its top-level fields; like encoding/json,
// the last of duplicate keys wins.
func (r Rules) Inspect(raw []byte) (Event, *EventError) {
	if len(raw) > r.MaxBytes { // before reading it: Check would only say so after the scan
		return Event{}, tooLarge(raw, r.MaxBytes)
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
	return r.Check(raw, f)
}

// Check makes Inspect's checks on an event already known to be a JSON
// object in UTF-8 whose top-level fields are f, without reading it again
// (but for its Shape, unless f has it).
func (r Rules) Check(raw []byte, f Fields) (Event, *EventError) {
	if len(raw) > r.MaxBytes {
		return Event{}, tooLarge(raw, r.MaxBytes)
	}
	if f.EventType.Kind != jsonscan.String || f.EventType.Raw == `""` {
		return Event{}, fieldError("event_type", ReasonMissingEventType, "event_type must be a non-empty string")
	}
	if name := f.EventType.Text(); ReservedEventType(name) {
		return Event{}, fieldError("event_type", ReasonInvalidEventType, "event_type %q is reserved for Amplitude's own use", name)
	}
	ev := Event{Raw: raw}
	var err *EventError
	if ev.UserID, err = checkID("user_id", f.UserID, r.MinIDLength); err != nil {
		return Event{}, err
	}
	if ev.DeviceID, err = checkID("device_id", f.DeviceID, r.MinIDLength); err != nil {
		return Event{}, err
	}
	if ev.UserID == "" && ev.DeviceID == "" {
		return Event{}, eventError(ReasonMissingID, "neither user_id nor device_id is set")
	}
	if f.Time.Kind != jsonscan.Absent {
		if err := r.checkTime(f.Time); err != nil {
			return Event{}, err
		}
	}
	shape := Measure(raw)
	if shape.DeepField != "" {
		return Event{}, fieldError(shape.DeepField, ReasonTooDeep, "%s nests %d levels deep; Amplitude allows at most %d",
			shape.DeepField, shape.Depth, MaxPropertyDepth)
	}
	ev.LongStrings = shape.LongStrings
	return ev, nil
}

// checkTime refuses a time that is not an integer in milliseconds between
// 1973 and the latest the rules accept.
func (r Rules) checkTime(v jsonscan.Value) *EventError {
	ms, perr := strconv.ParseInt(v.Raw, 10, 64)
	if v.Kind != jsonscan.Number || errors.Is(perr, strconv.ErrSyntax) || ms < minMillis { // ParseInt gives MinInt64 below its range
		return fieldError("time", ReasonInvalidTime, "time %s is not an integer in milliseconds", v.Raw)
	}
	if perr != nil || ms > MaxTimeMillis { // out of int64's range, or past the year 9999
		return fieldError("time", ReasonInvalidTime, "time %s is past the year 9999, the latest Amplitude holds: "+
			"microseconds or nanoseconds sent as milliseconds?", v.Raw)
	}
	if r.MaxFuture > 0 {
		if latest := r.Now.Add(r.MaxFuture); ms > latest.UnixMilli() {
			return fieldError("time", ReasonInvalidTime, "time %s (%s) is more than max_future %s ahead of now (%s)",
				v.Raw, time.UnixMilli(ms).UTC().Format(time.RFC3339), r.MaxFuture, r.Now.UTC().Format(time.RFC3339))
		}
	}
	return nil
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
		return "", fieldError(field, ReasonInvalidID, "%s must be a string", field)
	}
	id := v.Text()
	if Blocklisted(id) {
		return "", fieldError(field, ReasonInvalidID, "%s %q is on Amplitude's list of invalid ids", field, id)
	}
	n := utf8.RuneCountInString(id)
	if n < minLength {
		return "", fieldError(field, ReasonInvalidIDLength, "%s %q is shorter than min_id_length %d", field, id, minLength)
	}
	if n > MaxStringChars {
		return "", fieldError(field, ReasonInvalidID, "%s of %d characters is longer than Amplitude's %d: truncating it could merge users",
			field, n, MaxStringChars)
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
