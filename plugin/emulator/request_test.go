package emulator

import (
	"reflect"
	"testing"
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
