package emulator

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// Request parsing and validation: pure functions of the body, no emulator state.

const defaultMinIDLength = 5

// request is an upload whose top level is valid. Its strings and the events' Raw point
// into the request body.
type request struct {
	apiKey   string
	events   []Event
	problems eventProblems
}

// eventProblems lists the events Amplitude would refuse, as the 400 body reports them:
// field name -> indexes of the events.
type eventProblems struct {
	missing, invalid, idLength map[string][]int
}

func (p *eventProblems) any() bool {
	return p.missing != nil || p.invalid != nil || p.idLength != nil
}

func addProblem(m *map[string][]int, field string, index int) {
	if *m == nil {
		*m = make(map[string][]int)
	}
	(*m)[field] = append((*m)[field], index)
}

// parseRequest reads an upload body in one pass that validates it and picks out the
// events and their fields (text is body viewed as a string; the events' Raw are cut
// from body so recording them copies nothing). It fails with a reply when the request
// as a whole is unusable; problems with single events are returned in
// request.problems. Like encoding/json, the last of duplicate keys wins.
func parseRequest(body []byte, text string) (request, *reply) {
	if strings.TrimSpace(text) == "" {
		return request{}, badRequest("missing_body", "Missing request body", "")
	}
	sc := jsonscan.New(text)
	if sc.Peek() != '{' {
		return request{}, badRequest("invalid_json", "Invalid JSON request body", "")
	}
	var req request
	var key jsonscan.Value
	minIDLength := defaultMinIDLength
	it := sc.Object()
	for it.Next(&sc) {
		switch it.Name() {
		case "api_key":
			key = sc.Value()
		case "events":
			req.events, req.problems = req.events[:0], eventProblems{}
			if sc.Peek() != '[' {
				sc.Value()
				continue
			}
			for el := sc.Array(); el.Next(&sc); {
				req.events = append(req.events, checkEvent(&sc, body, len(req.events), &req.problems))
			}
		case "options":
			minIDLength = scanOptions(&sc)
		default:
			sc.Value()
		}
	}
	if sc.End(); sc.Bad() {
		return request{}, badRequest("invalid_json", "Invalid JSON request body", "")
	}
	if !present(key) {
		return request{}, badRequest("missing_field", "Request missing required field", "api_key")
	}
	if len(req.events) == 0 {
		return request{}, badRequest("missing_field", "Request missing required field", "events")
	}
	if key.Kind != jsonscan.String {
		return request{}, invalidAPIKey(key.Raw)
	}
	req.apiKey = key.Text()
	// options may follow the events, so id lengths are checked once all is read.
	for i := range req.events {
		checkIDLengths(i, &req.events[i], minIDLength, &req.problems)
	}
	return req, nil
}

// scanOptions reads the options object's min_id_length; the first one counts.
func scanOptions(sc *jsonscan.Scanner) int {
	minIDLength := defaultMinIDLength
	if sc.Peek() != '{' {
		sc.Value()
		return minIDLength
	}
	found := false
	it := sc.Object()
	for it.Next(sc) {
		v := sc.Value()
		if found || it.Name() != "min_id_length" {
			continue
		}
		found = true
		if n, ok := number(v); ok && n >= 0 && n == math.Trunc(n) {
			minIDLength = int(n)
		}
	}
	return minIDLength
}

