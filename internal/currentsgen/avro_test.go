package currentsgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
)

// TestRecordsHoldTheEventsNextWrites decodes each record with hamba/avro and
// finds in it every value of the JSON event a generator with the same
// settings writes: Braze's columns for the user's ids, the properties as
// columns, custom and purchase properties as one JSON string.
func TestRecordsHoldTheEventsNextWrites(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Userless = true
	cfg.Users = 100
	jsonGen, _ := New(cfg)
	avroGen, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	types := avroGen.AvroTypes()
	seen := map[string]bool{}
	for i := range 1500 {
		var ev struct {
			EventType  string            `json:"event_type"`
			ID         string            `json:"id"`
			Time       int64             `json:"time"`
			User       map[string]string `json:"user"`
			Properties map[string]any    `json:"properties"`
		}
		if err := json.Unmarshal(jsonGen.Next(nil), &ev); err != nil {
			t.Fatal(err)
		}
		raw, r := avroGen.NextRecord(nil)
		typ := types[r.Type]
		var rec map[string]any
		if err := avro.Unmarshal(typ.Schema, raw, &rec); err != nil {
			t.Fatalf("event %d (%s): %v", i, typ.EventType, err)
		}
		if typ.EventType != ev.EventType || typ.Schema.FullName() != "dataexport.S3.inner."+ev.EventType {
			t.Fatalf("event %d: type %s (schema %s), JSON event %s", i, typ.EventType, typ.Schema.FullName(), ev.EventType)
		}
		if rec["id"] != ev.ID || int64(rec["time"].(int)) != ev.Time || r.Time != ev.Time {
			t.Fatalf("event %d: id %v time %v, JSON event %s %d", i, rec["id"], rec["time"], ev.ID, ev.Time)
		}
		if n, ok := EventNumber(ev.ID); !ok || n != uint64(i) {
			t.Fatalf("EventNumber(%s) = %d, %v; want %d", ev.ID, n, ok, i)
		}
		for k, v := range ev.User {
			if got := unionValue(rec[k]); got != v {
				t.Errorf("event %d: column %s = %v, JSON user.%s = %v", i, k, got, k, v)
			}
		}
		if _, ok := ev.User["external_user_id"]; !ok && unionValue(rec["external_user_id"]) != nil {
			t.Errorf("event %d: an anonymous event has external_user_id %v", i, rec["external_user_id"])
		}
		for k, v := range ev.Properties {
			col := k
			if k == "custom_properties" || k == "purchase_properties" {
				col = "properties"
				b, _ := json.Marshal(v)
				v = string(b)
			}
			got := unionValue(rec[col])
			if f, ok := got.(float32); ok {
				got = float64(float32(f))
				v = float64(float32(v.(float64)))
			} else if n, ok := got.(int); ok {
				got = float64(n)
			} else if n, ok := got.(int64); ok {
				got = float64(n)
			} else if arr, ok := got.([]any); ok {
				got = fmt.Sprint(arr)
				v = fmt.Sprint(v)
			}
			if got != v {
				t.Errorf("event %d (%s): column %s = %#v, JSON property %s = %#v", i, typ.EventType, col, got, k, v)
			}
		}
		seen[typ.EventType] = true
	}
	if len(seen) < 80 {
		t.Errorf("only %d event types written", len(seen))
	}
}

// unionValue unwraps hamba's decoding of a union value.
func unionValue(v any) any {
	if m, ok := v.(map[string]any); ok {
		for _, inner := range m {
			return inner
		}
	}
	return v
}

func TestWriteArchiveLaysOutBrazesBucketAndListsEachFilesEvents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PerSecond = 1 // 4000 events over two hours
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ac := DefaultArchiveConfig(root)
	ac.RecordsPerFile, ac.BlockLength, ac.Codec = 30, 7, ocf.Deflate
	files, err := g.WriteArchive(4000, ac)
	if err != nil {
		t.Fatal(err)
	}
	var manifest bytes.Buffer
	if err := WriteManifest(&manifest, files); err != nil {
		t.Fatal(err)
	}
	back, err := ReadManifest(&manifest)
	if err != nil || !slices.EqualFunc(back, files, func(a, b ArchiveFile) bool { return a.Path == b.Path && slices.Equal(a.Events, b.Events) }) {
		t.Fatalf("the manifest does not read back (%v)", err)
	}

	walked, err := backfill.Walk(os.DirFS(root), backfill.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if len(walked) != len(files) {
		t.Fatalf("the walk finds %d files, the writer wrote %d", len(walked), len(files))
	}
	hours := map[string]bool{}
	total := 0
	for _, f := range files {
		if len(f.Events) > 30 {
			t.Errorf("%s holds %d records, more than 30", f.Path, len(f.Events))
		}
		d, err := os.Open(filepath.Join(root, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		dec, err := ocf.NewDecoder(d)
		if err != nil {
			t.Fatal(err)
		}
		eventType := strings.TrimPrefix(strings.Split(f.Path, "/")[1], "event_type=")
		if got := dec.Schema().(*avro.RecordSchema).FullName(); got != "dataexport.S3.inner."+eventType {
			t.Errorf("%s: schema %s", f.Path, got)
		}
		hour := strings.TrimPrefix(strings.Split(f.Path, "/")[2], "date=")
		hours[hour] = true
		var k int
		for ; dec.HasNext(); k++ {
			var rec map[string]any
			if err := dec.Decode(&rec); err != nil {
				t.Fatal(err)
			}
			n, _ := EventNumber(rec["id"].(string))
			if k >= len(f.Events) || n != f.Events[k] {
				t.Fatalf("%s: record %d is event %d, the manifest says %v", f.Path, k, n, f.Events)
			}
			if got := fmt.Sprint(cfg.StartTime + int64(n)); got != fmt.Sprint(rec["time"]) || !strings.HasPrefix(hour, "2023-11-14-2") {
				t.Errorf("%s: record of time %v in the directory of hour %s", f.Path, rec["time"], hour)
			}
		}
		d.Close()
		if k != len(f.Events) {
			t.Errorf("%s: %d records, the manifest lists %d", f.Path, k, len(f.Events))
		}
		total += k
	}
	if total != 4000 || len(hours) != 2 {
		t.Errorf("%d records in %d hours, want 4000 in 2", total, len(hours))
	}
}
