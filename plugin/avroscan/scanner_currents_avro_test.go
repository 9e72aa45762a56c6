package avroscan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2/ocf"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
)

func purchases(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = purchase(fmt.Sprintf("e%d", i))
	}
	return out
}

// checkIDs checks that msgs are records from..to-1 of a purchases file, in
// order, each exactly once.
func checkIDs(t *testing.T, msgs []*service.Message, from, to int) {
	t.Helper()
	if len(msgs) != to-from {
		t.Fatalf("got %d events, want %d", len(msgs), to-from)
	}
	for i, m := range msgs {
		b, _ := m.AsBytes()
		if id := decodeJSON(t, b)["id"]; id != fmt.Sprintf("e%d", from+i) {
			t.Fatalf("event %d has id %v, want e%d", i, id, from+i)
		}
		if rec, _ := m.MetaGetMut(MetaRecord); rec != int64(from+i) {
			t.Fatalf("event %d has %s %v, want %d", i, MetaRecord, rec, from+i)
		}
	}
}

func TestEveryCodecIsReadRecordByRecord(t *testing.T) {
	for _, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate, ocf.Snappy} {
		t.Run(string(codec), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "purchases.avro")
			writeFile(t, path, encodeOCF(t, purchaseSchema, purchases(50), ocf.WithCodec(codec), ocf.WithBlockLength(7)))
			data, _ := os.ReadFile(path)
			res := scan(t, newCreator(t, `{}`), path, data)
			if res.err != nil {
				t.Fatal(res.err)
			}
			msgs := res.messages()
			checkIDs(t, msgs, 0, 50)
			for i, m := range msgs {
				if len(res.batches[i]) != 1 {
					t.Fatalf("batch %d has %d messages, want 1", i, len(res.batches[i]))
				}
				if got := metaString(t, m, MetaEventType); got != "users.behaviors.Purchase" {
					t.Errorf("%s = %s", MetaEventType, got)
				}
				if got := metaString(t, m, MetaBlock); got != fmt.Sprint(i/7+1) {
					t.Errorf("record %d: %s = %s, want %d", i, MetaBlock, got, i/7+1)
				}
			}
			if len(res.sourceAcks) != 1 || res.sourceAcks[0] != nil {
				t.Errorf("source acks = %v, want one successful ack", res.sourceAcks)
			}
		})
	}
}

func TestUnsupportedCodecFailsNamingTheFile(t *testing.T) {
	data := encodeOCF(t, purchaseSchema, purchases(3), ocf.WithCodec(ocf.ZStandard))
	res := scan(t, newCreator(t, `{}`), "in/zstd.avro", data)
	if res.err == nil || !strings.Contains(res.err.Error(), "in/zstd.avro") || !strings.Contains(res.err.Error(), `"zstandard"`) {
		t.Fatalf("error = %v", res.err)
	}
}

// blockSpans returns the [start, end) byte range of each block of an OCF file,
// end being just after the block's sync marker.
func blockSpans(t *testing.T, data []byte) [][2]int {
	t.Helper()
	sync := data[len(data)-16:]
	var spans [][2]int
	start := bytes.Index(data, sync) + 16
	for start < len(data) {
		end := start + bytes.Index(data[start:], sync) + 16
		spans = append(spans, [2]int{start, end})
		start = end
	}
	return spans
}

