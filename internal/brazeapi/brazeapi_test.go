package brazeapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckAttributesAcceptsWhatBrazeDocumentsAndNamesWhatItRefuses(t *testing.T) {
	long := strings.Repeat("é", MaxStringLen+1) // 256 characters, 512 bytes
	atLimit := strings.Repeat("é", MaxStringLen)
	tests := []struct {
		name, obj, err string
	}{
		{name: "external_id and an array change", obj: `{"external_id":"u1","amplitude_cohorts":{"add":["[Amplitude] A: 1"]}}`},
		{name: "a user alias", obj: `{"user_alias":{"alias_name":"d1","alias_label":"amplitude_device_id"},"x":true}`},
		{name: "email", obj: `{"email":"a@example.com","x":1}`},
		{name: "a value of 255 characters", obj: `{"external_id":"u1","k":"` + atLimit + `"}`},
		{name: "a key of 255 characters", obj: `{"external_id":"u1","` + atLimit + `":true}`},
		{name: "not an object", obj: `["external_id"]`, err: "must be a JSON object"},
		{name: "invalid JSON", obj: `{"external_id":`, err: "not valid JSON"},
		{name: "no identifier", obj: `{"k":true}`, err: "has none of the identifiers"},
		{name: "an empty external_id", obj: `{"external_id":""}`, err: "external_id must be a non-empty string"},
		{name: "a numeric external_id", obj: `{"external_id":42}`, err: "external_id must be a non-empty string"},
		{name: "an alias without a label", obj: `{"user_alias":{"alias_name":"d1"}}`, err: "user_alias must be an object"},
		{name: "a key of 256 characters", obj: `{"external_id":"u1","` + long + `":true}`, err: "is 256 characters"},
		{name: "a string value of 256", obj: `{"external_id":"u1","k":"` + long + `"}`, err: `attribute "k": value`},
		{name: "an array element of 256", obj: `{"external_id":"u1","k":["ok","` + long + `"]}`, err: `attribute "k": value`},
		{name: "an added element of 256", obj: `{"external_id":"u1","k":{"add":["` + long + `"]}}`, err: `attribute "k": value`},
		{name: "a removed element of 256", obj: `{"external_id":"u1","k":{"remove":["` + long + `"]}}`, err: `attribute "k": value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, err := CheckAttributes([]byte(tt.obj))
			if tt.err == "" {
				var want map[string]json.RawMessage
				if jerr := json.Unmarshal([]byte(tt.obj), &want); err != nil || jerr != nil || len(fields) != len(want) {
					t.Fatalf("CheckAttributes = %v, %v; want the object's %d fields, nil", fields, err, len(want))
				}
				return
			}
			if err == nil || err.Reason != ReasonInvalidObject || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want an invalid_object error containing %q", err, tt.err)
			}
		})
	}
}

func TestTrackBodyKeepsTheObjectsInOrder(t *testing.T) {
	body := TrackBody([][]byte{[]byte(` {"external_id":"a"} `), []byte(`{"external_id":"b"}`)})
	var got struct {
		Attributes []struct {
			ExternalID string `json:"external_id"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if len(got.Attributes) != 2 || got.Attributes[0].ExternalID != "a" || got.Attributes[1].ExternalID != "b" {
		t.Fatalf("body %s", body)
	}
}

func TestReadAnswerClassifiesEveryKindOfAnswer(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		kind         AnswerKind
		failed       map[int]string
		unattributed int
	}{
		{name: "success", status: 201, body: `{"message":"success","attributes_processed":3}`, kind: Accepted},
		{name: "success with non-fatal errors by index", status: 201,
			body: `{"message":"success","errors":[{"type":"provided external_id is blacklisted and disallowed","input_array":"attributes","index":1}]}`,
			kind: Accepted, failed: map[int]string{1: "provided external_id is blacklisted and disallowed"}},
		{name: "two errors for one object", status: 201,
			body: `{"message":"success","errors":[{"type":"a","input_array":"attributes","index":0},{"type":"b","input_array":"attributes","index":0}]}`,
			kind: Accepted, failed: map[int]string{0: "a; b"}},
		{name: "errors that name no object", status: 201,
			body: `{"message":"success","errors":["something minor",{"type":"x","input_array":"events","index":0},{"type":"y","index":9}]}`,
			kind: Accepted, unattributed: 3},
		{name: "queued during maintenance", status: 202, body: `{"message":"queued"}`, kind: Accepted},
		{name: "a fatal 400 naming objects", status: 400,
			body: `{"message":"Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.","errors":[{"type":"'x' is not valid","input_array":"attributes","index":0}]}`,
			kind: Refused, failed: map[int]string{0: "'x' is not valid"}},
		{name: "a 400 naming none", status: 400, body: `{"message":"Bad syntax"}`, kind: Split},
		{name: "too many objects", status: 400, body: `{"message":"Max Input Length Exceeded"}`, kind: Split},
		{name: "413", status: 413, body: `Request Entity Too Large`, kind: Split},
		{name: "an undocumented 4xx", status: 422, body: ``, kind: Split},
		{name: "401", status: 401, body: `{"message":"Unknown or missing REST API Key"}`, kind: ConfigFault},
		{name: "403", status: 403, body: `{"message":"forbidden"}`, kind: ConfigFault},
		{name: "404", status: 404, body: `{"message":"Unknown REST API Key"}`, kind: ConfigFault},
		{name: "a redirect", status: 302, body: ``, kind: ConfigFault},
		{name: "429", status: 429, body: `{"message":"Over rate limit"}`, kind: Throttled},
		{name: "408", status: 408, body: ``, kind: Transient},
		{name: "500", status: 500, body: `{"message":"Internal Server Error"}`, kind: Transient},
		{name: "503 with an HTML page", status: 503, body: `<html>down</html>`, kind: Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ReadAnswer(tt.status, []byte(tt.body), 3)
			if a.Kind != tt.kind {
				t.Fatalf("kind %s, want %s", a.Kind, tt.kind)
			}
			if len(a.Failed) != len(tt.failed) {
				t.Fatalf("failed %v, want %v", a.Failed, tt.failed)
			}
			for i, why := range tt.failed {
				if a.Failed[i] != why {
					t.Errorf("failed[%d] = %q, want %q", i, a.Failed[i], why)
				}
			}
			if len(a.Unattributed) != tt.unattributed {
				t.Errorf("unattributed %q, want %d", a.Unattributed, tt.unattributed)
			}
			if !strings.Contains(a.Describe(), "HTTP ") {
				t.Errorf("Describe() = %q", a.Describe())
			}
		})
	}
}

