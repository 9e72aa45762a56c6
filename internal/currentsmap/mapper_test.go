package currentsmap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

const purchase = `{"event_type":"users.behaviors.Purchase","id":"ev-1","time":1700000000,
 "user":{"user_id":"braze-internal","external_user_id":"user-1","device_id":"device-1","timezone":"Europe/Paris"},
 "properties":{"product_id":"sku-1","price":9.99,"currency":"EUR","platform":"ios","os_version":"17.1","device_model":"iPhone15,2",
  "ad_id":"AAAA-BBBB","ad_id_type":"ios_idfa","email_address":"a@example.com","purchase_properties":{"size":"L"}}}`

func mapWith(t *testing.T, opts Options, event string) (map[string]any, error) {
	t.Helper()
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	assertPathsAgree(t, m, []byte(event))
	out, err := m.MapRaw(nil, []byte(event))
	if err != nil {
		return nil, err
	}
	return decode(t, out), nil
}

func withOpts(f func(o *Options)) Options {
	o := DefaultOptions()
	f(&o)
	return o
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestBadEventsFailNamingTheEventAndTheField(t *testing.T) {
	valid := func(edit string) string {
		return strings.Replace(`{"event_type":"users.messages.email.Open","id":"ev-9","time":1700000000,"user":{"external_user_id":"user-1"},"properties":{}}`, `"properties":{}`, edit, 1)
	}
	cases := []struct {
		name, event, want string
	}{
		{"empty message", ``, `currents event (no id): empty message, expected a JSON object`},
		{"malformed JSON", `{"id": "ev-9",`, `currents event (no id): not valid JSON`},
		{"not an object", `[{"id":"ev-9"}]`, `currents event (no id): not a JSON object`},
		{"missing id", `{"event_type":"t","time":1,"user":{"device_id":"d-1"}}`, `currents event (no id): field id: missing`},
		{"id of the wrong type", `{"id":7,"event_type":"t"}`, `currents event (no id): field id: expected a string`},
		{"empty id", `{"id":""}`, `currents event (no id): field id: empty`},
		{"missing event_type", `{"id":"ev-9","time":1}`, `currents event "ev-9": field event_type: missing`},
		{"missing time", `{"id":"ev-9","event_type":"t"}`, `currents event "ev-9": field time: missing`},
		{"time as a string", `{"id":"ev-9","event_type":"t","time":"1700000000"}`, `currents event "ev-9": field time: expected a positive UNIX time in seconds`},
		{"negative time", `{"id":"ev-9","event_type":"t","time":-5}`, `currents event "ev-9": field time: expected a positive UNIX time in seconds`},
		{"time overflowing milliseconds", `{"id":"ev-9","event_type":"t","time":9223372036854775807}`, `currents event "ev-9": field time: expected a positive UNIX time in seconds`},
		{"user of the wrong type", `{"id":"ev-9","event_type":"t","time":1,"user":"u"}`, `currents event "ev-9": field user: expected an object`},
		{"external_user_id of the wrong type", `{"id":"ev-9","event_type":"t","time":1,"user":{"external_user_id":5}}`, `currents event "ev-9": field user.external_user_id: expected a string`},
		{"device_id of the wrong type", `{"id":"ev-9","event_type":"t","time":1,"user":{"device_id":true}}`, `currents event "ev-9": field user.device_id: expected a string`},
		{"no user at all", `{"id":"ev-9","event_type":"t","time":1}`, `currents event "ev-9": field user: has neither external_user_id nor device_id; Amplitude needs one`},
		{"empty ids", `{"id":"ev-9","event_type":"t","time":1,"user":{"external_user_id":"","device_id":null}}`, `currents event "ev-9": field user: has neither external_user_id nor device_id; Amplitude needs one`},
		{"properties of the wrong type", valid(`"properties":[]`), `currents event "ev-9": field properties: expected an object`},
		{"time_ms of the wrong type", valid(`"properties":{"time_ms":"now"}`), `currents event "ev-9": field properties.time_ms: expected a positive number of milliseconds`},
		{"custom event without a name", strings.Replace(valid(`"properties":{}`), "users.messages.email.Open", "users.behaviors.CustomEvent", 1), `currents event "ev-9": field properties.name: missing`},
		{"product_id of the wrong type", strings.Replace(valid(`"properties":{"product_id":12}`), "users.messages.email.Open", "users.behaviors.Purchase", 1), `currents event "ev-9": field properties.product_id: expected a string`},
		{"price of the wrong type", strings.Replace(valid(`"properties":{"price":"9.99"}`), "users.messages.email.Open", "users.behaviors.Purchase", 1), `currents event "ev-9": field properties.price: expected a number`},
		{"custom_properties as a string", valid(`"properties":{"custom_properties":"{\"a\":1}"}`), `currents event "ev-9": field properties.custom_properties: expected an object`},
		{"purchase_properties as an array", valid(`"properties":{"purchase_properties":[1]}`), `currents event "ev-9": field properties.purchase_properties: expected an object`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := mapWith(t, DefaultOptions(), c.event)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a *FieldError, got %v", err)
			}
			if err.Error() != c.want {
				t.Errorf("got  %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestEventTypeNaming(t *testing.T) {
	event := func(eventType, props string) string {
		return `{"event_type":"` + eventType + `","id":"ev-1","time":1,"user":{"external_user_id":"user-1"},"properties":` + props + `}`
	}
	cases := []struct {
		name  string
		opts  Options
		event string
		want  string
	}{
		{"table name", DefaultOptions(), event("users.messages.email.Open", `{}`), "[Appboy] Email Open"},
		{"custom event", DefaultOptions(), event("users.behaviors.CustomEvent", `{"name":"Level Up"}`), "[Appboy] [Custom Event] Level Up"},
		{"unknown type keeps its Currents name", DefaultOptions(), event("agentconsole.AgentExecuted", `{}`), "[Appboy] agentconsole.AgentExecuted"},
		{"seed spelling is an alias", DefaultOptions(), event("users_campaigns_abort", `{}`), "[Appboy] Campaign Abort"},
		{"currents profile", withOpts(func(o *Options) { o.Profile = ProfileCurrents }), event("users.messages.email.Open", `{}`), "users.messages.email.Open"},
		{"currents profile, alias", withOpts(func(o *Options) { o.Profile = ProfileCurrents }), event("users_canvas_abort", `{}`), "users.canvas.Abort"},
		{"currents profile, custom event", withOpts(func(o *Options) { o.Profile = ProfileCurrents }), event("users.behaviors.CustomEvent", `{"name":"Level Up"}`), "Level Up"},
		{"override", withOpts(func(o *Options) { o.Names = map[string]string{"users.messages.email.Open": "Email Opened"} }), event("users.messages.email.Open", `{}`), "Email Opened"},
		{"override by alias", withOpts(func(o *Options) { o.Names = map[string]string{"users_canvas_abort": "Canvas Aborted"} }), event("users.canvas.Abort", `{}`), "Canvas Aborted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := mapWith(t, c.opts, c.event)
			if err != nil {
				t.Fatal(err)
			}
			if out["event_type"] != c.want {
				t.Errorf("event_type %q, want %q", out["event_type"], c.want)
			}
		})
	}
}

func TestEventSelection(t *testing.T) {
	event := func(eventType string) string {
		return `{"event_type":"` + eventType + `","id":"ev-1","time":1,"user":{"external_user_id":"user-1"}}`
	}
	cases := []struct {
		name      string
		include   []string
		exclude   []string
		eventType string
		selected  bool
	}{
		{"no lists keep everything", nil, nil, "users.messages.sms.Send", true},
		{"include glob crosses dots", []string{"users.messages.*"}, nil, "users.messages.email.Open", true},
		{"not included", []string{"users.messages.email.*"}, nil, "users.messages.sms.Send", false},
		{"excluded", nil, []string{"*.Bounce"}, "users.messages.email.Bounce", false},
		{"exclude wins over include", []string{"users.messages.email.*"}, []string{"users.messages.email.Open"}, "users.messages.email.Open", false},
		{"aliases match by canonical type", []string{"users.campaigns.Abort"}, nil, "users_campaigns_abort", true},
		{"question mark is one character", []string{"users.messages.sm?.Send"}, nil, "users.messages.sms.Send", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := mapWith(t, withOpts(func(o *Options) { o.Include, o.Exclude = c.include, c.exclude }), event(c.eventType))
			if got := !errors.Is(err, ErrExcluded); got != c.selected || (c.selected && err != nil) {
				t.Errorf("selected=%v err=%v, want selected=%v", got, err, c.selected)
			}
		})
	}
}

func TestAnonymousUsersAreSentOnlyWhenEnabled(t *testing.T) {
	anon := `{"event_type":"users.behaviors.app.SessionStart","id":"ev-1","time":1,"user":{"device_id":"device-1"}}`
	if _, err := mapWith(t, DefaultOptions(), anon); !errors.Is(err, ErrExcluded) {
		t.Errorf("default: want ErrExcluded, got %v", err)
	}
	out, err := mapWith(t, withOpts(func(o *Options) { o.Anonymous = true }), anon)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["user_id"]; ok || out["device_id"] != "device-1" {
		t.Errorf("anonymous event: %v", out)
	}
}

func TestTopLevelFields(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want map[string]any // nil value: field absent
	}{
		{"braze export", DefaultOptions(), map[string]any{
			"productId": "sku-1", "price": json.Number("9.99"), "idfa": "AAAA-BBBB", "adid": nil,
			"platform": nil, "revenue": nil, "user_id": "user-1", "device_id": "device-1", "time": json.Number("1700000000000"),
		}},
		{"device fields", withOpts(func(o *Options) { o.DeviceFields = true }), map[string]any{
			"platform": "ios", "os_version": "17.1", "device_model": "iPhone15,2",
		}},
		{"revenue", withOpts(func(o *Options) { o.Revenue = true }), map[string]any{
			"revenue": json.Number("9.99"), "quantity": json.Number("1"), "revenueType": "purchase", "currency": "EUR",
		}},
		{"hashed ad id", withOpts(func(o *Options) { o.PII = PIIHash }), map[string]any{"idfa": sha("AAAA-BBBB")}},
		{"dropped ad id", withOpts(func(o *Options) { o.PII = PIIDrop }), map[string]any{"idfa": nil}},
		{"ad id not listed as PII", withOpts(func(o *Options) { o.PII, o.PIIFields = PIIDrop, []string{"email_address"} }), map[string]any{"idfa": "AAAA-BBBB"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := mapWith(t, c.opts, purchase)
			if err != nil {
				t.Fatal(err)
			}
			for field, want := range c.want {
				expectField(t, out, field, want)
			}
		})
	}
}

func TestAdIDGoesWhereItsTypeBelongs(t *testing.T) {
	for adType, field := range map[string]string{"ios_idfa": "idfa", "google_ad_id": "adid", "windows_ad_id": "", "": ""} {
		out, err := mapWith(t, DefaultOptions(), strings.Replace(purchase, `"ios_idfa"`, `"`+adType+`"`, 1))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"idfa", "adid"} {
			want := any(nil)
			if f == field {
				want = "AAAA-BBBB"
			}
			expectField(t, out, f, want)
		}
		if out["event_properties"].(map[string]any)["ad_id"] != "AAAA-BBBB" {
			t.Errorf("%s: ad_id must stay in event_properties", adType)
		}
	}
}

