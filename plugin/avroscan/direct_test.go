package avroscan

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/handoff"
)

// mappingOptions are option sets that exercise every rule of the mapping.
func mappingOptions(t testing.TB) map[string]*currentsmap.Mapper {
	t.Helper()
	all := currentsmap.DefaultOptions()
	all.Anonymous, all.DeviceFields, all.Revenue, all.PII = true, true, true, currentsmap.PIIHash
	currents := currentsmap.DefaultOptions()
	currents.Profile, currents.PII, currents.Exclude = currentsmap.ProfileCurrents, currentsmap.PIIDrop, []string{"users.messages.sms.*"}
	out := map[string]*currentsmap.Mapper{}
	for name, opts := range map[string]currentsmap.Options{"default": currentsmap.DefaultOptions(), "every option": all, "currents profile": currents} {
		m, err := currentsmap.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = m
	}
	return out
}

// checkBothRoutes maps one record both ways: its Currents event (appendEvent)
// through MapRaw, and the record straight (mapEvent). Output, errors and
// the properties error must be the same; the fields handed to the output
// must be those it would read from the event.
func checkBothRoutes(t *testing.T, m *currentsmap.Mapper, n *normaliser, record []byte, what string) (mapped bool) {
	t.Helper()
	var r decoder
	r.reset(record)
	event, jsonPropsErr := n.appendEvent(nil, &r)
	if r.err != nil {
		t.Fatalf("%s: %v", what, r.err)
	}
	want, wantErr := m.MapRaw(nil, event)

	r.reset(record)
	var written ampapi.Fields
	got, propsErr, err := n.mapEvent(m, []byte("prefix:"), &r, &written)
	if r.err != nil {
		t.Fatalf("%s: %v", what, r.err)
	}
	if fmt.Sprint(propsErr) != fmt.Sprint(jsonPropsErr) {
		t.Errorf("%s: properties error %v, the JSON route's %v", what, propsErr, jsonPropsErr)
	}
	if errors.Is(err, errJSONRoute) {
		if wantErr == nil || errors.Is(wantErr, currentsmap.ErrExcluded) {
			t.Errorf("%s: sent to the JSON route, which maps it without an error (%v)", what, wantErr)
		}
		return false
	}
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: error %v, the JSON route's %v\nevent: %s", what, err, wantErr, event)
	}
	if err != nil {
		if string(got) != "prefix:" {
			t.Errorf("%s: on an error the output is %q, want dst as it was", what, got)
		}
		return false
	}
	if !strings.HasPrefix(string(got), "prefix:") || !bytes.Equal(got[len("prefix:"):], want) {
		t.Fatalf("%s: mapped straight\n%s\nfrom its Currents event\n%s\nevent: %s", what, got, want, event)
	}
	out := got[len("prefix:"):]
	inspected, ierr := ampapi.Inspect(out, 0, math.MaxInt)
	checked, cerr := ampapi.Check(out, written, 0, math.MaxInt)
	if fmt.Sprint(inspected, ierr) != fmt.Sprint(checked, cerr) {
		t.Errorf("%s: the output checks the handed fields as %v %v, reading the event it finds %v %v", what, checked, cerr, inspected, ierr)
	}
	return true
}

// TestBothRoutesMapGeneratedRecordsAlike maps records of every event type
// the generator writes, identified, anonymous and without any user.
func TestBothRoutesMapGeneratedRecordsAlike(t *testing.T) {
	cfg := currentsgen.DefaultConfig()
	cfg.Userless, cfg.AnonymousShare, cfg.Users = true, 0.3, 200
	records := generatedRecords(t, cfg, 3000)
	for name, m := range mappingOptions(t) {
		t.Run(name, func(t *testing.T) {
			mapped := 0
			for i, rec := range records {
				if checkBothRoutes(t, m, rec.n, rec.data, fmt.Sprintf("record %d (%s)", i, rec.eventType)) {
					mapped++
				}
			}
			if mapped < 1000 {
				t.Errorf("only %d of %d records mapped", mapped, len(records))
			}
		})
	}
}

