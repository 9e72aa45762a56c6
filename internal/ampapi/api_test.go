package ampapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestInspectMakesAmplitudesChecksBeforeSending(t *testing.T) {
	event := func(fields string) string {
		return `{"event_type":"[Appboy] Email Open","time":1700000000000` + fields + `}`
	}
	cases := []struct {
		name, event, reason, detail string
		userID, deviceID            string
	}{
		{name: "user and device", event: event(`,"user_id":"user-1","device_id":"device-1"`), userID: "user-1", deviceID: "device-1"},
		{name: "device only", event: event(`,"device_id":"device-1"`), deviceID: "device-1"},
		{name: "no time is Amplitude's server time", event: `{"event_type":"e","user_id":"user-1"}`, userID: "user-1"},
		{name: "no ids", event: event(``), reason: ReasonMissingID, detail: "neither user_id nor device_id is set"},
		{name: "null ids", event: event(`,"user_id":null,"device_id":null`), reason: ReasonMissingID},
		{name: "short user id", event: event(`,"user_id":"abcd"`), reason: ReasonInvalidIDLength, detail: `user_id "abcd" is shorter than min_id_length 5`},
		{name: "short id counted in characters", event: event(`,"user_id":"ééééé"`), userID: "ééééé"},
		{name: "blocklisted device id", event: event(`,"user_id":"user-1","device_id":"00000000-0000-0000-0000-000000000000"`), reason: ReasonInvalidID, detail: "device_id \"00000000-0000-0000-0000-000000000000\" is on Amplitude's list of invalid ids"},
		{name: "blocklist ignores case", event: event(`,"user_id":"Undefined"`), reason: ReasonInvalidID},
		{name: "empty id is blocklisted", event: event(`,"user_id":"","device_id":"device-1"`), reason: ReasonInvalidID},
		{name: "numeric id", event: event(`,"user_id":12345`), reason: ReasonInvalidID, detail: "user_id must be a string"},
		{name: "time in seconds", event: `{"event_type":"e","user_id":"user-1","time":1700000000}`, reason: ReasonInvalidTime, detail: "time 1700000000 is not an integer in milliseconds"},
		{name: "fractional time", event: `{"event_type":"e","user_id":"user-1","time":1700000000000.5}`, reason: ReasonInvalidTime},
		{name: "time as a string", event: `{"event_type":"e","user_id":"user-1","time":"1700000000000"}`, reason: ReasonInvalidTime},
		{name: "no event_type", event: `{"user_id":"user-1"}`, reason: ReasonMissingEventType},
		{name: "not JSON", event: `{"user_id":`, reason: ReasonInvalidJSON, detail: "not valid JSON"},
		{name: "not an object", event: `["user-1"]`, reason: ReasonInvalidJSON, detail: "not a JSON object"},
		{name: "invalid UTF-8", event: "{\"event_type\":\"caf\xe9\",\"user_id\":\"user-1\"}", reason: ReasonInvalidJSON},
		{name: "empty", event: ``, reason: ReasonInvalidJSON},
		{name: "escaped ids are decoded", event: event(`,"user_id":"us\u0065r-1","device_id":"d\/1-\u00e9\u00e9"`), userID: "user-1", deviceID: "d/1-éé"},
		{name: "escaped key names are decoded", event: event(`,"user\u005fid":"user-1"`), userID: "user-1"},
		{name: "the last of duplicate keys wins", event: event(`,"user_id":"first-user","user_id":"user-1"`), userID: "user-1"},
		{name: "ids inside nested objects do not count", event: event(`,"user_properties":{"user_id":"user-1"},"event_properties":{"device_id":"device-1"}`), reason: ReasonMissingID},
		{name: "whitespace around the event", event: " \n\t" + event(`,"user_id" : "user-1"`) + "\r\n ", userID: "user-1"},
		{name: "boolean id", event: event(`,"device_id":true`), reason: ReasonInvalidID, detail: "device_id must be a string"},
		{name: "object id", event: event(`,"user_id":{"id":"user-1"}`), reason: ReasonInvalidID, detail: "user_id must be a string"},
		{name: "escaped blocklisted id", event: event(`,"user_id":"\u004eull"`), reason: ReasonInvalidID, detail: `user_id "Null" is on Amplitude's list of invalid ids`},
		{name: "null time", event: `{"event_type":"e","user_id":"user-1","time":null}`, reason: ReasonInvalidTime, detail: "time null is not an integer in milliseconds"},
		{name: "empty event_type", event: `{"event_type":"","user_id":"user-1"}`, reason: ReasonMissingEventType, detail: "event_type must be a non-empty string"},
		{name: "numeric event_type", event: `{"event_type":7,"user_id":"user-1"}`, reason: ReasonMissingEventType},
		{name: "escaped event_type is not empty", event: `{"event_type":"\u00e9","user_id":"user-1"}`, userID: "user-1"},
		{name: "invalid JSON deep inside", event: event(`,"user_id":"user-1","event_properties":{"a":[1,{"b":tru}]}`), reason: ReasonInvalidJSON, detail: "not valid JSON"},
		{name: "trailing data", event: event(`,"user_id":"user-1"`) + `{}`, reason: ReasonInvalidJSON, detail: "not valid JSON"},
		{name: "control character in a string", event: event(`,"user_id":"user-1","p":"a` + "\x01" + `b"`), reason: ReasonInvalidJSON, detail: "not valid JSON"},
		{name: "a string, not an object", event: `"user-1"`, reason: ReasonInvalidJSON, detail: "not a JSON object"},
		{name: "invalid non-object", event: `nul`, reason: ReasonInvalidJSON, detail: "not valid JSON"},
		{name: "larger than a request", event: event(`,"user_id":"user-1","pad":"` + strings.Repeat("x", 200) + `"`), reason: ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Inspect([]byte(c.event), 5, 200)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if ev.UserID != c.userID || ev.DeviceID != c.deviceID || string(ev.Raw) != c.event {
					t.Errorf("got %+v", ev)
				}
				return
			}
			if err == nil || err.Reason != c.reason {
				t.Fatalf("want reason %s, got %v", c.reason, err)
			}
			if c.detail != "" && err.Detail != c.detail {
				t.Errorf("detail %q, want %q", err.Detail, c.detail)
			}
			if !strings.HasPrefix(err.Error(), "amplitude: "+c.reason+": ") {
				t.Errorf("error text %q does not start with the reason", err)
			}
		})
	}
}

