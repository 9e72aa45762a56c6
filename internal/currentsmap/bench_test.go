package currentsmap

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// benchEvents are the Custom HTTP samples that map (all but the one without
// ids), pretty-printed with two-space indents; each benchmark op maps one of
// them in turn, so ns/op is the cost of an average event.
func benchEvents(b *testing.B) [][]byte {
	m, _ := New(DefaultOptions())
	var out [][]byte
	for _, s := range samples.CustomHTTP(b) {
		if _, err := m.MapRaw(nil, s.Data); err != nil {
			continue
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, s.Data, "", "  "); err != nil {
			b.Fatal(err)
		}
		out = append(out, pretty.Bytes())
	}
	return out
}

// compacted returns events compacted, as JSON lines, Braze's connector and
// the Avro scanner carry them.
func compacted(b *testing.B, pretty [][]byte) [][]byte {
	compact := make([][]byte, len(pretty))
	for i, ev := range pretty {
		var buf bytes.Buffer
		if err := json.Compact(&buf, ev); err != nil {
			b.Fatal(err)
		}
		compact[i] = buf.Bytes()
	}
	return compact
}

// BenchmarkMapRaw maps the samples pretty-printed (an eighth of their bytes
// whitespace) and compacted.
func BenchmarkMapRaw(b *testing.B) {
	pretty := benchEvents(b)
	for _, c := range []struct {
		name   string
		events [][]byte
	}{{"pretty", pretty}, {"compact", compacted(b, pretty)}} {
		b.Run(c.name, func(b *testing.B) {
			m, _ := New(DefaultOptions())
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := m.MapRaw(dst[:0], c.events[i%len(c.events)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMapObject maps compact samples as Benthos parses them for
// `this.currents_to_amplitude()`: objects of json.Number, strings and so on.
func BenchmarkMapObject(b *testing.B) {
	events := compacted(b, benchEvents(b))
	parsed := make([]any, len(events))
	for i, ev := range events {
		d := json.NewDecoder(bytes.NewReader(ev))
		d.UseNumber()
		if err := d.Decode(&parsed[i]); err != nil {
			b.Fatal(err)
		}
	}
	m, _ := New(DefaultOptions())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := m.MapObject(parsed[i%len(parsed)]); err != nil {
			b.Fatal(err)
		}
	}
}