func TestPIIFields(t *testing.T) {
	for mode, want := range map[string]any{PIIKeep: "a@example.com", PIIHash: sha("a@example.com"), PIIDrop: nil} {
		out, err := mapWith(t, withOpts(func(o *Options) { o.PII = mode }), purchase)
		if err != nil {
			t.Fatal(err)
		}
		expectField(t, out["event_properties"].(map[string]any), "email_address", want)
	}
}

func TestTimeMillisecondsOverrideSeconds(t *testing.T) {
	out, err := mapWith(t, DefaultOptions(), `{"event_type":"users.behaviors.pushnotification.TokenStateChange","id":"ev-1","time":1700000000,
		"user":{"external_user_id":"user-1"},"properties":{"time_ms":1700000000123}}`)
	if err != nil {
		t.Fatal(err)
	}
	expectField(t, out, "time", json.Number("1700000000123"))
	expectField(t, out["event_properties"].(map[string]any), "time_ms", json.Number("1700000000123"))
}

// Replacing a bad byte with U+FFFD would merge different ids into one
// Amplitude user, and Amplitude refuses bodies that are not UTF-8: such an
// event is refused, naming the field, and never rewritten.
func TestInvalidUTF8IsRefusedNamingTheField(t *testing.T) {
	event := func(id, eventType, user, props string) string {
		return `{"event_type":"` + eventType + `","id":"` + id + `","time":1700000000,"user":{` + user + `},"properties":{` + props + `}}`
	}
	const bad = "\xff"
	for _, tt := range []struct {
		name, event, want string
	}{
		{"external_user_id", event("ev-1", "users.messages.email.Open", `"external_user_id":"user-`+bad+`"`, ``),
			`currents event "ev-1": field user.external_user_id: not valid UTF-8`},
		{"device_id", event("ev-1", "users.messages.email.Open", `"external_user_id":"user-1","device_id":"d`+bad+`vice"`, ``),
			`currents event "ev-1": field user.device_id: not valid UTF-8`},
		{"event_type", event("ev-1", "users.messages.email.Op"+bad+"n", `"external_user_id":"user-1"`, ``),
			`currents event "ev-1": field event_type: not valid UTF-8`},
		{"a custom event's name", event("ev-1", "users.behaviors.CustomEvent", `"external_user_id":"user-1"`, `"name":"sign`+bad+`up"`),
			`currents event "ev-1": field properties.name: not valid UTF-8`},
		{"the id", event("ev-"+bad, "users.messages.email.Open", `"external_user_id":"user-1"`, ``),
			`currents event (no id): field id: not valid UTF-8`},
		{"a nested property", event("ev-1", "users.behaviors.Purchase", `"external_user_id":"user-1"`, `"purchase_properties":{"sizes":["L","X`+bad+`L"]}`),
			`currents event "ev-1": field properties.purchase_properties.sizes[1]: not valid UTF-8`},
		{"a member name", event("ev-1", "users.messages.email.Open", `"external_user_id":"user-1"`, `"subj`+bad+`ct":"hi"`),
			`currents event "ev-1": field properties (a member name): not valid UTF-8`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.MapRaw(nil, []byte(tt.event))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %q, %v; want an error starting %q", out, err, tt.want)
			}
		})
	}
}

