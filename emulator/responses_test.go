package emulator

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// sized returns an upload body of exactly n bytes: one valid event padded with a property.
func sized(n int) string {
	body := func(pad int) string {
		return upload(event("device-1", "user-1", `"event_properties":{"pad":"`+strings.Repeat("x", pad)+`"}`))
	}
	return body(n - len(body(0)))
}

// TestUploadAnswers is the specification of every answer to a single upload. In want,
// {size} stands for the body's decompressed size; the injected clock makes
// server_upload_time 1735786800000.
func TestUploadAnswers(t *testing.T) {
	ok := event("device-1", "user-1")
	accepted := func(n int) string {
		return `{"code":200,"events_ingested":` + strconv.Itoa(n) + `,"payload_size_bytes":{size},"server_upload_time":1735786800000}`
	}
	const (
		missingAPIKey = `{"code":400,"error":"Request missing required field","missing_field":"api_key"}`
		missingEvents = `{"code":400,"error":"Request missing required field","missing_field":"events"}`
		invalidJSON   = `{"code":400,"error":"Invalid JSON request body"}`
		tooLarge      = `{"code":413,"error":"Payload too large"}`
	)
	tests := []struct {
		name     string
		cfg      Config
		path     string // default /2/httpapi
		body     string
		encoding string // "gzip", or "gzip-header" for a plain body labelled gzip
		status   int
		want     string
		ingested int
	}{
		// Accepted uploads.
		{name: "HTTP V2 accepts valid events", body: upload(ok, event("device-2", "")),
			status: 200, want: accepted(2), ingested: 2},
		{name: "Batch accepts valid events", path: pathBatch, body: upload(ok, event("", "user-2")),
			status: 200, want: accepted(2), ingested: 2},
		{name: "HTTP V2 accepts a gzip body", body: upload(ok), encoding: "gzip",
			status: 200, want: accepted(1), ingested: 1},
		{name: "Batch accepts a gzip body", path: pathBatch, body: upload(ok), encoding: "gzip",
			status: 200, want: accepted(1), ingested: 1},
		{name: "events without time are accepted", body: upload(`{"event_type":"e","device_id":"device-1"}`),
			status: 200, want: accepted(1), ingested: 1},
		{name: "a null id counts as absent", body: upload(event("device-1", "", `"user_id":null`)),
			status: 200, want: accepted(1), ingested: 1},
		{name: "options.min_id_length allows shorter ids",
			body:   `{"api_key":"k","events":[` + event("abc", "xy") + `],"options":{"min_id_length":2}}`,
			status: 200, want: accepted(1), ingested: 1},
		{name: "a configured API key is accepted", cfg: Config{APIKeys: []string{"other", "test-key"}},
			body: upload(ok), status: 200, want: accepted(1), ingested: 1},
		{name: "unknown fields are accepted", body: upload(event("device-1", "", `"foo":{"bar":[1,2]}`)),
			status: 200, want: accepted(1), ingested: 1},

		// Unusable requests.
		{name: "an empty body", body: "", status: 400, want: `{"code":400,"error":"Missing request body"}`},
		{name: "a body that is not JSON", body: `{"api_key":"k","events":[`, status: 400, want: invalidJSON},
		{name: "a body that is not a JSON object", body: `[` + ok + `]`, status: 400, want: invalidJSON},
		{name: "a plain body labelled gzip", body: upload(ok), encoding: "gzip-header", status: 400, want: invalidJSON},
		{name: "missing api_key", body: `{"events":[` + ok + `]}`, status: 400, want: missingAPIKey},
		{name: "null api_key", body: `{"api_key":null,"events":[` + ok + `]}`, status: 400, want: missingAPIKey},
		{name: "missing api_key on Batch", path: pathBatch, body: `{"events":[` + ok + `]}`, status: 400, want: missingAPIKey},
		{name: "missing events", body: `{"api_key":"k"}`, status: 400, want: missingEvents},
		{name: "empty events", body: `{"api_key":"k","events":[]}`, status: 400, want: missingEvents},
		{name: "events not an array", body: `{"api_key":"k","events":{}}`, status: 400, want: missingEvents},
		{name: "an API key not configured", cfg: Config{APIKeys: []string{"good-key"}}, body: upload(ok),
			status: 400, want: `{"code":400,"error":"Invalid API key: test-key"}`},
		{name: "an empty API key", body: `{"api_key":"","events":[` + ok + `]}`,
			status: 400, want: `{"code":400,"error":"Invalid API key: "}`},
		{name: "an API key that is not a string", body: `{"api_key":123,"events":[` + ok + `]}`,
			status: 400, want: `{"code":400,"error":"Invalid API key: 123"}`},

		// Too large.
		{name: "HTTP V2 refuses 2001 events", body: upload(repeat(ok, 2001)...), status: 413, want: tooLarge},
		{name: "Batch refuses 2001 events", path: pathBatch, body: upload(repeat(ok, 2001)...), status: 413, want: tooLarge},
		{name: "HTTP V2 accepts 2000 events", cfg: Config{DisableRateLimits: true}, body: upload(repeat(ok, 2000)...),
			status: 200, want: accepted(2000), ingested: 2000},
		{name: "MaxEventsPerRequest lowers the event limit", cfg: Config{MaxEventsPerRequest: 2},
			body: upload(ok, ok, ok), status: 413, want: tooLarge},
		{name: "HTTP V2 accepts a body of 1,000,000 bytes", body: sized(1_000_000),
			status: 200, want: accepted(1), ingested: 1},
		{name: "HTTP V2 refuses a body of 1,000,001 bytes", body: sized(1_000_001), status: 413, want: tooLarge},
		{name: "HTTP V2 limits the decompressed size of a gzip body", body: sized(1_000_001), encoding: "gzip",
			status: 413, want: tooLarge},
		{name: "Batch accepts a body over the HTTP V2 limit", path: pathBatch, body: sized(1_000_001),
			status: 200, want: accepted(1), ingested: 1},
		{name: "Batch refuses a body of 20,000,001 bytes", path: pathBatch, body: sized(20_000_001),
			status: 413, want: tooLarge},
		{name: "MaxBatchBytes lowers the Batch byte limit", cfg: Config{MaxBatchBytes: 1000}, path: pathBatch,
			body: sized(1001), status: 413, want: tooLarge},

		// Events Amplitude refuses; the other events of the request are not ingested either.
		{name: "missing and invalid fields are listed by event index",
			body: upload(ok,
				`{"device_id":"device-1"}`,
				`{"event_type":"e"}`,
				event("device-1", "", `"time":1735786800`),
				`{"event_type":"e","device_id":"device-1","user_id":12345}`,
				`{"event_type":"e"}`),
			status: 400,
			want: `{"code":400,"error":"Request missing required field",
				"events_with_missing_fields":{"event_type":[1],"device_id":[2,5]},
				"events_with_invalid_fields":{"time":[3],"user_id":[4]}}`},
		{name: "Batch lists refused events the same way", path: pathBatch, body: upload(ok, `{"device_id":"device-1"}`),
			status: 400, want: `{"code":400,"error":"Request missing required field","events_with_missing_fields":{"event_type":[1]}}`},
		{name: "time must be an integer in milliseconds",
			body: upload(
				event("device-1", "", `"time":1735786800000.5`),
				event("device-1", "", `"time":"1735786800000"`),
				event("device-1", "", `"time":99999999999`),
				event("device-1", "", `"time":100000000000`)),
			status: 400, want: `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"time":[0,1,2]}}`},
		{name: "event_type must be a non-empty string",
			body:   upload(`{"event_type":7,"device_id":"device-1"}`, `{"event_type":"","device_id":"device-1"}`),
			status: 400,
			want: `{"code":400,"error":"Request missing required field",
				"events_with_invalid_fields":{"event_type":[0]},"events_with_missing_fields":{"event_type":[1]}}`},
		{name: "ids and insert_id must be strings",
			body:   upload(`{"event_type":"e","device_id":12345}`, event("device-1", "", `"insert_id":42`)),
			status: 400, want: `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"device_id":[0],"insert_id":[1]}}`},
		{name: "an event that is not an object lacks every field", body: upload(ok, `12345`),
			status: 400, want: `{"code":400,"error":"Request missing required field","events_with_missing_fields":{"event_type":[1],"device_id":[1]}}`},
		{name: "blocklisted ids are invalid whatever their case",
			body: upload(
				event("NULL", "user-1"),
				event("device-1", "Anonymous"),
				event("00000000-0000-0000-0000-000000000000", "user-1"),
				event("device-1", "LMY47D"),
				event("undefined", "n/a"),
				event("", "", `"device_id":"", "user_id":"-1"`)),
			status: 400,
			want: `{"code":400,"error":"Invalid field values on some events",
				"events_with_invalid_fields":{"device_id":[0,2,4,5],"user_id":[1,3,4,5]}}`},
		{name: "ids shorter than 5 characters have invalid lengths",
			body:   upload(event("dev1", "user-1"), event("device-1", "usr"), ok, event("dévic", "user-1")),
			status: 400, want: `{"code":400,"error":"Invalid field values on some events","events_with_invalid_id_lengths":{"device_id":[0],"user_id":[1]}}`},
		{name: "options.min_id_length raises the id length",
			body:   `{"api_key":"k","events":[` + ok + `],"options":{"min_id_length":7}}`,
			status: 400, want: `{"code":400,"error":"Invalid field values on some events","events_with_invalid_id_lengths":{"user_id":[0]}}`},
		{name: "a silenced device", cfg: Config{Faults: Faults{SilencedDevices: []string{"device-2"}}},
			body:   upload(ok, event("device-2", "user-2"), event("device-3", ""), event("device-2", "")),
			status: 400, want: `{"code":400,"error":"Events silenced for device_id","silenced_devices":["device-2"],"silenced_events":[1,3]}`},
		{name: "silenced devices and invalid fields in one answer",
			cfg:    Config{Faults: Faults{SilencedDevices: []string{"device-2", "device-3"}}},
			body:   upload(event("device-3", ""), event("device-2", "", `"time":1`), ok),
			status: 400,
			want: `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"time":[1]},
				"silenced_devices":["device-3","device-2"],"silenced_events":[0,1]}`},

		{name: "an unknown path", path: "/2/other", body: upload(ok),
			status: 404, want: `{"code":404,"error":"Invalid request path"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t, tt.cfg)
			path := tt.path
			if path == "" {
				path = pathHTTPV2
			}
			status, body := postEncoded(t, srv.URL+path, tt.body, tt.encoding)
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			assertJSON(t, body, strings.ReplaceAll(tt.want, "{size}", strconv.Itoa(len(tt.body))))
			if got := len(srv.Events()); got != tt.ingested {
				t.Errorf("%d events recorded, want %d", got, tt.ingested)
			}
			if got := srv.Stats().EventsIngested; got != int64(tt.ingested) {
				t.Errorf("stats count %d events ingested, want %d", got, tt.ingested)
			}
		})
	}
}

func postEncoded(t *testing.T, url, body, encoding string) (int, string) {
	t.Helper()
	switch encoding {
	case "gzip":
		return post(t, url, body, true)
	case "gzip-header":
		return send(t, http.MethodPost, url, []byte(body), "gzip")
	default:
		return post(t, url, body, false)
	}
}

func TestUploadPathsOnlyTakePOST(t *testing.T) {
	srv := start(t, Config{})
	for _, path := range []string{pathHTTPV2, pathBatch} {
		status, body := send(t, http.MethodGet, srv.URL+path, nil, "")
		if status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: status %d, want 405", path, status)
		}
		assertJSON(t, body, `{"code":405,"error":"Method not allowed"}`)
	}
}

func TestRecordedEventsKeepWhatWasSent(t *testing.T) {
	srv := start(t, Config{})
	raw := `{"event_type":"[Appboy] Email Opened","device_id":"device-1","user_id":"user-1","insert_id":"ins-1","time":1735786800123,"event_properties":{"a":[1,{"b":"c"}]}}`
	if status, body := post(t, srv.URL+pathHTTPV2, upload(raw, event("", "user-2")), true); status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	events := srv.Events()
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	want := Event{InsertID: "ins-1", DeviceID: "device-1", UserID: "user-1", EventType: "[Appboy] Email Opened", Time: 1735786800123}
	got := events[0]
	if string(got.Raw) != raw {
		t.Errorf("Raw %s, want %s", got.Raw, raw)
	}
	got.Raw = nil
	if got.InsertID != want.InsertID || got.DeviceID != want.DeviceID || got.UserID != want.UserID ||
		got.EventType != want.EventType || got.Time != want.Time {
		t.Errorf("event %+v, want %+v", got, want)
	}
	if events[1].UserID != "user-2" || events[1].DeviceID != "" {
		t.Errorf("second event %+v, want user-2 without device", events[1])
	}
}