func TestDamagedFileFailsNamingFileAndBlockAfterEmittingTheBlocksBeforeIt(t *testing.T) {
	clean := encodeOCF(t, purchaseSchema, purchases(50), ocf.WithBlockLength(10))
	snappy := encodeOCF(t, purchaseSchema, purchases(50), ocf.WithBlockLength(10), ocf.WithCodec(ocf.Snappy))
	third := blockSpans(t, clean)[2]
	thirdSnappy := blockSpans(t, snappy)[2]
	if len(blockSpans(t, clean)) != 5 || clean[third[0]] != 0x14 {
		t.Fatalf("unexpected layout: %v, count byte %#x", blockSpans(t, clean), clean[third[0]])
	}
	edit := func(data []byte, at int, b byte) []byte {
		out := bytes.Clone(data)
		out[at] = b
		return out
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"truncated inside the block data", clean[:(third[0]+third[1])/2], "unexpected EOF"},
		{"truncated inside the block header", clean[:third[0]+1], "block header"},
		{"truncated inside the sync marker", clean[:third[1]-5], "sync marker"},
		{"sync marker overwritten", edit(clean, third[1]-1, clean[third[1]-1]^0xff), "sync marker"},
		{"fewer records announced than held", edit(clean, third[0], 0x12), "beyond the 9 records"},
		{"more records announced than held", edit(clean, third[0], 0x16), "record 10 of 11"},
		{"negative block size", edit(clean, third[0]+1, 0x01), "corrupt block header"},
		{"snappy checksum mismatch", edit(snappy, thirdSnappy[1]-20, snappy[thirdSnappy[1]-20]^0xff), "decompressing block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := scan(t, newCreator(t, `{}`), "bucket/event_type=users.behaviors.Purchase/f.avro", tc.data)
			if res.err == nil {
				t.Fatal("no error")
			}
			msg := res.err.Error()
			for _, want := range []string{"bucket/event_type=users.behaviors.Purchase/f.avro", "block 3", tc.wantErr} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			checkIDs(t, res.messages(), 0, 20)
			if len(res.sourceAcks) != 1 || res.sourceAcks[0] == nil {
				t.Errorf("source acks = %v, want one failure", res.sourceAcks)
			}
		})
	}
}

func TestDamagedHeaderFailsNamingTheFile(t *testing.T) {
	clean := encodeOCF(t, purchaseSchema, purchases(5))
	headerEnd := blockSpans(t, clean)[0][0]
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty file", nil, "not an Avro object container file"},
		{"not Avro", []byte("id,time\n1,2\n"), "not an Avro object container file"},
		{"truncated inside the schema", clean[:headerEnd/2], "reading Avro header"},
		{"truncated inside the sync marker", clean[:headerEnd-3], "reading Avro header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := scan(t, newCreator(t, `{}`), "dir/f.avro", tc.data)
			if res.err == nil || !strings.Contains(res.err.Error(), "dir/f.avro") || !strings.Contains(res.err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one naming the file and saying %q", res.err, tc.wantErr)
			}
			if len(res.batches) != 0 || len(res.sourceAcks) != 1 || res.sourceAcks[0] == nil {
				t.Errorf("%d batches, source acks %v", len(res.batches), res.sourceAcks)
			}
		})
	}
}

func TestNonRecordWriterSchemaFailsNamingTheFile(t *testing.T) {
	data := encodeOCF(t, `"string"`, nil)
	res := scan(t, newCreator(t, `{event_type: users.behaviors.Purchase}`), "dir/f.avro", data)
	if res.err == nil || !strings.Contains(res.err.Error(), "dir/f.avro") || !strings.Contains(res.err.Error(), "not a record") {
		t.Fatalf("error = %v", res.err)
	}
}