func TestRateLimitHeadersPauseUntilTheWindowResets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	headers := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	reset := "1700000002"
	tests := []struct {
		name      string
		h         http.Header
		throttled bool
		want      time.Time
	}{
		{name: "requests left", h: headers("X-RateLimit-Limit", "3000", "X-RateLimit-Remaining", "12", "X-RateLimit-Reset", reset), want: time.Time{}},
		{name: "none left", h: headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), want: now.Add(2 * time.Second)},
		{name: "throttled", h: headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), throttled: true, want: now.Add(2 * time.Second)},
		{name: "throttled with Retry-After", h: headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset, "Retry-After", "5"), throttled: true, want: now.Add(5 * time.Second)},
		{name: "throttled with X-RateLimit-Retry-After", h: headers("X-RateLimit-Retry-After", "1.5"), throttled: true, want: now.Add(1500 * time.Millisecond)},
		{name: "throttled without headers", h: http.Header{}, throttled: true, want: time.Time{}},
		{name: "a reset in the past", h: headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1699999999"), throttled: true, want: time.Time{}},
		{name: "a reset past a day", h: headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1800000000"), throttled: true, want: time.Time{}},
		{name: "garbage", h: headers("X-RateLimit-Remaining", "lots", "X-RateLimit-Reset", "soon"), throttled: true, want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseRateLimit(tt.h).Pause(now, tt.throttled)
			if !got.Equal(tt.want) {
				t.Fatalf("Pause = %v, want %v", got, tt.want)
			}
		})
	}
	// Braze sends lowercase names over HTTP/2; net/http canonicalises
	// received names as Set does, so they are read like any others.
	rl := ParseRateLimit(headers("x-ratelimit-limit", "3000", "x-ratelimit-remaining", "7", "x-ratelimit-reset", reset))
	if !rl.Known || rl.Limit != 3000 || rl.Remaining != 7 || !rl.Reset.Equal(now.Add(2*time.Second)) {
		t.Fatalf("ParseRateLimit = %+v", rl)
	}
}

func TestTheDefaultPaceStaysUnderBrazesWindow(t *testing.T) {
	// A GCRA pace of rate r and burst b sends at most b + r·w in a window w.
	most := float64(DefaultSendBurst) + DefaultSendRate*RateWindow.Seconds()
	if most >= RequestsPerWindow {
		t.Fatalf("the default pace may send %.0f requests in %s, Braze allows %d", most, RateWindow, RequestsPerWindow)
	}
}
