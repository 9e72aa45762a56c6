package avroscan

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// normalise encodes record with hamba/avro and runs it through the normaliser.
func normalise(t *testing.T, schemaJSON, eventType string, record map[string]any) (string, error) {
	t.Helper()
	schema := avro.MustParse(schemaJSON)
	data, err := avro.Marshal(schema, record)
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNormaliser(schema.(*avro.RecordSchema), eventType)
	if err != nil {
		t.Fatal(err)
	}
	r := &decoder{}
	r.reset(data)
	out, propsErr := n.appendEvent(nil, r)
	if r.err != nil {
		t.Fatalf("decoding: %v", r.err)
	}
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	return string(out), propsErr
}

const purchaseSchema = `{"type": "record", "name": "Purchase", "namespace": "dataexport.S3.inner.users.behaviors", "fields": [
	{"name": "id", "type": "string"},
	{"name": "user_id", "type": "string"},
	{"name": "external_user_id", "type": ["null", "string"], "default": null},
	{"name": "time", "type": "int"},
	{"name": "device_id", "type": ["null", "string"], "default": null},
	{"name": "product_id", "type": "string"},
	{"name": "price", "type": "float"},
	{"name": "properties", "type": "string"},
	{"name": "ad_tracking_enabled", "type": ["null", "boolean"], "default": null},
	{"name": "app_group_id", "type": ["null", "string"], "default": null}
]}`

func purchase(id string) map[string]any {
	return map[string]any{
		"id": id, "user_id": "u1", "external_user_id": "ext-1", "time": 1700000000, "device_id": nil,
		"product_id": "sku", "price": float32(3.14), "properties": `{"colour": "red", "size": 2}`,
		"ad_tracking_enabled": true, "app_group_id": nil,
	}
}

