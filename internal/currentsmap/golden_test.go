package currentsmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
	"github.com/connect-amplitude/connect-amplitude/resources"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current mapping")

type tableEvents map[string]struct {
	DefaultEventType *string  `json:"default_event_type"`
	TopLevel         []string `json:"top_level"`
}

func parseTableEvents(t *testing.T, data []byte) tableEvents {
	t.Helper()
	var doc struct {
		Events tableEvents `json:"events"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Events
}

// The event table the mapping embeds (resources/) is the product spec's.
func TestTheEmbeddedEventTableIsTheSpecs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(samples.SpecDir(t), "braze-amplitude-events.json"))
	if err != nil {
		t.Fatal(err)
	}
	if spec, embedded := parseTableEvents(t, data), parseTableEvents(t, resources.EventTable); !reflect.DeepEqual(spec, embedded) {
		t.Errorf("resources/braze-amplitude-events.json differs from the spec's event table")
	}
}

func decode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func TestEveryCustomHTTPSampleMapsLikeBrazesExport(t *testing.T) {
	table := parseTableEvents(t, resources.EventTable)
	m, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples.CustomHTTP(t) {
		t.Run(s.Name, func(t *testing.T) {
			in := decode(t, s.Data)
			user, _ := in["user"].(map[string]any)
			props, _ := in["properties"].(map[string]any)
			eventType := in["event_type"].(string)

			raw, err := m.MapRaw(nil, s.Data)
			if user["external_user_id"] == nil && user["device_id"] == nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "user" || fe.EventID != in["id"] {
					t.Fatalf("event without ids: want a FieldError on user naming the id, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out := decode(t, raw)

			row, known := table[eventType]
			wantType := "[Appboy] " + eventType
			switch {
			case eventType == customEventType:
				wantType = "[Appboy] [Custom Event] " + props["name"].(string)
			case known:
				wantType = *row.DefaultEventType
			}
			expectField(t, out, "event_type", wantType)
			expectField(t, out, "insert_id", in["id"])
			expectField(t, out, "library", "Braze")
			expectField(t, out, "user_id", user["external_user_id"])
			expectField(t, out, "device_id", user["device_id"])
			wantTime, _ := in["time"].(json.Number).Int64()
			wantTime *= 1000
			if ms, ok := props["time_ms"].(json.Number); ok {
				wantTime, _ = ms.Int64()
			}
			expectField(t, out, "time", json.Number(fmtInt(wantTime)))

			consumed := map[string]bool{"custom_properties": true, "purchase_properties": true}
			for _, f := range row.TopLevel {
				switch f {
				case "adid", "idfa":
					field := map[string]string{"ios_idfa": "idfa", "google_ad_id": "adid"}[props["ad_id_type"].(string)]
					expectField(t, out, field, props["ad_id"])
				case "productId":
					expectField(t, out, "productId", props["product_id"])
					consumed["product_id"] = true
				case "price":
					expectField(t, out, "price", props["price"])
					consumed["price"] = true
				}
			}
			if eventType == customEventType {
				consumed["name"] = true
			}

			want := map[string]any{}
			if tz, ok := user["timezone"]; ok {
				want["timezone"] = tz
			}
			for k, v := range props {
				if !consumed[k] {
					want[k] = v
				}
			}
			for k, v := range asObject(props["custom_properties"]) {
				want["[Custom event property] "+k] = v
			}
			for k, v := range asObject(props["purchase_properties"]) {
				want["[Purchase property] "+k] = v
			}
			if got := out["event_properties"]; !reflect.DeepEqual(got, want) {
				t.Errorf("event_properties:\n got %v\nwant %v", got, want)
			}
			for k, v := range out {
				if v == user["user_id"] {
					t.Errorf("Braze's internal user id leaked to top-level %s", k)
				}
			}
			checkGolden(t, s.Name, out)
		})
	}
}

// checkGolden compares with the reviewed output in testdata/golden, which
// catches any change of the mapping, not only the properties asserted above.
func checkGolden(t *testing.T, name string, got map[string]any) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		data, _ := json.MarshalIndent(got, "", "  ")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing (run go test ./internal/currentsmap -run TestEveryCustomHTTPSample -update): %v", err)
	}
	if want := decode(t, data); !reflect.DeepEqual(got, want) {
		t.Errorf("differs from %s:\n got %v\nwant %v", path, got, want)
	}
}

func expectField(t *testing.T, out map[string]any, field string, want any) {
	t.Helper()
	got, ok := out[field]
	if want == nil {
		if ok {
			t.Errorf("%s: want absent, got %v", field, got)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", field, got, want)
	}
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func fmtInt(i int64) string {
	b, _ := json.Marshal(i)
	return string(b)
}
