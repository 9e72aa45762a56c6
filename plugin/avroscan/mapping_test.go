package avroscan

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/resources"
)

// TestScannerEventsMapLikeTheirCustomHTTPCounterparts maps each sample file's
// first event and Braze's Custom HTTP example of the same type with the
// default mapping. The Amplitude events must agree on every field both carry;
// a field only one carries must come from a documented format difference
// (formatDifferences). Braze's removed newsfeedcard samples are two unrelated
// events (different ids, times and devices), so for them only the shape of
// the Amplitude event is compared.
func TestScannerEventsMapLikeTheirCustomHTTPCounterparts(t *testing.T) {
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := newCreator(t, `{}`)
	compared := 0
	for _, f := range sampleFiles(t) {
		httpEvent, ok := customHTTPSample(t, f.eventType)
		if !ok {
			continue
		}
		t.Run(f.eventType, func(t *testing.T) {
			data, err := os.ReadFile(f.avroPath)
			if err != nil {
				t.Fatal(err)
			}
			res := scan(t, c, f.avroPath, data)
			if res.err != nil {
				t.Fatal(res.err)
			}
			avroEvent, _ := res.messages()[0].AsBytes()
			fromAvro, avroErr := m.MapRaw(nil, avroEvent)
			fromHTTP, httpErr := m.MapRaw(nil, httpEvent)
			if avroErr != nil || httpErr != nil {
				// agentconsole.ToolInvocation has no user in either format.
				if avroErr == nil || httpErr == nil || avroErr.Error() != httpErr.Error() {
					t.Fatalf("mapping errors differ:\n avro: %v\n http: %v", avroErr, httpErr)
				}
				return
			}
			compared++
			a, h := decodeJSON(t, fromAvro), decodeJSON(t, fromHTTP)
			aProps, _ := a["event_properties"].(map[string]any)
			hProps, _ := h["event_properties"].(map[string]any)
			delete(a, "event_properties")
			delete(h, "event_properties")

			if strings.Contains(f.eventType, ".newsfeedcard.") {
				if a["event_type"] != h["event_type"] || !slices.Equal(keys(a), keys(h)) {
					t.Errorf("different shapes:\n avro: %v %v\n http: %v %v", a["event_type"], keys(a), h["event_type"], keys(h))
				}
				return
			}
			diff := formatDifferences[f.eventType]
			allowedAvro, allowedHTTP := diff.onlyAvro, diff.onlyHTTP
			if slices.Contains(diff.onlyHTTP, "user.device_id") {
				allowedHTTP = append(allowedHTTP, "device_id") // Amplitude's top-level device_id
			}
			compareMapped(t, "", a, h, allowedAvro, allowedHTTP)
			compareMapped(t, "event_properties.", aProps, hProps, allowedAvro, allowedHTTP)
		})
	}
	if compared < 80 {
		t.Errorf("only %d event types compared", compared)
	}
}

func compareMapped(t *testing.T, prefix string, fromAvro, fromHTTP map[string]any, onlyAvro, onlyHTTP []string) {
	t.Helper()
	for k, av := range fromAvro {
		hv, ok := fromHTTP[k]
		switch {
		case !ok && !slices.Contains(onlyAvro, k):
			t.Errorf("%s%s only in the event mapped from Avro, and not a documented difference", prefix, k)
		case ok && !reflect.DeepEqual(av, hv):
			a, _ := json.Marshal(av)
			h, _ := json.Marshal(hv)
			t.Errorf("%s%s differs: from Avro %s, from Custom HTTP %s", prefix, k, a, h)
		}
	}
	for k := range fromHTTP {
		if _, ok := fromAvro[k]; !ok && !slices.Contains(onlyHTTP, k) {
			t.Errorf("%s%s only in the event mapped from Custom HTTP, and not a documented difference", prefix, k)
		}
	}
}

