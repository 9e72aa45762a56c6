package emulator

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"testing"
)

func TestStatsCountWhatHappened(t *testing.T) {
	srv := start(t, Config{HTTPV2EPS: 1, Faults: Faults{SilencedDevices: []string{"device-S"}}})
	uploads := []struct {
		body string
		zip  bool
	}{
		{upload(withInsertID("device-1", "", "a"), withInsertID("device-2", "", "b")), true},  // 200, 2 ingested
		{upload(withInsertID("device-1", "", "a")), false},                                    // 429, device-1 over 1 eps
		{upload(withInsertID("device-3", "", "a"), withInsertID("device-3", "", "a")), false}, // 429, device-3
		{upload(withInsertID("device-4", "", "x")), false},                                    // 200, 1 ingested
		{upload(withInsertID("device-4", "", "x")), false},                                    // 429 as well
		{upload(event("device-S", ""), `{"device_id":"device-5"}`), false},                    // 400
		{`{"api_key":"k"}`, false},                                                            // 400 missing events
		{`not json`, false},                                                                   // 400
	}
	var wire int64
	for _, u := range uploads {
		post(t, srv.URL+pathHTTPV2, u.body, u.zip)
		if u.zip {
			wire += int64(len(gzipped(t, u.body)))
		} else {
			wire += int64(len(u.body))
		}
	}
	srv.SetFaults(Faults{ResetRate: 1})
	resp, err := http.Post(srv.URL+pathHTTPV2, "application/json", nil)
	if err == nil {
		resp.Body.Close()
	}

	status, body := send(t, http.MethodGet, srv.URL+pathStats, nil, "")
	if status != 200 {
		t.Fatalf("GET /stats: %d %s", status, body)
	}
	var got Stats
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	var payload int64
	for _, u := range uploads {
		payload += int64(len(u.body))
	}
	want := Stats{
		Requests:           map[int]int64{200: 2, 400: 3, 429: 3},
		ConnectionResets:   1,
		BytesReceived:      wire,
		PayloadBytes:       payload,
		EventsReceived:     9,
		EventsIngested:     3,
		EventsDeduplicated: 0,
		RequestsRejected:   map[string]int64{"too_many_requests": 3, "invalid_events": 1, "missing_field": 1, "invalid_json": 1},
		EventsRejected:     map[string]int64{"throttled": 4, "missing_fields": 1, "silenced": 1},
		ThrottledIDs:       IDSample{Count: 3, Sample: []string{"device_id:device-1", "device_id:device-3", "device_id:device-4"}},
		DailyQuotaIDs:      IDSample{Sample: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got: %+v\nwant: %+v", got, want)
	}
	if !reflect.DeepEqual(srv.Stats(), want) {
		t.Errorf("Stats() differs from GET /stats: %+v", srv.Stats())
	}
}

func TestIDSampleKeepsTheLatestDistinctIDs(t *testing.T) {
	var s IDSample
	for i := range idSampleSize + 5 {
		s.add([]string{"device_id:" + strconv.Itoa(i)})
	}
	s.add([]string{"device_id:10"})
	if s.Count != idSampleSize+6 || len(s.Sample) != idSampleSize {
		t.Fatalf("count %d, %d in sample; want %d and %d", s.Count, len(s.Sample), idSampleSize+6, idSampleSize)
	}
	if s.Sample[0] != "device_id:5" || s.Sample[idSampleSize-1] != "device_id:10" {
		t.Errorf("sample %v: want oldest device_id:5 and newest device_id:10", s.Sample)
	}
}

func TestResetForgetsEverything(t *testing.T) {
	srv := start(t, Config{})
	body := upload(devices("device-1", 30)...)
	post(t, srv.URL+pathHTTPV2, body, false)
	srv.Reset()
	if len(srv.Events()) != 0 || srv.Stats().EventsIngested != 0 {
		t.Fatal("Reset kept events or stats")
	}
	// The rate window forgot device-1's 30 events.
	if status, got := post(t, srv.URL+pathHTTPV2, body, false); status != 200 {
		t.Errorf("after Reset: %d %s", status, got)
	}
}
