package mapping

import (
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

func BenchmarkMapRaw(b *testing.B) {
	events := benchEvents(b)
	m, _ := New(DefaultOptions())
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.MapRaw(dst[:0], events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeline compares, per event, what a mapping processor does with
// each way of writing the mapping: run it on a message holding the raw
// Currents JSON and hand the output its bytes.
func BenchmarkPipeline(b *testing.B) {
	baseline, err := os.ReadFile(filepath.Join(samples.RepoRoot(b), "config", "baseline", "currents_to_amplitude.blobl"))
	if err != nil {
		b.Fatal(err)
	}
	events := benchEvents(b)
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