// TestBothRoutesMapBrazesSampleRecordsAlike maps every record of Braze's
// sample files.
func TestBothRoutesMapBrazesSampleRecordsAlike(t *testing.T) {
	files := sampleFiles(t)
	for name, m := range mappingOptions(t) {
		t.Run(name, func(t *testing.T) {
			for _, f := range files {
				data, err := os.ReadFile(f.avroPath)
				if err != nil {
					t.Fatal(err)
				}
				c, err := openContainer(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				n, err := newNormaliser(c.schema.(*avro.RecordSchema), f.eventType)
				if err != nil {
					t.Fatal(err)
				}
				for {
					count, block, err := c.next()
					if err != nil {
						break
					}
					var r decoder
					r.reset(block)
					for i := range count {
						start := r.pos
						n.appendEvent(nil, &r)
						checkBothRoutes(t, m, n, block[start:r.pos], fmt.Sprintf("%s record %d", f.eventType, i))
					}
				}
			}
		})
	}
}

// TestBothRoutesMapUnusualRecordsAlike covers what Braze's records rarely
// hold: nested types, escapes, floats JSON cannot hold, bad ids and times,
// properties that are not an object or not UTF-8.
func TestBothRoutesMapUnusualRecordsAlike(t *testing.T) {
	schema := `{"type": "record", "name": "Purchase", "namespace": "dataexport.S3.inner.users.behaviors", "fields": [
		{"name": "id", "type": ["null", "string", "long"]},
		{"name": "external_user_id", "type": ["null", "string"]},
		{"name": "device_id", "type": ["null", "string"]},
		{"name": "timezone", "type": ["null", "string"]},
		{"name": "time", "type": ["null", "long", "double", "string"]},
		{"name": "time_ms", "type": ["null", "long"]},
		{"name": "price", "type": ["null", "float", "string"]},
		{"name": "product_id", "type": ["null", "string", "int"]},
		{"name": "email_address", "type": ["null", "string"]},
		{"name": "ad_id", "type": ["null", "string"]},
		{"name": "ad_id_type", "type": ["null", "string"]},
		{"name": "platform", "type": ["null", "string"]},
		{"name": "currency", "type": ["null", "string"]},
		{"name": "tags", "type": {"type": "array", "items": ["null", "string"]}},
		{"name": "scores", "type": {"type": "map", "values": "double"}},
		{"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}},
		{"name": "blob", "type": "bytes"},
		{"name": "nested", "type": ["null", {"type": "record", "name": "Inner", "fields": [{"name": "a", "type": ["null", "int"]}, {"name": "b", "type": "boolean"}]}]},
		{"name": "properties", "type": "string"}
	]}`
	// u is a value of a union branch, as hamba/avro takes it.
	u := func(branch string, v any) any { return map[string]any{branch: v} }
	base := func() map[string]any {
		return map[string]any{
			"id": u("string", "e1"), "external_user_id": "user-42", "device_id": "device-1", "timezone": "Europe/Paris",
			"time": u("long", int64(1700000000)), "time_ms": nil, "price": u("float", float32(9.99)), "product_id": u("string", "sku-1"),
			"email_address": "a@example.com", "ad_id": "ad-1", "ad_id_type": "ios_idfa", "platform": "ios", "currency": "EUR",
			"tags": []any{"a", nil}, "scores": map[string]any{"x": 1.5}, "level": "HIGH", "blob": []byte{1, 2, 255},
			"nested": u("dataexport.S3.inner.users.behaviors.Inner", map[string]any{"a": 3, "b": true}), "properties": `{"size": "L", "n": [1, 2]}`,
		}
	}
	parsed := avro.MustParse(schema)
	n, err := newNormaliser(parsed.(*avro.RecordSchema), "users.behaviors.Purchase")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change map[string]any
	}{
		{"every column", nil},
		{"escapes and non-ASCII", map[string]any{"external_user_id": "us\"er\\é\u2028", "email_address": "\x01\t"}},
		{"an id that is not a string", map[string]any{"id": u("long", int64(7))}},
		{"no id", map[string]any{"id": nil}},
		{"a time in a string", map[string]any{"time": u("string", "1700000000")}},
		{"a fractional time", map[string]any{"time": u("double", 1700000000.5)}},
		{"no time", map[string]any{"time": nil}},
		{"time_ms overrides time", map[string]any{"time_ms": int64(1700000000123)}},
		{"a negative time_ms", map[string]any{"time_ms": int64(-5)}},
		{"a price in a string", map[string]any{"price": u("string", "9.99")}},
		{"a price JSON cannot hold", map[string]any{"price": u("float", float32(math.Inf(1)))}},
		{"a product id that is a number", map[string]any{"product_id": u("int", 5)}},
		{"an anonymous user", map[string]any{"external_user_id": nil}},
		{"no user at all", map[string]any{"external_user_id": nil, "device_id": nil}},
		{"an empty user id", map[string]any{"external_user_id": ""}},
		{"properties not an object", map[string]any{"properties": `["L"]`}},
		{"properties broken", map[string]any{"properties": `{"size": `}},
		{"no properties", map[string]any{"properties": ` null `}},
		{"properties with a byte that is not UTF-8", map[string]any{"properties": "{\"size\": \"L\xff\"}"}},
		{"a string with a byte that is not UTF-8", map[string]any{"email_address": "a\xffb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := base()
			for k, v := range tc.change {
				rec[k] = v
			}
			data, err := avro.Marshal(parsed, rec)
			if err != nil {
				t.Fatal(err)
			}
			for name, m := range mappingOptions(t) {
				checkBothRoutes(t, m, n, data, name)
			}
		})
	}
}