func TestColumnsArePlacedAsTheCustomHTTPConnectorSendsThem(t *testing.T) {
	got, err := normalise(t, purchaseSchema, "users.behaviors.Purchase", purchase("e1"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event_type":"users.behaviors.Purchase","id":"e1","time":1700000000,` +
		`"user":{"user_id":"u1","external_user_id":"ext-1"},` +
		`"properties":{"product_id":"sku","price":3.14,"purchase_properties":{"colour":"red","size":2},"ad_tracking_enabled":true}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEventWithoutUserColumnsHasAnEmptyUserObject(t *testing.T) {
	schema := `{"type": "record", "name": "ToolInvocation", "namespace": "dataexport.S3.inner.agentconsole", "fields": [
		{"name": "id", "type": "string"}, {"name": "time", "type": "long"}, {"name": "tool_name", "type": "string"}]}`
	got, _ := normalise(t, schema, "agentconsole.ToolInvocation", map[string]any{"id": "e1", "time": int64(5), "tool_name": "search"})
	want := `{"event_type":"agentconsole.ToolInvocation","id":"e1","time":5,"user":{},"properties":{"tool_name":"search"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPropertiesColumnBecomesAnObject(t *testing.T) {
	customSchema := strings.NewReplacer(`"Purchase"`, `"CustomEvent"`).Replace(purchaseSchema)
	for _, tc := range []struct {
		name, schema, eventType, properties string
		want                                string // the properties member, "" when absent
		wantErr                             bool
	}{
		{name: "purchase object", schema: purchaseSchema, eventType: "users.behaviors.Purchase",
			properties: ` { "a" : [1, 2.5, "x"], "b": {"c": null} } `, want: `"purchase_properties":{"a":[1,2.5,"x"],"b":{"c":null}}`},
		{name: "custom event object", schema: customSchema, eventType: "users.behaviors.CustomEvent",
			properties: `{"plan": "gold"}`, want: `"custom_properties":{"plan":"gold"}`},
		{name: "empty object is kept", schema: customSchema, eventType: "users.behaviors.CustomEvent",
			properties: `{}`, want: `"custom_properties":{}`},
		{name: "empty string means none", schema: customSchema, eventType: "users.behaviors.CustomEvent",
			properties: ``, want: ``},
		{name: "null means none", schema: customSchema, eventType: "users.behaviors.CustomEvent",
			properties: `null`, want: ``},
		{name: "broken JSON is kept as a string", schema: customSchema, eventType: "users.behaviors.CustomEvent",
			properties: `{"plan": "gold"`, want: `"custom_properties":"{\"plan\": \"gold\""`, wantErr: true},
		{name: "a JSON array is kept as a string", schema: customSchema, eventType: "users.behaviors.CustomEvent",
			properties: `["gold"]`, want: `"custom_properties":"[\"gold\"]"`, wantErr: true},
		{name: "other event types keep the column as it is", schema: purchaseSchema, eventType: "users.behaviors.Other",
			properties: `{"a": 1}`, want: `"properties":"{\"a\": 1}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := purchase("e1")
			rec["properties"] = tc.properties
			got, err := normalise(t, tc.schema, tc.eventType, rec)
			if (err != nil) != tc.wantErr {
				t.Errorf("properties error = %v, want error: %v", err, tc.wantErr)
			}
			if tc.want == "" {
				if strings.Contains(got, `_properties"`) {
					t.Errorf("properties present in %s", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("%s\ndoes not contain %s", got, tc.want)
			}
		})
	}
}

func TestFloatsAreWrittenWithThePrecisionTheyCarry(t *testing.T) {
	schema := `{"type": "record", "name": "R", "fields": [{"name": "f", "type": "float"}, {"name": "d", "type": "double"}]}`
	for _, tc := range []struct {
		f    float32
		d    float64
		want string
	}{
		{3.14, 3.14, `"f":3.14,"d":3.14`},
		{0.1, 0.1, `"f":0.1,"d":0.1`},
		{-2.5e-7, 1e-7, `"f":-2.5e-7,"d":1e-7`},
		{1e21, 1e21, `"f":1e+21,"d":1e+21`},
		{16777216, 123456789.125, `"f":16777216,"d":123456789.125`},
		{0, math.Copysign(0, -1), `"f":0,"d":-0`},
		{float32(math.NaN()), math.Inf(1), `"f":null,"d":null`},
	} {
		got, _ := normalise(t, schema, "x.y", map[string]any{"f": tc.f, "d": tc.d})
		if !strings.Contains(got, `"properties":{`+tc.want+`}`) {
			t.Errorf("%v, %v: got %s, want %s", tc.f, tc.d, got, tc.want)
		}
	}
}

func TestNestedValuesFollowTheSchema(t *testing.T) {
	schema := `{"type": "record", "name": "R", "fields": [
		{"name": "tags", "type": ["null", {"type": "array", "items": ["null", "string"]}]},
		{"name": "counts", "type": {"type": "map", "values": "long"}},
		{"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
		{"name": "either", "type": ["string", "long"]},
		{"name": "nested", "type": {"type": "record", "name": "N", "fields": [
			{"name": "x", "type": ["null", "int"]}, {"name": "y", "type": "boolean"}]}},
		{"name": "again", "type": "N"},
		{"name": "raw", "type": "bytes"},
		{"name": "digest", "type": {"type": "fixed", "name": "D", "size": 2}}
	]}`
	got, _ := normalise(t, schema, "x.y", map[string]any{
		"tags":   []any{"a", nil, "b"},
		"counts": map[string]any{"k": int64(7)},
		"kind":   "B",
		"either": int64(9),
		"nested": map[string]any{"x": nil, "y": true},
		"again":  map[string]any{"x": 4, "y": false},
		"raw":    []byte("hi"),
		"digest": [2]byte{0xff, 0x00},
	})
	want := `"properties":{"tags":["a",null,"b"],"counts":{"k":7},"kind":"B","either":9,` +
		`"nested":{"y":true},"again":{"x":4,"y":false},"raw":"aGk=","digest":"/wA="}`
	if !strings.Contains(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStringsAreEscapedAndKeptByteForByte(t *testing.T) {
	schema := `{"type": "record", "name": "R", "fields": [{"name": "s", "type": "string"}]}`
	for in, want := range map[string]string{
		"plain":                "plain",
		`quote " backslash \ `: `quote \" backslash \\ `,
		"tab\tnew\nline\r":     `tab\tnew\nline\r`,
		"bell\x07 del\x7f":     `bell\u0007 del` + "\x7f",
		"snowman ☃ and 😀":      "snowman ☃ and 😀",
		"bad \xff utf8 \xc3":   "bad \xff utf8 \xc3",
	} {
		got, _ := normalise(t, schema, "x.y", map[string]any{"s": in})
		if !strings.Contains(got, `"properties":{"s":"`+want+`"}`) {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}

func TestCorruptUnionIndexIsADecodingError(t *testing.T) {
	schema := avro.MustParse(`{"type": "record", "name": "R", "fields": [{"name": "s", "type": ["null", "string"]}]}`)
	n, err := newNormaliser(schema.(*avro.RecordSchema), "x.y")
	if err != nil {
		t.Fatal(err)
	}
	r := &decoder{}
	r.reset([]byte{0x08}) // branch 4 of 2
	n.appendEvent(nil, r)
	if r.err == nil || !strings.Contains(r.err.Error(), "branch index 4") {
		t.Fatalf("error = %v, want a branch index error", r.err)
	}
}

// FuzzJSONStringDecodesLikeEncodingJSON checks the hand-written string
// encoder against encoding/json: the same text after a round trip (which
// reads bytes that are not UTF-8 as U+FFFD), with bytes that are not UTF-8
// kept as they are.
func FuzzJSONStringDecodesLikeEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\/\b\f\n\r\t", "\x00\x1f\x7f", "☃😀", "\xff\xc3(", "\u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want string
		var invalid bool
		enc := appendJSONString(nil, s, &invalid)
		if invalid == utf8.ValidString(s) || utf8.Valid(enc) == invalid {
			t.Fatalf("%q: encoded as %q", s, enc)
		}
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q: invalid JSON string: %v", s, err)
		}
		ref, _ := json.Marshal(s)
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, got, want)
		}
	})
}