// split packs events in order into requests, as the output does.
func split(env Envelope, events []Event) [][]Event {
	var groups [][]Event
	fill := env.NewFill()
	start := 0
	for i, ev := range events {
		if !fill.Add(len(ev.Raw)) {
			groups = append(groups, events[start:i])
			start, fill = i, env.NewFill()
			fill.Add(len(ev.Raw))
		}
	}
	if start < len(events) {
		groups = append(groups, events[start:])
	}
	return groups
}

func raws(events []Event) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for _, ev := range events {
			if !yield(ev.Raw) {
				return
			}
		}
	}
}

func TestRequestsFillUpToTheLimitsOnExactBytes(t *testing.T) {
	mk := func(n, size int) []Event {
		events := make([]Event, n)
		for i := range events {
			pad := strings.Repeat("x", size-len(`{"event_type":"e","user_id":"user-1","p":""}`))
			events[i] = Event{Raw: []byte(`{"event_type":"e","user_id":"user-1","p":"` + pad + `"}`)}
		}
		return events
	}
	cases := []struct {
		name       string
		kind       Kind
		events     []Event
		wantGroups int
	}{
		{"one small request", HTTPV2, mk(10, 100), 1},
		{"2000 events per request at most", HTTPV2, mk(4001, 60), 3},
		{"HTTP V2 stays under 1 MB", HTTPV2, mk(30, 100_000), 4},
		{"Batch takes 20 MB", Batch, mk(30, 100_000), 1},
		{"Batch still 2000 events", Batch, mk(2001, 100), 2},
		{"nothing to send", HTTPV2, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := NewEnvelope(c.kind, "0123456789abcdef0123456789abcdef", 5)
			groups := split(env, c.events)
			if len(groups) != c.wantGroups {
				t.Fatalf("%d groups, want %d", len(groups), c.wantGroups)
			}
			seen := 0
			for _, g := range groups {
				body := env.Append(nil, raws(g))
				if len(body) > c.kind.Limits().MaxBytes || len(g) > c.kind.Limits().MaxEvents {
					t.Errorf("group of %d events is %d bytes", len(g), len(body))
				}
				var parsed struct {
					APIKey  string            `json:"api_key"`
					Events  []json.RawMessage `json:"events"`
					Options struct {
						MinIDLength int `json:"min_id_length"`
					} `json:"options"`
				}
				if err := json.Unmarshal(body, &parsed); err != nil {
					t.Fatalf("body is not JSON: %v", err)
				}
				if len(parsed.Events) != len(g) || parsed.Options.MinIDLength != 5 || parsed.APIKey == "" {
					t.Errorf("body: %d events, options %+v", len(parsed.Events), parsed.Options)
				}
				seen += len(g)
			}
			if seen != len(c.events) {
				t.Errorf("%d events packed of %d", seen, len(c.events))
			}
		})
	}
}

