package emulator

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

func TestParseRequestCutsEachRawEventFromTheBody(t *testing.T) {
	body := []byte("{ \"options\" : {\"min_id_length\":1},\n \"api_key\":\"k\\u00e9y\", \"events\" : [ " +
		"{\"event_type\":\"\\u00e9t\\u00e9\",\"device_id\":\"d\"} ,\n\t" +
		"{\"event_type\":\"x\",\"user_id\":\"u\",\"insert_id\":\"i\",\"time\":1735786800000} ] }")
	req, rep := parseRequest(body, string(body))
	if rep != nil {
		t.Fatalf("refused: %s", rep.body)
	}
	if req.apiKey != "kéy" || req.problems.any() {
		t.Fatalf("api key %q, problems %+v", req.apiKey, req.problems)
	}
	want := []Event{
		{EventType: "été", DeviceID: "d", Raw: []byte(`{"event_type":"\u00e9t\u00e9","device_id":"d"}`)},
		{EventType: "x", UserID: "u", InsertID: "i", Time: 1735786800000,
			Raw: []byte(`{"event_type":"x","user_id":"u","insert_id":"i","time":1735786800000}`)},
	}
	if !reflect.DeepEqual(req.events, want) {
		t.Errorf("events\n got: %+v\nwant: %+v", req.events, want)
	}
}

// parsed sums up what parseRequest makes of a body: the reply refusing it, or the
// events' problems and fields.
func parsed(body string) string {
	req, rep := parseRequest([]byte(body), body)
	if rep != nil {
		return fmt.Sprintf("%s %s", rep.reason, rep.body)
	}
	var events []string
	for _, ev := range req.events {
		events = append(events, fmt.Sprintf("%s|%s|%s|%s|%d", ev.EventType, ev.UserID, ev.DeviceID, ev.InsertID, ev.Time))
	}
	return fmt.Sprintf("key %s missing %v invalid %v idLength %v events %v",
		req.apiKey, req.problems.missing, req.problems.invalid, req.problems.idLength, events)
}

func TestParseRequestChecksTheBodyAndEachEvent(t *testing.T) {
	const ok = `{"event_type":"e","device_id":"device-1"}`
	cases := []struct{ name, body, want string }{
		{"empty body", " \n\t", `missing_body {"code":400,"error":"Missing request body"}`},
		{"not JSON", `{"api_key":"k","events":[` + ok + `]`, `invalid_json {"code":400,"error":"Invalid JSON request body"}`},
		{"invalid JSON deep in an event", `{"api_key":"k","events":[{"event_type":"e","device_id":"device-1","p":{"a":[1,]}}]}`,
			`invalid_json {"code":400,"error":"Invalid JSON request body"}`},
		{"trailing data", `{"api_key":"k","events":[` + ok + `]} {}`, `invalid_json {"code":400,"error":"Invalid JSON request body"}`},
		{"not an object", `[` + ok + `]`, `invalid_json {"code":400,"error":"Invalid JSON request body"}`},
		{"no api_key", `{"events":[` + ok + `]}`, `missing_field {"code":400,"error":"Request missing required field","missing_field":"api_key"}`},
		{"null api_key", `{"api_key":null,"events":[` + ok + `]}`, `missing_field {"code":400,"error":"Request missing required field","missing_field":"api_key"}`},
		{"numeric api_key", `{"api_key":12,"events":[` + ok + `]}`, `invalid_api_key {"code":400,"error":"Invalid API key: 12"}`},
		{"no events", `{"api_key":"k"}`, `missing_field {"code":400,"error":"Request missing required field","missing_field":"events"}`},
		{"events not an array", `{"api_key":"k","events":` + ok + `}`, `missing_field {"code":400,"error":"Request missing required field","missing_field":"events"}`},
		{"empty events", `{"api_key":"k","events":[]}`, `missing_field {"code":400,"error":"Request missing required field","missing_field":"events"}`},
		{"last events key wins, with its problems only",
			`{"api_key":"k","events":[{"event_type":1}],"events":[` + ok + `]}`,
			`key k missing map[] invalid map[] idLength map[] events [e||device-1||0]`},
		{"a later events key that is not an array leaves none",
			`{"api_key":"k","events":[` + ok + `],"events":{}}`,
			`missing_field {"code":400,"error":"Request missing required field","missing_field":"events"}`},
		{"events that are not objects miss every field", `{"api_key":"k","events":["x",[1],null]}`,
			`key k missing map[device_id:[0 1 2] event_type:[0 1 2]] invalid map[] idLength map[] events [||||0 ||||0 ||||0]`},
		{"problems by field",
			`{"api_key":"k","events":[{"event_type":"","user_id":"null","device_id":7,"insert_id":1,"time":1700000000},` +
				`{"event_type":{},"user_id":"u","time":1735786800000.5},{"user_id":null,"device_id":null,"event_type":"e","time":1.7e12}]}`,
			`key k missing map[device_id:[2] event_type:[0]] invalid map[device_id:[0] event_type:[1] insert_id:[0] time:[0 1] user_id:[0]] ` +
				`idLength map[user_id:[1]] events [|null|||1700000000 |u|||1735786800000 e||||1700000000000]`},
		{"min_id_length after the events", `{"api_key":"k","events":[{"event_type":"e","user_id":"ab","device_id":"abc"}],"options":{"min_id_length":3}}`,
			`key k missing map[] invalid map[] idLength map[user_id:[0]] events [e|ab|abc||0]`},
		{"the last options count, and their first min_id_length",
			`{"options":{"min_id_length":9},"api_key":"k","options":{"min_id_length":1,"min_id_length":9},"events":[{"event_type":"e","device_id":"d"}]}`,
			`key k missing map[] invalid map[] idLength map[] events [e||d||0]`},
		{"min_id_length that is no count is ignored",
			`{"api_key":"k","options":{"min_id_length":1.5},"events":[{"event_type":"e","device_id":"abcd"}]}`,
			`key k missing map[] invalid map[] idLength map[device_id:[0]] events [e||abcd||0]`},
		{"ids counted in characters", `{"api_key":"k","events":[{"event_type":"e","device_id":"ééééé"}]}`,
			`key k missing map[] invalid map[] idLength map[] events [e||ééééé||0]`},
		{"escapes are decoded, keys included",
			`{"api_k\u0065y":"k","events":[{"event_type":"\u00e9","us\u0065r_id":"user\/1","insert_id":"\"i\""}]}`,
			`key k missing map[] invalid map[] idLength map[] events [é|user/1||"i"|0]`},
		{"the last of duplicate event fields wins",
			`{"api_key":"k","events":[{"event_type":1,"event_type":"e","device_id":"device-1","time":1,"time":1735786800000}]}`,
			`key k missing map[] invalid map[] idLength map[] events [e||device-1||1735786800000]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parsed(c.body); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// Nesting is bounded, as in encoding/json, so a hostile body cannot exhaust the stack.
func TestParseRequestRefusesNestingDeeperThanEncodingJSON(t *testing.T) {
	nested := func(depth int) string {
		return `{"api_key":"k","events":[{"event_type":"e","device_id":"device-1","p":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]}`
	}
	// The body, events and event take three levels.
	if got := parsed(nested(jsonscan.MaxDepth - 3)); !strings.HasPrefix(got, "key k ") {
		t.Errorf("at the limit: %s", got)
	}
	if got := parsed(nested(jsonscan.MaxDepth - 2)); !strings.HasPrefix(got, "invalid_json ") {
		t.Errorf("past the limit: %s", got)
	}
}
