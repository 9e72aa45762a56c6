package currentsmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// optionSets exercise the branches of every option.
var optionSets = map[string]Options{
	"default": DefaultOptions(),
	"everything on": func() Options {
		o := DefaultOptions()
		o.Profile = ProfileCurrents
		o.Anonymous, o.DeviceFields, o.Revenue = true, true, true
		o.PII = PIIHash
		o.Names = map[string]string{"users.messages.email.Open": "Email Opened"}
		return o
	}(),
	"pii hashed, role properties too": func() Options {
		o := DefaultOptions()
		o.PII = PIIHash
		o.PIIFields = append(DefaultPIIFields(), "timezone", "name", "platform")
		return o
	}(),
	"pii dropped, email only": func() Options {
		o := DefaultOptions()
		o.PII = PIIDrop
		o.Include = []string{"users.messages.email.*", "users.behaviors.*"}
		o.Exclude = []string{"*.Bounce"}
		return o
	}(),
}

// outcome is what one path made of an event, comparable across paths.
type outcome struct {
	event    any
	err      string
	excluded bool
}

func rawOutcome(t testing.TB, m *Mapper, data []byte) outcome {
	out, err := m.MapRaw(nil, data)
	return toOutcome(t, out, err)
}

// benthosParse is the object Benthos makes of a message's bytes for `this`;
// false if it cannot make one.
func benthosParse(data []byte) (any, bool) {
	v, err := service.NewMessage(data).AsStructured()
	return v, err == nil
}

// benthosBytes are the bytes Benthos makes of an object, as when a mapping's
// result is sent on.
func benthosBytes(t testing.TB, v any) []byte {
	t.Helper()
	msg := service.NewMessage(nil)
	msg.SetStructured(v)
	b, err := msg.AsBytes()
	if err != nil || b == nil {
		t.Fatalf("Benthos cannot serialise %#v: %v", v, err)
	}
	return b
}

// objectOutcome goes the way a message does through this.currents_to_amplitude():
// Benthos has parsed it, MapObject maps it, Benthos serialises the result.
func objectOutcome(t testing.TB, m *Mapper, event any) outcome {
	out, err := m.MapObject(event)
	if err != nil {
		return toOutcome(t, nil, err)
	}
	return toOutcome(t, benthosBytes(t, out), nil)
}

func toOutcome(t testing.TB, out []byte, err error) outcome {
	switch {
	case errors.Is(err, ErrExcluded):
		return outcome{excluded: true}
	case err != nil:
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error is not a *FieldError: %v", err)
		}
		return outcome{err: err.Error()}
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %q: %v", out, err)
	}
	return outcome{event: v}
}

// assertPathsAgree: an event mapped from its bytes, and the same event
// mapped from the object Benthos parses of them, give the same Amplitude
// event or the same error.
func assertPathsAgree(t testing.TB, m *Mapper, data []byte) {
	t.Helper()
	assertWrittenFieldsCheckAsInspect(t, m, data)
	raw := rawOutcome(t, m, data)
	if !utf8.Valid(data) {
		// The raw path refuses bytes that are not UTF-8; Benthos replaces
		// them before the object path sees the event, so the two differ by
		// design here.
		if !strings.Contains(raw.err, "not valid UTF-8") {
			t.Fatalf("bytes that are not UTF-8 mapped: %q gave %+v", data, raw)
		}
		return
	}
	event, ok := benthosParse(data)
	if !ok {
		return // Benthos could not hand this to the object path at all.
	}
	assertObjectIsRawOnJSON(t, m, event)
	if obj := objectOutcome(t, m, event); !reflect.DeepEqual(raw, obj) {
		t.Fatalf("paths disagree on %q:\n raw    %+v\n object %+v", data, raw, obj)
	}
}

