package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

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

// BenchmarkPipeline runs a real Benthos stream per way of mapping in this
// package: batches of 500 compact events from a producer, through the
// mapping, to an output that takes each message's bytes, one batch in flight.
// An op is a batch; ns/event is the cost of one event through the stream.
func BenchmarkPipeline(b *testing.B) {
	events := compacted(b, benchEvents(b))
	for _, c := range []struct{ name, processor string }{
		{"method_on_bytes", `mapping: root = content().currents_to_amplitude()`},
		{"method_on_object", `mapping: root = this.currents_to_amplitude()`},
		{"processor", `currents_to_amplitude: {}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			const size = 500
			produce, stop := startStream(b, c.processor, func(batch service.MessageBatch) error {
				if len(batch) != size {
					return fmt.Errorf("%d events out of %d", len(batch), size)
				}
				for _, msg := range batch {
					if err := msg.GetError(); err != nil {
						return err
					}
					if _, err := msg.AsBytes(); err != nil {
						return err
					}
				}
				return nil
			})
			b.ReportAllocs()
			for b.Loop() {
				batch := make(service.MessageBatch, size)
				for i := range batch {
					batch[i] = service.NewMessage(events[i%len(events)])
				}
				if err := produce(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			stop()
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