// checkEvent reads the fields the emulator checks and records from the event at the
// scanner, in one pass over it, and notes the event's problems under index (all but
// the id lengths, which depend on options that may come later).
func checkEvent(sc *jsonscan.Scanner, body []byte, index int, p *eventProblems) Event {
	var eventType, userID, deviceID, insertID, eventTime jsonscan.Value
	var shape ampapi.Shape
	c := sc.Peek()
	start := sc.Pos()
	if c != '{' {
		sc.Value() // not an object: every field is missing
	} else {
		it := sc.Object()
		for it.Next(sc) {
			switch it.Name() {
			case "event_type":
				eventType = sc.Value()
			case "user_id":
				userID = sc.Value()
			case "device_id":
				deviceID = sc.Value()
			case "insert_id":
				insertID = sc.Value()
			case "time":
				eventTime = sc.Value()
			default:
				sc.Value()
			}
		}
		if !sc.Bad() {
			shape = ampapi.Measure(body[start:sc.Pos()])
		}
	}

	switch {
	case !present(eventType) || eventType.Raw == `""`:
		addProblem(&p.missing, "event_type", index)
	case eventType.Kind != jsonscan.String || ampapi.ReservedEventType(eventType.Text()):
		addProblem(&p.invalid, "event_type", index)
	}
	if shape.DeepField != "" {
		addProblem(&p.invalid, shape.DeepField, index)
	}
	for _, id := range [...]struct {
		field string
		value jsonscan.Value
	}{{"user_id", userID}, {"device_id", deviceID}} {
		if present(id.value) && (id.value.Kind != jsonscan.String || ampapi.Blocklisted(id.value.Text())) {
			addProblem(&p.invalid, id.field, index)
		}
	}
	if !present(userID) && !present(deviceID) {
		// Amplitude names device_id, the id it would otherwise derive from user_id.
		addProblem(&p.missing, "device_id", index)
	}
	if present(insertID) && insertID.Kind != jsonscan.String {
		addProblem(&p.invalid, "insert_id", index)
	}
	if present(eventTime) && !isMillis(eventTime) {
		addProblem(&p.invalid, "time", index)
	}

	return Event{
		InsertID:    stringOf(insertID),
		DeviceID:    stringOf(deviceID),
		UserID:      stringOf(userID),
		EventType:   stringOf(eventType),
		Time:        intOf(eventTime),
		Raw:         body[start:sc.Pos()],
		longStrings: shape.LongStrings,
	}
}

// checkIDLengths notes the event's ids shorter than minIDLength. The ids checkEvent
// found invalid are left out: a blocked id, or one that is not a string, whose
// Event field is "" (itself a blocked id).
func checkIDLengths(index int, ev *Event, minIDLength int, p *eventProblems) {
	for _, id := range [...]struct{ field, value string }{{"user_id", ev.UserID}, {"device_id", ev.DeviceID}} {
		if id.value != "" && utf8.RuneCountInString(id.value) < minIDLength && !ampapi.Blocklisted(id.value) {
			addProblem(&p.idLength, id.field, index)
		}
	}
}

// present reports whether a field is set: absent and null fields are not.
func present(v jsonscan.Value) bool { return v.Kind != jsonscan.Absent && v.Kind != jsonscan.Null }

// stringOf is a string field's text, "" for fields of other kinds.
func stringOf(v jsonscan.Value) string {
	if v.Kind != jsonscan.String {
		return ""
	}
	return v.Text()
}

// number is a number field's value.
func number(v jsonscan.Value) (float64, bool) {
	if v.Kind != jsonscan.Number {
		return 0, false
	}
	f, _ := strconv.ParseFloat(v.Raw, 64) // out of range is ±Inf, as JSON readers take it
	return f, true
}

// intOf is a number field as an integer: exact for integers in range, else the
// float's conversion; 0 for fields of other kinds.
func intOf(v jsonscan.Value) int64 {
	if v.Kind != jsonscan.Number {
		return 0
	}
	if i, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
		return i
	}
	f, _ := number(v)
	return int64(f)
}

// isMillis reports whether v is a time in milliseconds: an integer no smaller than
// 1e11 (a time in seconds, the usual mistake, is far below it) and no later than the
// year 9999 (ampapi.MaxTimeMillis: microseconds or nanoseconds are far past it).
func isMillis(v jsonscan.Value) bool {
	n, ok := number(v)
	return ok && n >= 1e11 && n <= ampapi.MaxTimeMillis && n == math.Trunc(n)
}