// assertObjectIsRawOnJSON: MapObject is MapRaw on the JSON Benthos writes of
// the event, with the result parsed as Benthos parses JSON (numbers as
// json.Number).
func assertObjectIsRawOnJSON(t testing.TB, m *Mapper, event any) {
	t.Helper()
	got, gotErr := m.MapObject(event)
	out, wantErr := m.MapRaw(nil, benthosBytes(t, event))
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("MapObject error %v, MapRaw on its JSON %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	want, ok := benthosParse(out)
	if !ok {
		t.Fatalf("MapRaw wrote invalid JSON %q", out)
	}
	if !reflect.DeepEqual(any(got), want) {
		t.Fatalf("MapObject %#v\nMapRaw on its JSON, parsed %#v", got, want)
	}
}

// assertWrittenFieldsCheckAsInspect: the amplitude output checks an event
// from the processor with the fields the mapping says it wrote instead of
// reading it again (handoff.With), so those fields must get exactly the
// verdict that reading the event gets, whatever the output's limits.
func assertWrittenFieldsCheckAsInspect(t testing.TB, m *Mapper, data []byte) {
	t.Helper()
	var written ampapi.Fields
	out, err := m.mapString(nil, string(data), &written)
	if err != nil {
		return
	}
	for _, minIDLength := range []int{0, 5, 12, 40} {
		for _, maxBytes := range []int{len(out), len(out) - 1} {
			gotEv, gotErr := ampapi.Check(out, written, minIDLength, maxBytes)
			wantEv, wantErr := ampapi.Inspect(out, minIDLength, maxBytes)
			if !reflect.DeepEqual(gotEv, wantEv) || !reflect.DeepEqual(gotErr, wantErr) {
				t.Fatalf("min_id_length %d, max %d bytes: %s\nwith the written fields %+v, %v\nread again %+v, %v",
					minIDLength, maxBytes, out, gotEv, gotErr, wantEv, wantErr)
			}
		}
	}
}

func TestBothPathsGiveTheSameEventForEverySample(t *testing.T) {
	for name, opts := range optionSets {
		m, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			for _, s := range samples.CustomHTTP(t) {
				assertPathsAgree(t, m, s.Data)
				for _, v := range variants(t, s.Data) {
					assertPathsAgree(t, m, v)
				}
			}
		})
	}
}

// variants derive edge cases from a sample: compact with and without some
// whitespace, anonymous, ids removed, wrong types, nulls, escaped keys,
// duplicate keys. Those built by edit are compact too.
func variants(t testing.TB, data []byte) [][]byte {
	edit := func(f func(ev map[string]any)) []byte {
		ev := decode(t, data)
		f(ev)
		b, _ := json.Marshal(ev)
		return b
	}
	user := func(ev map[string]any) map[string]any {
		u, _ := ev["user"].(map[string]any)
		if u == nil {
			u = map[string]any{}
			ev["user"] = u
		}
		return u
	}
	props := func(ev map[string]any) map[string]any {
		p, _ := ev["properties"].(map[string]any)
		if p == nil {
			p = map[string]any{}
			ev["properties"] = p
		}
		return p
	}
	compact := edit(func(map[string]any) {})
	return [][]byte{
		compact, // members copied in runs
		bytes.Replace(compact, []byte(`,"`), []byte(`, "`), 4), // runs broken by whitespace
		bytes.Replace(compact, []byte(`":`), []byte(`" :`), 3),
		// Properties with a role are written after the others.
		bytes.Replace(compact, []byte(`"properties":{`), []byte(`"properties":{"n\u0061me":"first","name":"second","pr\u0069ce":1,"timezone":"UTC",`), 1),
		edit(func(ev map[string]any) {
			user(ev)["timezone"] = "America/New_York"
			props(ev)["timezone"] = "Europe/Paris"
		}),
		edit(func(ev map[string]any) { user(ev)["timezone"] = "America/New_York"; props(ev)["timezone"] = true }),
		edit(func(ev map[string]any) { delete(user(ev), "external_user_id") }),
		edit(func(ev map[string]any) { user(ev)["device_id"] = nil }),
		edit(func(ev map[string]any) { user(ev)["external_user_id"] = 12345 }),
		edit(func(ev map[string]any) { user(ev)["external_user_id"] = "ab" }),
		edit(func(ev map[string]any) { user(ev)["external_user_id"] = "null" }),
		bytes.Replace(compact, []byte(`"external_user_id":"`), []byte(`"external_user_id":"\u0041\"`), 1),
		edit(func(ev map[string]any) { ev["time"] = 0 }),
		edit(func(ev map[string]any) { delete(ev, "id") }),
		edit(func(ev map[string]any) { ev["time"] = "1709251200" }),
		edit(func(ev map[string]any) { ev["time"] = 1.5e9 }),
		edit(func(ev map[string]any) { ev["event_type"] = "users_campaigns_abort" }),
		edit(func(ev map[string]any) { props(ev)["time_ms"] = 1700000000123 }),
		edit(func(ev map[string]any) { props(ev)["time_ms"] = "soon" }),
		edit(func(ev map[string]any) { props(ev)["price"] = "3.14" }),
		edit(func(ev map[string]any) { props(ev)["name"] = nil }),
		edit(func(ev map[string]any) { props(ev)["custom_properties"] = "{}" }),
		edit(func(ev map[string]any) { props(ev)["email_address"] = 42 }),
		edit(func(ev map[string]any) { props(ev)["ad_id_type"] = "google_ad_id" }),
		edit(func(ev map[string]any) { ev["properties"] = []any{1} }),
		bytes.Replace(data, []byte(`"properties"`), []byte(`"properties" : {"dup": 1}, "properties"`), 1),
		bytes.Replace(compact, []byte(`"time":`), []byte(`"t\u0069me":`), 1),
	}
}