func TestInvalidOptionsAreRejected(t *testing.T) {
	for name, opts := range map[string]Options{
		"unknown profile": withOpts(func(o *Options) { o.Profile = "amplitude" }),
		"unknown pii":     withOpts(func(o *Options) { o.PII = "encrypt" }),
		"empty glob":      withOpts(func(o *Options) { o.Include = []string{""} }),
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Escapes in names and values are read as encoding/json reads them (lone
// surrogates become U+FFFD), so hashes and error texts match what Benthos
// parses from the same bytes.
func TestEscapedStringsReadAsBenthosParsesThem(t *testing.T) {
	event := `{"event_type":"users.messages.email.Op\u0065n","id":"ev-\ud800\u0041","t\u0069me":1,
		"user":{"external_user_\u0069d":"user-1"},"properties":{"email_address":"a\ud800\u0041@example.com"}}`
	out, err := mapWith(t, withOpts(func(o *Options) { o.PII = PIIHash }), event)
	if err != nil {
		t.Fatal(err)
	}
	expectField(t, out, "event_type", "[Appboy] Email Open")
	expectField(t, out, "insert_id", "ev-\uFFFDA")
	expectField(t, out, "user_id", "user-1")
	expectField(t, out, "time", json.Number("1000"))
	expectField(t, out["event_properties"].(map[string]any), "email_address", sha("a\uFFFDA@example.com"))

	_, err = mapWith(t, DefaultOptions(), strings.Replace(event, `"t\u0069me":1`, `"t\u0069me":"1"`, 1))
	if want := "currents event \"ev-\uFFFDA\": field time: expected a positive UNIX time in seconds"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestTooDeeplyNestedEventsAreNotJSON(t *testing.T) {
	nested := func(depth int) string {
		return `{"event_type":"users.messages.email.Open","id":"ev-1","time":1,"user":{"external_user_id":"user-1"},
			"properties":{"deep":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
	}
	// The event object and properties are two levels already.
	if _, err := mapWith(t, DefaultOptions(), nested(jsonscan.MaxDepth-2)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := mapWith(t, DefaultOptions(), nested(jsonscan.MaxDepth-1))
	if want := `currents event (no id): not valid JSON`; err == nil || err.Error() != want {
		t.Errorf("past the limit: got %v, want %s", err, want)
	}
}

func TestCachedUnknownTypesDoNotAliasTheCallersEvent(t *testing.T) {
	m, err := New(withOpts(func(o *Options) { o.Profile = ProfileCurrents }))
	if err != nil {
		t.Fatal(err)
	}
	event := []byte(`{"event_type":"users.new.Thing","id":"ev-1","time":1,"user":{"external_user_id":"u"}}`)
	if _, err := m.MapRaw(nil, event); err != nil {
		t.Fatal(err)
	}
	clear(event) // the caller reuses its buffer
	var cached []string
	m.unknown.Range(func(k, v any) bool {
		cached = append(cached, k.(string), v.(*plan).eventType)
		return true
	})
	if strings.Join(cached, " ") != "users.new.Thing users.new.Thing" {
		t.Errorf("cached type and name: %q", cached)
	}
}

func TestPropertiesHaveTheRoleTheirNameGives(t *testing.T) {
	for r, name := range roleNames {
		if name == "" {
			continue
		}
		if got := roleOf(name); got != role(r) {
			t.Errorf("%s: role %d, want %d", name, got, r)
		}
	}
	for i, f := range deviceFields {
		if got := roleOf(f); got != roleDevice+role(i) {
			t.Errorf("%s: role %d, want %d", f, got, roleDevice+role(i))
		}
	}
	// Names that share a role name's length and first byte, modulo 32.
	for _, name := range []string{"", "nane", "Name", "names", "n", "prise", "product_ix", "n" + strings.Repeat("a", 35), "Nxxx"} {
		if got := roleOf(name); got != plain {
			t.Errorf("%q: role %d, want none", name, got)
		}
	}
}

func TestTimesParseAsStrconvDoes(t *testing.T) {
	for _, num := range []string{
		"0", "7", "1709251200", "000123", "999999999999999999", "1000000000000000000",
		"9223372036854775807", "9223372036854775808", "-5", "+5", "", "1.5", "1e3", "12a", "１２",
	} {
		got, gotErr := parseInt(num)
		want, wantErr := strconv.ParseInt(num, 10, 64)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: %d, %v; strconv gives %d, %v", num, got, gotErr, want, wantErr)
		}
	}
}

// A Currents time in milliseconds (or a time_ms in microseconds) would give
// an Amplitude time tens of thousands of years ahead: refused, naming the
// field, at Amplitude's own ceiling (ampapi.MaxTimeMillis, the year 9999).
func TestImpossibleTimesAreRefusedNamingTheField(t *testing.T) {
	event := func(time, props string) string {
		return `{"event_type":"users.messages.email.Open","id":"ev-1","time":` + time + `,"user":{"external_user_id":"user-1"},"properties":{` + props + `}}`
	}
	for _, tt := range []struct {
		name, event, want string
	}{
		{"time in milliseconds", event("1700000000123", ""), `currents event "ev-1": field time: a UNIX time in seconds past the year 9999`},
		{"time_ms in microseconds", event("1700000000", `"time_ms":1700000000123000`), `currents event "ev-1": field properties.time_ms: milliseconds past the year 9999`},
		{"the last second of 9999 is a time", event("253402300799", ""), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapWith(t, DefaultOptions(), tt.event)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
}
