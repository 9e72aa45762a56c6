package avroscan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"
	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/streamtest"
)

// newCreator builds the scanner from YAML through its config spec.
func newCreator(t testing.TB, yaml string) *currentsAvroScannerCreator {
	t.Helper()
	conf, err := currentsAvroScannerSpec().ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := currentsAvroScannerFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scanResult is what one scanner instance did with one file.
type scanResult struct {
	batches    []service.MessageBatch
	err        error   // the error that ended the scan, nil at a clean end
	sourceAcks []error // calls of the source's ack function
}

func (r *scanResult) messages() []*service.Message {
	var out []*service.Message
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

// scan runs the scanner over data named name until it ends, acknowledging
// every batch as delivered, as an input would.
func scan(t testing.TB, c *currentsAvroScannerCreator, name string, data []byte) *scanResult {
	t.Helper()
	res := &scanResult{}
	details := service.NewScannerSourceDetails()
	details.SetName(name)
	s, err := c.Create(io.NopCloser(bytes.NewReader(data)), func(_ context.Context, err error) error {
		res.sourceAcks = append(res.sourceAcks, err)
		return nil
	}, details)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ctx := context.Background()
	for {
		batch, ack, err := s.NextBatch(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			break
		}
		res.batches = append(res.batches, batch)
		if err := ack(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return res
}

// received is a message as a consumer saw it.
type received struct {
	data []byte
	meta map[string]any
}

// runStream runs a stream with the given input and no processors until the
// input ends, returning every message and the log.
func runStream(t testing.TB, inputYAML string) ([]received, string) {
	t.Helper()
	b, logs := streamtest.NewBuilder(slog.LevelWarn)
	if err := b.AddInputYAML(inputYAML); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []received
	if err := b.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		data, err := m.AsBytes()
		if err != nil {
			return err
		}
		r := received{data: bytes.Clone(data), meta: map[string]any{}}
		_ = m.MetaWalkMut(func(k string, v any) error {
			r.meta[k] = v
			return nil
		})
		mu.Lock()
		out = append(out, r)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, streamtest.RunToEnd(t, b, logs, time.Minute)
}

// encodeOCF writes records as an Avro container file with hamba's encoder.
func encodeOCF(t testing.TB, schema string, records []map[string]any, opts ...ocf.EncoderFunc) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(schema, &buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// decodeJSON parses JSON keeping numbers as written.
func decodeJSON(t testing.TB, data []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, data)
	}
	return v
}

func metaString(t testing.TB, m *service.Message, key string) string {
	t.Helper()
	v, ok := m.MetaGet(key)
	if !ok {
		t.Fatalf("metadata %s missing", key)
	}
	return v
}

// generatedRecord is a record the project's generator wrote, with the
// normaliser of its writer schema.
type generatedRecord struct {
	data      []byte
	n         *normaliser
	eventType string
}

// generatedRecords returns the generator's next count records.
func generatedRecords(tb testing.TB, cfg currentsgen.Config, count int) []generatedRecord {
	tb.Helper()
	g, err := currentsgen.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	types := g.AvroTypes()
	norms := make([]*normaliser, len(types))
	for i, typ := range types {
		if norms[i], err = newNormaliser(typ.Schema, typ.EventType); err != nil {
			tb.Fatal(err)
		}
	}
	out := make([]generatedRecord, count)
	for i := range out {
		data, r := g.NextRecord(nil)
		out[i] = generatedRecord{data: data, n: norms[r.Type], eventType: types[r.Type].EventType}
	}
	return out
}