// FuzzBothPathsAgreeAndNeverPanic: on any bytes, MapObject is MapRaw on
// the event's JSON, both paths give the same outcome, and neither panics.
func FuzzBothPathsAgreeAndNeverPanic(f *testing.F) {
	for _, s := range samples.CustomHTTP(f) {
		f.Add(s.Data)
		for _, v := range variants(f, s.Data) {
			f.Add(v)
		}
	}
	for _, s := range []string{"", "null", "[]", "{", `{"id":"x"}`, `{"id":"abcde","event_type":"t","time":1,"user":{"device_id":"d"}}`} {
		f.Add([]byte(s))
	}
	mappers := make([]*Mapper, 0, len(optionSets))
	for _, opts := range optionSets {
		m, err := New(opts)
		if err != nil {
			f.Fatal(err)
		}
		mappers = append(mappers, m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range mappers {
			assertPathsAgree(t, m, data)
		}
	})
}

// Bloblang builds objects of int64, float64 and other Go values, not only of
// what Benthos parses: MapObject maps them as the JSON Benthos would write
// of them, and refuses what JSON cannot hold.
func TestMapObjectTakesTheValuesBloblangBuilds(t *testing.T) {
	m, err := New(withOpts(func(o *Options) { o.PII = PIIHash }))
	if err != nil {
		t.Fatal(err)
	}
	event := func(props map[string]any) map[string]any {
		return map[string]any{
			"id": "ev-1", "event_type": "users.behaviors.Purchase", "time": int64(1700000000),
			"user":       map[string]any{"external_user_id": "user-1"},
			"properties": props,
		}
	}
	cases := []struct {
		name    string
		event   any
		asJSON  string // the same event as JSON, when it maps
		wantErr string
	}{
		{
			name:   "int64, float64, uint64 and nested values",
			event:  event(map[string]any{"price": 9.99, "time_ms": float64(1700000000123), "n": uint64(7), "list": []any{int64(1), "x"}, "email_address": int64(42)}),
			asJSON: `{"id":"ev-1","event_type":"users.behaviors.Purchase","time":1700000000,"user":{"external_user_id":"user-1"},"properties":{"price":9.99,"time_ms":1700000000123,"n":7,"list":[1,"x"],"email_address":42}}`,
		},
		{
			name:    "NaN",
			event:   event(map[string]any{"score": math.NaN()}),
			wantErr: `currents event "ev-1": not representable as JSON: json: unsupported value: NaN`,
		},
		{
			name:    "infinity outside an object",
			event:   math.Inf(1),
			wantErr: `currents event (no id): not representable as JSON: json: unsupported value: +Inf`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := m.MapObject(c.event)
			if c.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || err.Error() != c.wantErr {
					t.Fatalf("got %v, want the *FieldError %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, err := m.MapRaw(nil, []byte(c.asJSON))
			if err != nil {
				t.Fatal(err)
			}
			if want := decode(t, raw); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}