// TestMappingScannerEmitsWhatTheProcessorWould scans a file with the
// scanner's currents_to_amplitude: mapped events carry the hand-off to the
// output and the scanner's metadata, records the options leave out are not
// emitted, and a record that cannot be mapped is its Currents event with
// the mapping's error.
func TestMappingScannerEmitsWhatTheProcessorWould(t *testing.T) {
	recs := purchases(6)
	recs[1]["external_user_id"], recs[1]["device_id"] = nil, "device-1" // anonymous: left out by default
	recs[2]["external_user_id"], recs[2]["device_id"] = nil, nil
	recs[3]["properties"] = "{oops"
	data := encodeOCF(t, purchaseSchema, recs, ocf.WithBlockLength(4))
	res := scan(t, newCreator(t, `{batch_size: 10, emit: amplitude}`), "a.avro", data)
	if res.err != nil {
		t.Fatal(res.err)
	}
	plain := scan(t, newCreator(t, `{}`), "a.avro", data).messages()
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	msgs := res.messages()
	if len(msgs) != 5 || len(res.sourceAcks) != 1 || res.sourceAcks[0] != nil {
		t.Fatalf("%d events, source acks %v; want 5 (one left out) and one ack", len(msgs), res.sourceAcks)
	}
	for _, msg := range msgs {
		record, _ := msg.MetaGetMut(MetaRecord)
		i := int(record.(int64))
		event, _ := plain[i].AsBytes()
		want, wantErr := m.MapRaw(nil, event)
		got, _ := msg.AsBytes()
		if _, flagged := msg.MetaGet(MetaPropertiesError); flagged != (i == 3) {
			t.Errorf("record %d: properties error flagged: %v", i, flagged)
		}
		if i == 2 || i == 3 { // no user; properties not an object
			if wantErr == nil || fmt.Sprint(msg.GetError()) != fmt.Sprint(wantErr) || !bytes.Equal(got, event) {
				t.Errorf("record %d: %s with error %v; want its Currents event with %v", i, got, msg.GetError(), wantErr)
			}
			continue
		}
		if msg.GetError() != nil || !bytes.Equal(got, want) {
			t.Errorf("record %d: %s (%v), want %s", i, got, msg.GetError(), want)
		}
		if _, ok := handoff.Fields(msg.Context(), got); !ok {
			t.Errorf("record %d: no hand-off to the output", i)
		}
		if metaString(t, msg, MetaEventType) != "users.behaviors.Purchase" || metaString(t, msg, MetaBlock) != fmt.Sprint(i/4+1) {
			t.Errorf("record %d: metadata %s %s", i, metaString(t, msg, MetaEventType), metaString(t, msg, MetaBlock))
		}
	}
}

// A string that is not UTF-8 is kept as it is and the event refused naming
// the field, as over HTTP: replaced with U+FFFD, two such ids would become
// one Amplitude user. The scanner emits the Currents event byte for byte,
// flagged when it maps (emit: amplitude), for the processor to refuse
// otherwise.
func TestStringsThatAreNotUTF8AreKeptAndTheEventRefusedNamingTheField(t *testing.T) {
	recs := purchases(3)
	recs[1]["external_user_id"] = "user-\xff"
	data := encodeOCF(t, purchaseSchema, recs)
	const want = `currents event "e1": field user.external_user_id: not valid UTF-8`
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, emit := range []string{"amplitude", "currents"} {
		t.Run(emit, func(t *testing.T) {
			res := scan(t, newCreator(t, `{emit: `+emit+`}`), "a.avro", data)
			if res.err != nil {
				t.Fatal(res.err)
			}
			msgs := res.messages()
			if len(msgs) != 3 {
				t.Fatalf("%d messages, want 3", len(msgs))
			}
			event, _ := msgs[1].AsBytes()
			if !bytes.Contains(event, []byte("\"external_user_id\":\"user-\xff\"")) {
				t.Errorf("the event was rewritten: %q", event)
			}
			err := msgs[1].GetError()
			if emit == "currents" {
				_, err = m.MapRaw(nil, event)
			}
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %v, want one starting %q", err, want)
			}
			for _, i := range []int{0, 2} {
				if msgs[i].GetError() != nil {
					t.Errorf("record %d: %v", i, msgs[i].GetError())
				}
			}
		})
	}
}

func TestMappingOptionsOfTheScannerAreCheckedAtStart(t *testing.T) {
	conf, err := currentsAvroScannerSpec().ParseYAML(`{emit: amplitude, currents_to_amplitude: {include: [""]}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := currentsAvroScannerFromParsed(conf); err == nil || !strings.Contains(err.Error(), "currents_to_amplitude") {
		t.Fatalf("error = %v, want one naming the field", err)
	}
}
