package emulator

import (
	"net/http"
	"strings"
	"testing"
)

// The rules Amplitude documents for an upload and its events, each with the
// documentation's words. The emulator is exactly as strict as they are:
// it refuses what they forbid, accepts what they allow, and counts what
// they say Amplitude changes.
const (
	docHTTPV2 = "https://amplitude.com/docs/apis/analytics/http-v2"
	docBatch  = "https://amplitude.com/docs/apis/analytics/batch-event-upload"
	docLimits = "https://amplitude.com/docs/faq/limits"
	docExport = "https://amplitude.com/docs/apis/analytics/export"
	docSDK    = "https://amplitude.com/docs/sdks/sdk-debugging"
)

func TestTheEmulatorIsAsStrictAsAmplitudesDocumentation(t *testing.T) {
	ok := event("device-1", "user-1")
	withProps := func(field, value string) string { return event("device-1", "user-1", `"`+field+`":`+value) }
	named := func(name string) string { return `{"event_type":"` + name + `","device_id":"device-1"}` }
	timed := func(ms string) string { return event("device-1", "", `"time":`+ms) }
	deep := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `[1]` + strings.Repeat(`}`, n-1) }
	long := strings.Repeat("x", 1025)
	const (
		invalid = `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":`
		badType = `{"code":400,"error":"Content-Type must be application/json"}`
	)
	cases := []struct {
		doc, source string // the documentation's words, and where they are
		name        string
		path        string // default /2/httpapi
		contentType string // default application/json
		body        string
		status      int
		want        string // the answer's body, "" for any 200
		ingested    int
		truncated   int64
	}{
		{doc: "To send data to Amplitude HTTP V2 API, a Content-Type header must be set to application/json.", source: docHTTPV2 + "#headers",
			name: "a text/plain upload", contentType: "text/plain", body: upload(ok), status: 400, want: badType},
		{doc: "To send data to Amplitude HTTP V2 API, a Content-Type header must be set to application/json.", source: docHTTPV2 + "#headers",
			name: "an upload without Content-Type", contentType: "-", body: upload(ok), status: 400, want: badType},
		{doc: "To send data to Amplitude HTTP V2 API, a Content-Type header must be set to application/json.", source: docHTTPV2 + "#headers",
			name: "application/json with a charset", contentType: "application/json; charset=utf-8", body: upload(ok), status: 200, ingested: 1},
		{doc: "Content-type must be `application/json`.", source: docBatch + "#request",
			name: "a Batch upload labelled form data", path: pathBatch, contentType: "application/x-www-form-urlencoded", body: upload(ok), status: 400, want: badType},

		{doc: "Amplitude reserves the following event names for internal use: [Amplitude] Start Session, [Amplitude] End Session, " +
			"[Amplitude] Revenue, [Amplitude] Revenue (Verified), [Amplitude] Revenue (Unverified), and [Amplitude] Merged User.", source: docHTTPV2 + "#event-array-keys",
			name: "each reserved name",
			body: upload(named("[Amplitude] Start Session"), named("[Amplitude] End Session"), named("[Amplitude] Revenue"),
				named("[Amplitude] Revenue (Verified)"), named("[Amplitude] Revenue (Unverified)"), named("[Amplitude] Merged User")),
			status: 400, want: invalid + `{"event_type":[0,1,2,3,4,5]}}`},
		{doc: "Amplitude reserves the following event names for internal use: ... (the list is exact; the SDKs send other [Amplitude] events)", source: docHTTPV2 + "#event-array-keys",
			name: "another [Amplitude] name", body: upload(named("[Amplitude] Page Viewed")), status: 200, ingested: 1},

		{doc: "event_properties: ... Object depth may not exceed 40 layers.", source: docHTTPV2 + "#event-array-keys",
			name: "event_properties 40 layers deep", body: upload(withProps("event_properties", deep(40))), status: 200, ingested: 1},
		{doc: "event_properties: ... Object depth may not exceed 40 layers.", source: docHTTPV2 + "#event-array-keys",
			name: "event_properties 41 layers deep", body: upload(ok, withProps("event_properties", deep(41))),
			status: 400, want: invalid + `{"event_properties":[1]}}`},
		{doc: "user_properties: ... Object depth may not exceed 40 layers.", source: docBatch + "#body",
			name: "user_properties 41 layers deep on Batch", path: pathBatch, body: upload(withProps("user_properties", deep(41))),
			status: 400, want: invalid + `{"user_properties":[0]}}`},

		{doc: "You must send the time parameter in each event as millisecond since epoch.", source: docHTTPV2 + "#set-time-values",
			name: "microseconds are not milliseconds: past the year 9999, which ISO-8601 event_time cannot hold", body: upload(timed("1700000000123000")),
			status: 400, want: invalid + `{"time":[0]}}`},
		{doc: `"event_time": UTC ISO-8601 formatted timestamp (four-digit years)`, source: docExport + "#response-schema",
			name: "the first millisecond of the year 10000", body: upload(timed("253402300800000"), timed("1e20")), status: 400, want: invalid + `{"time":[0,1]}}`},
		{doc: `"event_time": UTC ISO-8601 formatted timestamp (four-digit years)`, source: docExport + "#response-schema",
			name: "the last millisecond of the year 9999", body: upload(timed("253402300799999")), status: 200, ingested: 1},
		{doc: "some sessions from certain users report inaccurate event times (for example, hundreds of years in the future)", source: docSDK,
			name: "the year 2500", body: upload(timed("16725225600000")), status: 200, ingested: 1},

		{doc: "All string values, like user_id, event, or user property values, have a character limit of 1024 characters.", source: docHTTPV2 + "#string-character-limit",
			name: "values of 1024 characters", body: upload(withProps("event_properties", `{"p":"`+long[1:]+`"}`)), status: 200, ingested: 1},
		{doc: "Amplitude truncates any values exceeding these limits.", source: docLimits + "#character-limit-for-strings",
			name:   "longer values are taken, and counted as truncated",
			body:   upload(withProps("event_properties", `{"p":"`+long+`","q":["`+long+`"]}`), withProps("user_properties", `{"p":"`+long+`"}`)),
			status: 200, ingested: 2, truncated: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := start(t, Config{})
			path := c.path
			if path == "" {
				path = pathHTTPV2
			}
			header := http.Header{"Content-Type": {"application/json"}}
			switch c.contentType {
			case "":
			case "-":
				header = http.Header{}
			default:
				header.Set("Content-Type", c.contentType)
			}
			status, body := sendWithHeader(t, http.MethodPost, srv.URL+path, []byte(c.body), header)
			if status != c.status {
				t.Errorf("status %d, want %d (%s: %q): %s", status, c.status, c.source, c.doc, body)
			}
			if c.want != "" {
				assertJSON(t, body, c.want)
			}
			s := srv.Stats()
			if s.EventsIngested != int64(c.ingested) || s.StringsTruncated != c.truncated {
				t.Errorf("ingested %d, truncated %d; want %d, %d", s.EventsIngested, s.StringsTruncated, c.ingested, c.truncated)
			}
		})
	}
}
