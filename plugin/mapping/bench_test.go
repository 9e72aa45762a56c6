package mapping

import (
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// mappedSamples are the Custom HTTP samples that map (all but the one
// without ids), compact, as JSON lines, Braze's connector and the Avro
// scanner carry them.
func mappedSamples(b *testing.B) [][]byte {
	m, _ := currentsmap.New(currentsmap.DefaultOptions())
	var out [][]byte
	for _, s := range samples.CustomHTTP(b) {
		if _, err := m.MapRaw(nil, s.Data); err == nil {
			out = append(out, s.Data)
		}
	}
	return out
}

// BenchmarkPipeline runs a real Benthos stream per way of mapping in this
// package: batches of 500 compact events from a producer, through the
// mapping, to an output that takes each message's bytes, one batch in flight.
// An op is a batch; ns/event is the cost of one event through the stream.
func BenchmarkPipeline(b *testing.B) {
	events := mappedSamples(b)
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
	events := mappedSamples(b)
	m, _ := currentsmap.New(currentsmap.DefaultOptions())
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
