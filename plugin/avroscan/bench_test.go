package avroscan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

const (
	benchRecords  = 100_000   // in memory, for the per-record benchmarks
	streamRecords = 1_000_000 // on disk, for the stream benchmark
)

// emailOpenSample returns the writer schema and the record of Braze's
// users.messages.email.Open sample.
func emailOpenSample(b testing.TB) (avro.Schema, map[string]any) {
	b.Helper()
	f, err := os.Open(filepath.Join(samples.Dir(b), "avro", "users.messages.email.Open.avro"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dec, err := ocf.NewDecoder(f)
	if err != nil {
		b.Fatal(err)
	}
	var sample map[string]any
	if !dec.HasNext() {
		b.Fatal("empty sample")
	}
	if err := dec.Decode(&sample); err != nil {
		b.Fatal(err)
	}
	return dec.Schema(), sample
}

// writeEmailOpens writes n copies of the email.Open sample to w, with
// distinct ids and times and 50,000 distinct users, in hamba's default
// blocks of 100 records and Braze's codec (none).
func writeEmailOpens(b testing.TB, w io.Writer, n int) {
	b.Helper()
	schema, sample := emailOpenSample(b)
	enc, err := ocf.NewEncoderWithSchema(schema, w)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		sample["id"] = fmt.Sprintf("6b1f0c2e-9d47-4a3b-8e15-%012d", i)
		sample["time"] = 1700000000 + i
		sample["external_user_id"] = fmt.Sprintf("user-%06d", i%50_000)
		if err := enc.Encode(sample); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
}

func emailOpenFile(b testing.TB) []byte {
	b.Helper()
	var buf bytes.Buffer
	writeEmailOpens(b, &buf, benchRecords)
	return buf.Bytes()
}

// benchScan runs the scanner over data again and again until it has emitted
// b.N records, calling each on every record.
func benchScan(b *testing.B, data []byte, each func(raw []byte)) {
	benchScanWith(b, `{}`, data, each)
}

func benchScanWith(b *testing.B, config string, data []byte, each func(raw []byte)) {
	c := newCreator(b, config)
	ctx := context.Background()
	noAck := func(context.Context, error) error { return nil }
	newScanner := func() service.BatchScanner {
		s, err := c.Create(io.NopCloser(bytes.NewReader(data)), noAck, service.NewScannerSourceDetails())
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.SetBytes(int64(len(data) / benchRecords))
	b.ReportAllocs()
	b.ResetTimer()
	s := newScanner()
	for n := 0; n < b.N; {
		batch, ack, err := s.NextBatch(ctx)
		if errors.Is(err, io.EOF) {
			s = newScanner()
			continue
		} else if err != nil {
			b.Fatal(err)
		}
		for _, m := range batch {
			raw, _ := m.AsBytes()
			each(raw)
		}
		_ = ack(ctx, nil)
		n += len(batch)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkScannerEmailOpen measures the scanner alone, one op per record:
// container framing, decoding, normalising and message creation.
func BenchmarkScannerEmailOpen(b *testing.B) {
	benchScan(b, emailOpenFile(b), func([]byte) {})
}

// BenchmarkScannerAndMappingEmailOpen adds the mapping of each record to an
// Amplitude event, as content().currents_to_amplitude() does it.
func BenchmarkScannerAndMappingEmailOpen(b *testing.B) {
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	var out []byte
	benchScan(b, emailOpenFile(b), func(raw []byte) {
		if out, err = m.MapRaw(out[:0], raw); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkScannerEmitsAmplitudeEmailOpen is the scanner with emit:
// amplitude: the records mapped straight, one op per record; compare with
// BenchmarkScannerAndMappingEmailOpen, the same events by the JSON route.
func BenchmarkScannerEmitsAmplitudeEmailOpen(b *testing.B) {
	benchScanWith(b, `{emit: amplitude}`, emailOpenFile(b), func([]byte) {})
}

// BenchmarkNormaliseEmailOpen measures the record -> event step alone.
func BenchmarkNormaliseEmailOpen(b *testing.B) {
	schema, sample := emailOpenSample(b)
	one, err := avro.Marshal(schema, sample)
	if err != nil {
		b.Fatal(err)
	}
	n, err := newNormaliser(schema.(*avro.RecordSchema), "users.messages.email.Open")
	if err != nil {
		b.Fatal(err)
	}
	var r decoder
	var out []byte
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.reset(one)
		out, _ = n.appendEvent(out[:0], &r)
	}
	if r.err != nil {
		b.Fatal(r.err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkStreamMillionRecordFile runs a Benthos stream as
// config/avro-backfill.yaml reads and maps: the file input with this scanner
// (batches of up to 1000 records), input batches of 2000, the
// currents_to_amplitude mapping, and a consumer that counts the events in
// place of the amplitude output. One op is one pass
// over a file of a million email.Open records (about 600 MB). The file is
// written to a temporary directory, or kept at $AVROSCAN_BENCH_FILE (and
// reused when it exists) to run the binary over it too.
func BenchmarkStreamMillionRecordFile(b *testing.B) {
	path := millionRecordFile(b)
	b.ResetTimer()
	for range b.N {
		var events atomic.Int64
		sb := service.NewStreamBuilder()
		if err := sb.SetLoggerYAML(`level: warn`); err != nil {
			b.Fatal(err)
		}
		if err := sb.AddInputYAML(fmt.Sprintf(`
batched:
  child:
    file:
      paths: [ %q ]
      scanner:
        currents_avro: { batch_size: 1000 }
  policy:
    count: 2000
    period: 1s
`, path)); err != nil {
			b.Fatal(err)
		}
		if err := sb.AddProcessorYAML(`
mapping: |
  root = content().currents_to_amplitude()
  root = if root == null { deleted() }
`); err != nil {
			b.Fatal(err)
		}
		if err := sb.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
			events.Add(int64(len(batch)))
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		stream, err := sb.Build()
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		if got := events.Load(); got != streamRecords {
			b.Fatalf("%d events reached the output, want %d", got, streamRecords)
		}
	}
	b.ReportMetric(float64(b.N*streamRecords)/b.Elapsed().Seconds(), "records/s")
}

func millionRecordFile(b *testing.B) string {
	b.Helper()
	path := os.Getenv("AVROSCAN_BENCH_FILE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "users.messages.email.Open.avro")
	} else if _, err := os.Stat(path); err == nil {
		return path
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	writeEmailOpens(b, w, streamRecords)
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkMapRecord maps records of every event type the generator writes
// (the make bench events) to their Amplitude events, one op per record: by
// the JSON route (the Currents event written, then read by MapRaw) and
// straight (mapEvent, emit: amplitude), without the scanner's framing and
// messages.
func BenchmarkMapRecord(b *testing.B) {
	cfg := currentsgen.DefaultConfig()
	cfg.AnonymousShare, cfg.HotDevices = 0, 0
	records := generatedRecords(b, cfg, 4096)
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	var r decoder
	var event, out []byte
	var written ampapi.Fields
	for _, route := range []struct {
		name string
		run  func(n *normaliser) error
	}{
		{"json", func(n *normaliser) (err error) {
			event, _ = n.appendEvent(event[:0], &r)
			out, err = m.MapRaw(out[:0], event)
			return err
		}},
		{"straight", func(n *normaliser) (err error) {
			out, _, err = n.mapEvent(m, out[:0], &r, &written)
			return err
		}},
	} {
		b.Run(route.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				rec := records[i%len(records)]
				r.reset(rec.data)
				if err := route.run(rec.n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
