package emulator

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Request parsing and validation: pure functions of the body, no emulator state.

const defaultMinIDLength = 5

// blockedIDs are the device_id / user_id values Amplitude refuses, compared in lower case.
var blockedIDs = map[string]bool{
	"anonymous": true, "nil": true, "none": true, "null": true, "n/a": true, "na": true,
	"undefined": true, "unknown": true, "": true, "0": true, "-1": true, "{}": true,
	"00000000-0000-0000-0000-000000000000": true, "lmy47d": true,
}

const longestBlockedID = len("00000000-0000-0000-0000-000000000000")

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

// parseRequest reads an upload body (text is body viewed as a string, for gjson; the
// events' Raw are cut from body so recording them copies nothing). It fails with
// a reply when the request as a whole is unusable; problems with single events are
// returned in request.problems.
func parseRequest(body []byte, text string) (request, *reply) {
	if strings.TrimSpace(text) == "" {
		return request{}, badRequest("missing_body", "Missing request body", "")
	}
	if !gjson.Valid(text) {
		return request{}, badRequest("invalid_json", "Invalid JSON request body", "")
	}
	root := gjson.Parse(text)
	if !root.IsObject() {
		return request{}, badRequest("invalid_json", "Invalid JSON request body", "")
	}
	var key, events, options gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "api_key":
			key = v
		case "events":
			events = v
		case "options":
			options = v
		}
		return true
	})
	if !present(key) {
		return request{}, badRequest("missing_field", "Request missing required field", "api_key")
	}

	minIDLength := defaultMinIDLength
	if n := options.Get("min_id_length"); n.Type == gjson.Number && n.Num >= 0 && n.Num == math.Trunc(n.Num) {
		minIDLength = int(n.Num)
	}
	req := request{apiKey: key.Str}
	if events.IsArray() {
		events.ForEach(func(_, v gjson.Result) bool {
			// gjson sets Index to the value's offset in text, which is also its offset in body.
			raw := body[v.Index : v.Index+len(v.Raw)]
			req.events = append(req.events, checkEvent(len(req.events), v, raw, minIDLength, &req.problems))
			return true
		})
	}
	if len(req.events) == 0 {
		return request{}, badRequest("missing_field", "Request missing required field", "events")
	}
	if key.Type != gjson.String {
		return request{}, invalidAPIKey(key.Raw)
	}
	return req, nil
}

// checkEvent reads the fields the emulator checks and records from one event, in one
// pass over it, and notes the event's problems under index.
func checkEvent(index int, v gjson.Result, raw []byte, minIDLength int, p *eventProblems) Event {
	var eventType, userID, deviceID, insertID, eventTime gjson.Result
	v.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "event_type":
			eventType = v
		case "user_id":
			userID = v
		case "device_id":
			deviceID = v
		case "insert_id":
			insertID = v
		case "time":
			eventTime = v
		}
		return true
	})

	switch {
	case !present(eventType) || eventType.Raw == `""`:
		addProblem(&p.missing, "event_type", index)
	case eventType.Type != gjson.String:
		addProblem(&p.invalid, "event_type", index)
	}
	for _, id := range []struct {
		field string
		value gjson.Result
	}{{"user_id", userID}, {"device_id", deviceID}} {
		switch {
		case !present(id.value):
		case id.value.Type != gjson.String || isBlockedID(id.value.Str):
			addProblem(&p.invalid, id.field, index)
		case utf8.RuneCountInString(id.value.Str) < minIDLength:
			addProblem(&p.idLength, id.field, index)
		}
	}
	if !present(userID) && !present(deviceID) {
		// Amplitude names device_id, the id it would otherwise derive from user_id.
		addProblem(&p.missing, "device_id", index)
	}
	if present(insertID) && insertID.Type != gjson.String {
		addProblem(&p.invalid, "insert_id", index)
	}
	if present(eventTime) && !isMillis(eventTime) {
		addProblem(&p.invalid, "time", index)
	}

	return Event{
		InsertID:  insertID.Str,
		DeviceID:  deviceID.Str,
		UserID:    userID.Str,
		EventType: eventType.Str,
		Time:      eventTime.Int(),
		Raw:       raw,
	}
}

// present reports whether a field is set: absent and null fields are not.
func present(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

func isBlockedID(id string) bool {
	return len(id) <= longestBlockedID && blockedIDs[strings.ToLower(id)]
}

// isMillis reports whether v is a time in milliseconds: an integer no smaller than
// 1e11 (a time in seconds, the usual mistake, is far below it).
func isMillis(v gjson.Result) bool {
	return v.Type == gjson.Number && v.Num >= 1e11 && v.Num == math.Trunc(v.Num)
}