// TestMappedSampleEventsKeepTheIdentityOfTheirDecodedViews passes every
// record of every sample file, as the scanner emits it, through the default
// mapping (anonymous users included) and checks the Amplitude event against
// the record's avro-tools view: event_type from Braze's event table, insert_id
// the view's id, time the view's seconds in milliseconds (or its time_ms),
// user_id its external_user_id, device_id its device_id. A record with
// neither id must fail with the reason naming the event.
func TestMappedSampleEventsKeepTheIdentityOfTheirDecodedViews(t *testing.T) {
	opts := currentsmap.DefaultOptions()
	opts.Anonymous = true
	m, err := currentsmap.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	names := brazeEventNames(t)
	c := newCreator(t, `{}`)
	mapped, failed := 0, 0
	for _, f := range sampleFiles(t) {
		t.Run(f.eventType, func(t *testing.T) {
			data, err := os.ReadFile(f.avroPath)
			if err != nil {
				t.Fatal(err)
			}
			res := scan(t, c, f.avroPath, data)
			if res.err != nil {
				t.Fatal(res.err)
			}
			schema := fileSchema(t, f.avroPath)
			views := readAvroJSONView(t, f.viewPath)
			msgs := res.messages()
			if len(msgs) != len(views) {
				t.Fatalf("got %d events, the decoded view has %d records", len(msgs), len(views))
			}
			for i, msg := range msgs {
				view := map[string]any{}
				for _, field := range schema.Fields() {
					view[field.Name()] = unwrapAvroJSON(t, field.Type(), views[i][field.Name()])
				}
				raw, _ := msg.AsBytes()
				out, err := m.MapRaw(nil, raw)
				if view["external_user_id"] == nil && view["device_id"] == nil {
					failed++
					want := fmt.Sprintf(`currents event %q: field user: has neither external_user_id nor device_id`, view["id"])
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("record %d has no user or device id: error %v, want %s", i, err, want)
					}
					continue
				}
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				mapped++
				got := decodeJSON(t, out)
				want := map[string]any{
					"event_type": names.amplitudeName(f.eventType, view),
					"insert_id":  view["id"],
					"time":       expectedMillis(t, view),
					"user_id":    view["external_user_id"],
					"device_id":  view["device_id"],
				}
				for k, w := range want {
					g, present := got[k]
					if w == nil {
						if present {
							t.Errorf("record %d: %s = %v, want it absent", i, k, g)
						}
						continue
					}
					if fmt.Sprint(g) != fmt.Sprint(w) {
						t.Errorf("record %d: %s = %v, want %v", i, k, g, w)
					}
				}
			}
		})
	}
	if mapped < 100 || failed == 0 {
		t.Errorf("%d events mapped, %d failed: expected about 100 and a few", mapped, failed)
	}
}

// expectedMillis is a view's time in milliseconds: time_ms when the record
// carries one, else its UNIX seconds times 1000.
func expectedMillis(t *testing.T, view map[string]any) string {
	t.Helper()
	if ms, ok := view["time_ms"].(json.Number); ok {
		return ms.String()
	}
	s, err := view["time"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("time %v: %v", view["time"], err)
	}
	return strconv.FormatInt(s*1000, 10)
}

// eventNames is the naming part of Braze's event table (resources/).
type eventNames struct {
	Prefixes struct {
		EventType       string `json:"event_type"`
		CustomEventType string `json:"custom_event_type"`
	} `json:"prefixes"`
	Events map[string]struct {
		DefaultEventType *string `json:"default_event_type"`
	} `json:"events"`
}

func brazeEventNames(t *testing.T) *eventNames {
	t.Helper()
	var n eventNames
	if err := json.Unmarshal(resources.EventTable, &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

// amplitudeName is the Amplitude event_type the braze profile gives: the
// table's name, the custom event's own name behind its prefix, or the
// event-type prefix before a type the table does not list.
func (n *eventNames) amplitudeName(eventType string, view map[string]any) string {
	if eventType == "users.behaviors.CustomEvent" {
		return n.Prefixes.CustomEventType + view["name"].(string)
	}
	if row, ok := n.Events[eventType]; ok && row.DefaultEventType != nil {
		return *row.DefaultEventType
	}
	return n.Prefixes.EventType + eventType
}

// TestAnEventTypeBrazeAddsLaterIsReadAndMapped reads a file whose writer
// schema follows Braze's naming for a type no sample has, with columns no
// sample has: the scanner takes the type from the schema and places the new
// columns in properties, and the mapping sends them under Braze's prefix.
func TestAnEventTypeBrazeAddsLaterIsReadAndMapped(t *testing.T) {
	schema := `{"type": "record", "name": "Send", "namespace": "dataexport.S3.inner.users.messages.pigeon", "fields": [
		{"name": "id", "type": "string"},
		{"name": "user_id", "type": "string"},
		{"name": "external_user_id", "type": ["null", "string"], "default": null},
		{"name": "time", "type": "int"},
		{"name": "loft_name", "type": ["null", "string"], "default": null},
		{"name": "wingspan", "type": "float"}
	]}`
	data := encodeOCF(t, schema, []map[string]any{{
		"id": "e1", "user_id": "u1", "external_user_id": "user-42", "time": 1700000000, "loft_name": "North", "wingspan": float32(0.65),
	}})
	res := scan(t, newCreator(t, `{}`), "exports/part-0.avro", data)
	if res.err != nil {
		t.Fatal(res.err)
	}
	raw, _ := res.messages()[0].AsBytes()
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.MapRaw(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, out)
	props, _ := got["event_properties"].(map[string]any)
	if got["event_type"] != "[Appboy] users.messages.pigeon.Send" || got["user_id"] != "user-42" ||
		props["loft_name"] != "North" || props["wingspan"] != json.Number("0.65") {
		t.Errorf("mapped to %s", out)
	}
}