func TestEventTypeResolution(t *testing.T) {
	schemaNamed := func(namespace, name string) string {
		return strings.Replace(strings.Replace(purchaseSchema,
			`"namespace": "dataexport.S3.inner.users.behaviors"`, `"namespace": "`+namespace+`"`, 1),
			`"name": "Purchase"`, `"name": "`+name+`"`, 1)
	}
	const key = "currents/dataexport.prod-01.S3.integration.5f3e/event_type=users.behaviors.Purchase/date=2024-01-01-00/0+1.avro"
	for _, tc := range []struct {
		name, config, schema, path string
		want                       string
		wantErr                    []string
	}{
		{name: "from the schema", config: `{}`, schema: purchaseSchema, path: "a.avro",
			want: "users.behaviors.Purchase"},
		{name: "older schema namespace", config: `{}`, schema: schemaNamed("users.behaviors", "Purchase"), path: "a.avro",
			want: "users.behaviors.Purchase"},
		{name: "the schema wins over the path", config: `{}`, schema: schemaNamed("dataexport.S3.inner.users.behaviors", "CustomEvent"), path: key,
			want: "users.behaviors.CustomEvent"},
		{name: "from the path when the schema name is bare", config: `{}`, schema: schemaNamed("", "Purchase"), path: key,
			want: "users.behaviors.Purchase"},
		{name: "from the path when the schema is not Braze's", config: `{}`, schema: schemaNamed("com.example", "Event"), path: key,
			want: "users.behaviors.Purchase"},
		{name: "the field overrides schema and path", config: `{event_type: users.behaviors.Purchase}`, schema: schemaNamed("com.example", "Event"), path: "a.avro",
			want: "users.behaviors.Purchase"},
		{name: "unknown schema and no path segment", config: `{}`, schema: schemaNamed("com.example", "Event"), path: "exports/2024/part-0.avro",
			wantErr: []string{"exports/2024/part-0.avro", `"com.example.Event"`, "event_type=<type>", "event_type field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := scan(t, newCreator(t, tc.config), tc.path, encodeOCF(t, tc.schema, purchases(2)))
			if tc.wantErr != nil {
				if res.err == nil {
					t.Fatal("no error")
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(res.err.Error(), want) {
						t.Errorf("error %q does not contain %q", res.err, want)
					}
				}
				if len(res.batches) != 0 {
					t.Errorf("%d batches emitted", len(res.batches))
				}
				return
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			for _, m := range res.messages() {
				b, _ := m.AsBytes()
				if got := decodeJSON(t, b)["event_type"]; got != tc.want || metaString(t, m, MetaEventType) != tc.want {
					t.Errorf("event_type = %v, metadata %s, want %s", got, metaString(t, m, MetaEventType), tc.want)
				}
			}
		})
	}
}

func TestFileInputTakesTheEventTypeFromThePath(t *testing.T) {
	bare := strings.Replace(purchaseSchema, `"namespace": "dataexport.S3.inner.users.behaviors", `, ``, 1)
	path := filepath.Join(t.TempDir(), "currents", "event_type=users.behaviors.Purchase", "date=2024-01-01-00", "0+0000000001.avro")
	writeFile(t, path, encodeOCF(t, bare, purchases(3)))
	msgs, logs := runStream(t, fmt.Sprintf(`file: {paths: [%q], scanner: {currents_avro: {}}}`, path))
	if len(msgs) != 3 || logs != "" {
		t.Fatalf("got %d events, logs:\n%s", len(msgs), logs)
	}
	for _, m := range msgs {
		ev := decodeJSON(t, m.data)
		if ev["event_type"] != "users.behaviors.Purchase" || m.meta["path"] != path {
			t.Errorf("event_type %v, path %v", ev["event_type"], m.meta["path"])
		}
		if _, ok := ev["properties"].(map[string]any)["purchase_properties"].(map[string]any); !ok {
			t.Errorf("purchase_properties not an object: %s", m.data)
		}
	}
}

// TestDirectoryWalkOverABrazeBucketLayout reads an archive in Braze's
// bucket layout, written by the project's generator with every event type,
// with a glob as a user would write it.
func TestDirectoryWalkOverABrazeBucketLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "currents")
	g, err := currentsgen.New(currentsgen.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ac := currentsgen.DefaultArchiveConfig(root)
	ac.RecordsPerFile = 5
	files, err := g.WriteArchive(1000, ac)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, f := range files {
		eventType, _ := eventTypeFromPath(f.Path)
		want[eventType] += len(f.Events)
	}
	writeFile(t, filepath.Join(root, ac.Integration, "_manifest.json"), []byte(`{}`))

	msgs, logs := runStream(t, fmt.Sprintf(`
file:
  paths: [ %q ]
  scanner:
    currents_avro: {}
`, root+"/**/*.avro"))
	if logs != "" {
		t.Errorf("unexpected log output:\n%s", logs)
	}
	got := map[string]int{}
	for _, m := range msgs {
		et := decodeJSON(t, m.data)["event_type"].(string)
		fromPath, _ := eventTypeFromPath(m.meta["path"].(string))
		if et != fromPath {
			t.Errorf("%s holds a %s event", m.meta["path"], et)
		}
		got[et]++
	}
	if len(want) < 80 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events per type:\n got %v\nwant %v", got, want)
	}
}

func TestFileInputMovesPastABadFile(t *testing.T) {
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "a-bad.avro"), filepath.Join(dir, "b-good.avro")
	writeFile(t, bad, []byte("this is not Avro"))
	writeFile(t, good, encodeOCF(t, purchaseSchema, purchases(4)))
	msgs, logs := runStream(t, fmt.Sprintf(`file: {paths: [%q], scanner: {currents_avro: {}}}`, filepath.Join(dir, "*.avro")))
	if len(msgs) != 4 {
		t.Errorf("got %d events from the good file, want 4", len(msgs))
	}
	if !strings.Contains(logs, bad) || !strings.Contains(logs, "not an Avro object container file") {
		t.Errorf("log does not name the bad file:\n%s", logs)
	}
}