func TestAnEventOfMaxEventBytesFitsAlone(t *testing.T) {
	env := NewEnvelope(HTTPV2, "key-0123456789", 5)
	pad := strings.Repeat("x", env.MaxEventBytes()-len(`{"p":""}`))
	events := []Event{{Raw: []byte(`{"p":"` + pad + `"}`)}, {Raw: []byte(`{}`)}}
	groups := split(env, events)
	if len(groups) != 2 || len(env.Append(nil, raws(groups[0]))) != HTTPV2.Limits().MaxBytes {
		t.Errorf("%d groups", len(groups))
	}
}

func TestClassifyEveryAmplitudeResponse(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   Outcome
	}{
		{"success", 200, `{"code":200,"events_ingested":2,"payload_size_bytes":50,"server_upload_time":1700000000000}`, Accepted},
		{"invalid fields", 400, `{"code":400,"error":"Request missing required field","events_with_invalid_fields":{"time":[1]}}`, EventsRejected},
		{"missing fields", 400, `{"code":400,"events_with_missing_fields":{"event_type":[0]}}`, EventsRejected},
		{"invalid id lengths", 400, `{"code":400,"events_with_invalid_id_lengths":{"user_id":[3]}}`, EventsRejected},
		{"silenced device", 400, `{"code":400,"silenced_devices":["d-1"],"silenced_events":[2]}`, EventsRejected},
		{"invalid API key", 400, `{"code":400,"error":"Invalid API key: abc"}`, ConfigFault},
		{"missing api_key", 400, `{"code":400,"error":"Request missing required field","missing_field":"api_key"}`, ConfigFault},
		{"400 naming nothing", 400, `{"code":400,"error":"Invalid JSON request body"}`, Unexplained},
		{"payload too large", 413, `{"code":413,"error":"Payload too large"}`, TooLarge},
		{"throttled", 429, `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,"throttled_devices":{"d-1":31},"throttled_events":[0]}`, Throttled},
		{"daily quota", 429, `{"code":429,"exceeded_daily_quota_users":{"u-1":500001}}`, Throttled},
		{"server error", 500, `{"code":500}`, Transient},
		{"bad gateway without JSON", 502, `<html>bad gateway</html>`, Transient},
		{"unavailable", 503, ``, Transient},
		{"gateway timeout", 504, ``, Transient},
		{"unexpected status", 302, ``, Transient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := Classify(c.status, []byte(c.body)); got != c.want {
				t.Errorf("%s, want %s", got, c.want)
			}
		})
	}
}

