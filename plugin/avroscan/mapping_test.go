package avroscan

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)

// TestScannerEventsMapLikeTheirCustomHTTPCounterparts maps each sample file's
// first event and Braze's Custom HTTP example of the same type with the
// default mapping. The Amplitude events must agree on every field both carry;
// a field only one carries must come from a documented format difference
// (formatDifferences). Braze's removed newsfeedcard samples are two unrelated
// events (different ids, times and devices), so for them only the shape of
// the Amplitude event is compared.
func TestScannerEventsMapLikeTheirCustomHTTPCounterparts(t *testing.T) {
	m, err := mapping.New(mapping.DefaultOptions())
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
