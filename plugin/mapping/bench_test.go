package mapping

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// benchEvents are the Custom HTTP samples that map (all but the one without
// ids); each benchmark op maps one of them in turn, so ns/op is the cost of
// an average event.
func benchEvents(b *testing.B) [][]byte {
	m, _ := New(DefaultOptions())
	var out [][]byte
	for _, s := range samples.CustomHTTP(b) {
		if _, err := m.MapRaw(nil, s.Data); err == nil {
			out = append(out, s.Data)
		}
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

// BenchmarkMapRaw maps Braze's samples as published (pretty-printed, a third
// of their bytes whitespace) and compacted.
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

// BenchmarkPipeline compares, per event, what a mapping processor does with
// each way of writing the mapping: run it on a message holding the raw
// Currents JSON (compact) and hand the output its bytes.
func BenchmarkPipeline(b *testing.B) {
	baseline, err := os.ReadFile(filepath.Join(samples.RepoRoot(b), "config", "baseline", "currents_to_amplitude.blobl"))
	if err != nil {
		b.Fatal(err)
	}
	events := compacted(b, benchEvents(b))
	for _, c := range []struct{ name, mapping string }{
		{"method_on_bytes", `root = content().currents_to_amplitude()`},
		{"method_on_object", `root = this.currents_to_amplitude()`},
		{"pure_bloblang", string(baseline)},
	} {
		exec, err := bloblang.Parse(c.mapping)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				out, err := service.NewMessage(events[i%len(events)]).BloblangQuery(exec)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := out.AsBytes(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProcessor is the currents_to_amplitude processor on batches of 500
// compact events, as the binary runs it; ns/event is the cost of one event.
func BenchmarkProcessor(b *testing.B) {
	events := compacted(b, benchEvents(b))
	m, _ := New(DefaultOptions())
	p := &processor{m: m}
	const size = 500
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		batch := make(service.MessageBatch, size)
		for i := range batch {
			batch[i] = service.NewMessage(events[i%len(events)])
		}
		b.StartTimer()
		if _, err := p.ProcessBatch(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
}