func TestBatchSizeGroupsRecordsOfABlock(t *testing.T) {
	data := encodeOCF(t, purchaseSchema, purchases(10), ocf.WithBlockLength(6))
	res := scan(t, newCreator(t, `{batch_size: 4}`), "a.avro", data)
	if res.err != nil {
		t.Fatal(res.err)
	}
	var sizes []int
	for _, b := range res.batches {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[4 2 4]" {
		t.Errorf("batch sizes %v, want [4 2 4]", sizes)
	}
	checkIDs(t, res.messages(), 0, 10)
}

func TestBatchSizeBelowOneIsRejected(t *testing.T) {
	conf, err := currentsAvroScannerSpec().ParseYAML(`{batch_size: 0}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := currentsAvroScannerFromParsed(conf); err == nil {
		t.Fatal("expected an error")
	}
}

func TestSourceIsAcknowledgedOnlyOnceEveryEventIsDelivered(t *testing.T) {
	data := encodeOCF(t, purchaseSchema, purchases(3))
	for _, tc := range []struct {
		name    string
		results []error // outcome of each event, in order
		want    string
	}{
		{"all delivered", []error{nil, nil, nil}, "[<nil>]"},
		{"one rejected", []error{nil, errors.New("rejected"), nil}, "[rejected]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var acks []error
			details := service.NewScannerSourceDetails()
			details.SetName("a.avro")
			s, err := newCreator(t, `{}`).Create(io.NopCloser(bytes.NewReader(data)), func(_ context.Context, err error) error {
				acks = append(acks, err)
				return nil
			}, details)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var ackFns []service.AckFunc
			for {
				_, ack, err := s.NextBatch(ctx)
				if errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				ackFns = append(ackFns, ack)
			}
			for i, ack := range ackFns {
				if len(acks) != 0 {
					t.Fatalf("source acknowledged with %v before event %d was", acks, i)
				}
				_ = ack(ctx, tc.results[i])
				if tc.results[i] != nil {
					break
				}
			}
			if fmt.Sprint(acks) != tc.want {
				t.Errorf("source acks %v, want %s", acks, tc.want)
			}
			_ = s.Close(ctx)
		})
	}
}

func TestInvalidPropertiesAreFlaggedInMetadata(t *testing.T) {
	recs := purchases(2)
	recs[1]["properties"] = "{oops"
	res := scan(t, newCreator(t, `{}`), "a.avro", encodeOCF(t, purchaseSchema, recs))
	if res.err != nil {
		t.Fatal(res.err)
	}
	msgs := res.messages()
	if _, ok := msgs[0].MetaGet(MetaPropertiesError); ok {
		t.Error("valid properties flagged")
	}
	if got := metaString(t, msgs[1], MetaPropertiesError); !strings.Contains(got, "purchase_properties") {
		t.Errorf("%s = %q", MetaPropertiesError, got)
	}
}

func TestEmptyContainerEmitsNothing(t *testing.T) {
	res := scan(t, newCreator(t, `{}`), "a.avro", encodeOCF(t, purchaseSchema, nil))
	if res.err != nil || len(res.batches) != 0 {
		t.Fatalf("err %v, %d batches", res.err, len(res.batches))
	}
}

// FuzzDamagedFilesFailCleanly feeds damaged containers to the scanner: it must
// not panic, must name the file in any error, and must emit records in order
// without gaps or repeats.
func FuzzDamagedFilesFailCleanly(f *testing.F) {
	withArray := strings.Replace(purchaseSchema, `{"name": "app_group_id"`,
		`{"name": "tags", "type": {"type": "array", "items": ["null", "string"]}, "default": []}, {"name": "app_group_id"`, 1)
	recs := purchases(12)
	for i, r := range recs {
		r["tags"] = []any{"a", nil, fmt.Sprint(i)}
	}
	for _, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate, ocf.Snappy} {
		f.Add(encodeOCF(f, withArray, recs, ocf.WithCodec(codec), ocf.WithBlockLength(5)))
	}
	c := newCreator(f, `{}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := scan(t, c, "fuzz.avro", data)
		if res.err != nil && !strings.Contains(res.err.Error(), "fuzz.avro") {
			t.Fatalf("error does not name the file: %v", res.err)
		}
		for i, m := range res.messages() {
			if rec, _ := m.MetaGetMut(MetaRecord); rec != int64(i) {
				t.Fatalf("message %d is record %v", i, rec)
			}
		}
	})
}
