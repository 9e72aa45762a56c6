package avroscan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

const benchRecords = 100_000

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

// emailOpenFile writes benchRecords copies of the email.Open sample, with
// distinct ids and times, in hamba's default blocks of 100 records.
func emailOpenFile(b testing.TB) []byte {
	b.Helper()
	schema, sample := emailOpenSample(b)
	var buf bytes.Buffer
	enc, err := ocf.NewEncoderWithSchema(schema, &buf)
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchRecords {
		sample["id"] = fmt.Sprintf("f47ac10b-58cc-4372-a567-%012d", i)
		sample["time"] = 1700000000 + i
		if err := enc.Encode(sample); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkScannerEmailOpen measures the scanner alone, one op per record:
// container framing, decoding, normalising and message creation.
func BenchmarkScannerEmailOpen(b *testing.B) {
	data := emailOpenFile(b)
	c := newCreator(b, `{}`)
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
		_ = ack(ctx, nil)
		n += len(batch)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
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
	r := avro.NewReader(nil, 0)
	var out []byte
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.Reset(one)
		out, _ = n.appendEvent(out[:0], r)
	}
	if r.Error != nil {
		b.Fatal(r.Error)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