func TestRejectedEventsNameTheFieldOfEachEvent(t *testing.T) {
	_, r := Classify(400, []byte(`{"code":400,"events_with_invalid_fields":{"time":[1,4]},"events_with_missing_fields":{"event_type":[2]},"events_with_invalid_id_lengths":{"device_id":[3]},"silenced_events":[5]}`))
	got := map[int]string{}
	for i, err := range r.RejectedEvents() {
		got[i] = err.Error()
	}
	want := map[int]string{
		1: "amplitude: invalid_field: Amplitude reports time invalid",
		4: "amplitude: invalid_field: Amplitude reports time invalid",
		2: "amplitude: missing_field: Amplitude reports event_type missing",
		3: "amplitude: invalid_id_length: Amplitude reports device_id of invalid length",
		5: "amplitude: silenced_device: Amplitude silenced this device",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestKindsAndRegions(t *testing.T) {
	for _, c := range []struct {
		api, path string
	}{{"http_v2", "/2/httpapi"}, {"batch", "/batch"}} {
		k, err := ParseKind(c.api)
		if err != nil || k.Path() != c.path || k.String() != c.api {
			t.Errorf("%s: %v %s %s", c.api, err, k.Path(), k)
		}
	}
	if _, err := ParseKind("v1"); err == nil {
		t.Error("unknown api accepted")
	}
	for region, want := range map[string]string{"us": "https://api2.amplitude.com", "eu": "https://api.eu.amplitude.com"} {
		if got, err := BaseURL(region); err != nil || got != want {
			t.Errorf("%s: %s %v", region, got, err)
		}
	}
	if _, err := BaseURL("apac"); err == nil {
		t.Error("unknown region accepted")
	}
}

func TestBlocklistedMatchesAmplitudesListInAnyCase(t *testing.T) {
	for id := range blocklist {
		for _, v := range []string{id, strings.ToUpper(id), strings.ToUpper(id[:min(1, len(id))]) + id[min(1, len(id)):]} {
			if !Blocklisted(v) {
				t.Errorf("%q is not blocklisted", v)
			}
		}
	}
	for _, id := range []string{"user-1", "nulll", "0-device", "00000000-0000-0000-0000-000000000001",
		"3f6c2a9e-7b41-4d58-9c0e-2a81d4f7b6e3", "ñull", "NIL ", "anonymous-1"} {
		if Blocklisted(id) {
			t.Errorf("%q is blocklisted", id)
		}
	}
}

// The table quotes Amplitude's documentation (see Limits).
func TestLimitsAreAmplitudesDocumentedOnes(t *testing.T) {
	for _, c := range []struct {
		kind                      Kind
		events, bytes, eps, quota int
		window, pause             time.Duration
	}{
		{HTTPV2, 2000, 1_000_000, 30, 500_000, time.Second, 30 * time.Second},
		{Batch, 2000, 20_000_000, 1000, 500_000, 30 * time.Second, 15 * time.Second},
	} {
		l := c.kind.Limits()
		if l.MaxEvents != c.events || l.MaxBytes != c.bytes || l.EventsPerSecond != float64(c.eps) ||
			l.DailyQuota != c.quota || l.RateWindow != c.window || l.ThrottlePause != c.pause {
			t.Errorf("%s: %+v", c.kind, l)
		}
	}
}

// An id sending at the default pace sends at most SendBurst + SendRate x
// (window + jitter) events in any rate window, however its requests are
// delayed by up to the jitter: that must stay within Amplitude's limit.
func TestTheDefaultPaceStaysUnderTheLimitDespiteDelayJitter(t *testing.T) {
	for kind, jitter := range map[Kind]time.Duration{HTTPV2: 80 * time.Millisecond, Batch: 2 * time.Second} {
		l := kind.Limits()
		most := float64(l.SendBurst) + l.SendRate*(l.RateWindow+jitter).Seconds()
		if allowed := l.EventsPerSecond * l.RateWindow.Seconds(); most > allowed {
			t.Errorf("%s: up to %.0f events in a %s window, Amplitude allows %.0f", kind, most, l.RateWindow, allowed)
		}
	}
}
