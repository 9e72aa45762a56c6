package config_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
	"github.com/connect-amplitude/connect-amplitude/internal/streamtest"
)

const bucketPrefix = "dataexport.prod-01.S3.integration.5f3e"

// archivedRecord is one record written to the test archive, with what the
// backfill must do with it.
type archivedRecord struct {
	id, path   string
	wantReason string // "" when it must reach Amplitude
	anonymous  bool   // known only by its device_id
	unreadable bool   // in a damaged block: never emitted
}

// TestAvroBackfillSendsEveryRecordOnceOrDeadLettersIt runs
// config/avro-backfill.yaml as it is, against the emulator, over an archive
// in Braze's layout written by the project's generator: every event type,
// with users, anonymous (sent, as the config allows with
// CURRENTS_ANONYMOUS=true) and without any id, in each codec. Some devices
// are silenced by the emulator, which also answers its first requests with
// a 500, after ingesting them when they are valid (the retries must not
// duplicate events), and one file is truncated in its third block. A second
// run with the same checkpoint reads only the damaged file again.
func TestAvroBackfillSendsEveryRecordOnceOrDeadLettersIt(t *testing.T) {
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "currents")
	records := writeGeneratedArchive(t, archive)
	runBackfillAgainstTheEmulator(t, archive, records, filepath.Join(tmp, "dead-letter.jsonl"), filepath.Join(tmp, "checkpoint"))
}

// TestAvroBackfillOfBrazesSampleFiles does the same over a copy of Braze's
// own sample Avro files, laid out as Braze's bucket: Braze's samples share
// one id, which Amplitude would deduplicate, so each record is written anew
// with its own id, in the file's own writer schema and in turn each codec.
func TestAvroBackfillOfBrazesSampleFiles(t *testing.T) {
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "currents")
	records := writeSampleArchive(t, archive)
	runBackfillAgainstTheEmulator(t, archive, records, filepath.Join(tmp, "dead-letter.jsonl"), filepath.Join(tmp, "checkpoint"))
}

func runBackfillAgainstTheEmulator(t *testing.T, archive string, records []archivedRecord, deadLetter, checkpoint string) {
	t.Helper()
	healthy := emulator.Faults{SilencedDevices: []string{silencedDevice}}
	failing := healthy
	failing.ErrorRate, failing.ErrorCodes, failing.IngestBeforeError = 1, []int{500}, true
	srv, err := emulator.Start(emulator.Config{APIKeys: []string{"backfill-test-key"}, Faults: failing})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Requests are answered 500, after ingesting their events when they are
	// valid, until one was or three failed (a request holding a silenced
	// device's event is not valid, and ingests nothing); the retries then
	// find the emulator healthy.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for s := srv.Stats(); s.EventsIngested == 0 && s.Requests[500] < 3; s = srv.Stats() {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		srv.SetFaults(healthy)
	}()

	records = append(records, writeDamagedFile(t, archive)...)
	env := map[string]string{
		"CURRENTS_ARCHIVE":   archive,
		"AMPLITUDE_ENDPOINT": srv.URL + "/batch",
		"AMPLITUDE_API_KEY":  "backfill-test-key",
		"CURRENTS_ANONYMOUS": "true",
		"DEAD_LETTER_FILE":   deadLetter,
		"CHECKPOINT_PATH":    checkpoint,
	}
	logs := runBackfill(t, env)

	delivered := map[string]int{}
	for _, ev := range srv.Events() {
		delivered[ev.InsertID]++
	}
	dead := readDeadLetters(t, deadLetter)
	byID := map[string]archivedRecord{}
	counts := map[string]int{}
	for _, r := range records {
		byID[r.id] = r
		switch {
		case r.unreadable:
			counts["unreadable"]++
			if delivered[r.id] != 0 || len(dead[r.id]) != 0 {
				t.Errorf("%s: a record of a damaged block was emitted", r.id)
			}
		case r.wantReason == "":
			counts["delivered"]++
			if r.anonymous {
				counts["anonymous"]++
			}
			if delivered[r.id] != 1 || len(dead[r.id]) != 0 {
				t.Errorf("%s (%s): in Amplitude %d times, dead-lettered %d times; want once in Amplitude", r.id, r.path, delivered[r.id], len(dead[r.id]))
			}
		default:
			counts["dead-lettered"]++
			if delivered[r.id] != 0 || len(dead[r.id]) != 1 {
				t.Errorf("%s (%s): in Amplitude %d times, dead-lettered %d times; want once in the dead-letter file", r.id, r.path, delivered[r.id], len(dead[r.id]))
				continue
			}
			l := dead[r.id][0]
			if !strings.Contains(l.Reason, r.wantReason) {
				t.Errorf("%s: dead-letter line %+v, want reason %q", r.id, l, r.wantReason)
			}
		}
	}
	for id := range delivered {
		if _, ok := byID[id]; !ok {
			t.Errorf("Amplitude received %q, which no record holds", id)
		}
	}
	for id := range dead {
		if _, ok := byID[id]; !ok {
			t.Errorf("the dead-letter file holds %q, which no record holds", id)
		}
	}
	if counts["delivered"] < 90 || counts["anonymous"] == 0 || counts["dead-lettered"] < 4 || counts["unreadable"] == 0 {
		t.Errorf("records by outcome %v: the archive does not exercise every route", counts)
	}
	if stats := srv.Stats(); stats.Requests[500] == 0 {
		t.Errorf("no request failed (%v): the retries were not exercised", stats.Requests)
	}
	if !strings.Contains(logs, "damaged+0+0000000000.avro: block 3") {
		t.Errorf("the log does not name the damaged file and block:\n%s", logs)
	}
	// The damaged file failed; every other event was sent or dead-lettered.
	summary := fmt.Sprintf("(1 failed), events %s sent, %s dead-lettered", backfill.Count(int64(counts["delivered"])), backfill.Count(int64(counts["dead-lettered"])))
	if !strings.Contains(logs, "done in") || !strings.Contains(logs, summary) {
		t.Errorf("the log has no summary saying %q:\n%s", summary, logs)
	}

	// Run again: every file but the damaged one is in the checkpoint.
	before := srv.Stats()
	deadBefore := len(readLines(t, deadLetter))
	runBackfill(t, env)
	after := srv.Stats()
	readable := 0
	for _, r := range records {
		if strings.HasSuffix(r.path, "damaged+0+0000000000.avro") && !r.unreadable {
			readable++
		}
	}
	if got := after.EventsReceived - before.EventsReceived; got != int64(readable) || after.EventsIngested != before.EventsIngested {
		t.Errorf("the second run sent %d events (%d ingested), want only the %d readable ones of the damaged file, all known", got, after.EventsIngested-before.EventsIngested, readable)
	}
	if got := len(readLines(t, deadLetter)); got != deadBefore {
		t.Errorf("the second run dead-lettered %d events", got-deadBefore)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// runBackfill runs config/avro-backfill.yaml with env until its input ends and
// returns the log.
func runBackfill(t *testing.T, env map[string]string) string {
	t.Helper()
	return runUntilDone(t, "avro-backfill.yaml", env)
}

// runUntilDone runs a config with env, in the binary's environment, until
// its input ends, and returns the log.
func runUntilDone(t *testing.T, file string, env map[string]string) string {
	t.Helper()
	conf, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, logs := streamtest.NewBuilderIn(binaryEnv(t), slog.LevelInfo)
	b.SetEnvVarLookupFunc(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err := b.SetYAML(string(conf)); err != nil {
		t.Fatal(err)
	}
	return streamtest.RunToEnd(t, b, logs, 2*time.Minute)
}

// writeSampleArchive writes every record of Braze's sample Avro files under
// <root>/<bucketPrefix>/event_type=<type>/date=.../, one file per sample.
func writeSampleArchive(t *testing.T, root string) []archivedRecord {
	t.Helper()
	var paths []string
	for _, dir := range []string{"avro", "avro-removed-from-head"} {
		p, err := filepath.Glob(filepath.Join(samples.Dir(t), dir, "*.avro"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p...)
	}
	if len(paths) < 100 {
		t.Fatalf("found %d sample Avro files, expected about 100", len(paths))
	}
	codecs := []ocf.CodecName{ocf.Null, ocf.Deflate, ocf.Snappy}
	var out []archivedRecord
	for i, p := range paths {
		eventType := strings.TrimSuffix(filepath.Base(p), ".avro")
		schema, recs := readOCF(t, p)
		dest := filepath.Join(root, bucketPrefix, "event_type="+eventType,
			fmt.Sprintf("date=2024-01-%02d-%02d", 1+i%28, i%24), "version=10", "prod",
			fmt.Sprintf("%s+0+%010d.avro", eventType, i))
		for j, rec := range recs {
			rec["id"] = fmt.Sprintf("%s-%d", eventType, j)
			switch {
			case field(rec, "device_id") == "":
			case i%10 == 0:
				rec["device_id"] = silencedDevice
			case i%10 == 5:
				rec["external_user_id"] = nil // an anonymous user
			}
			out = append(out, archivedRecord{id: rec["id"].(string), path: dest, wantReason: expectedReason(rec),
				anonymous: field(rec, "external_user_id") == "" && field(rec, "device_id") != ""})
		}
		writeOCF(t, dest, schema, recs, ocf.WithCodec(codecs[i%len(codecs)]))
	}
	return out
}

// writeGeneratedArchive writes events of every type in Braze's layout with
// the project's generator, in each codec, and one device of the events
// silenced: events with users, anonymous ones and events without any id.
func writeGeneratedArchive(t *testing.T, root string) []archivedRecord {
	t.Helper()
	cfg := currentsgen.DefaultConfig()
	cfg.Userless, cfg.Users, cfg.AnonymousShare, cfg.HotDevices = true, 40, 0.2, 0
	events, err := currentsgen.New(cfg) // the same events as JSON, for the expectations
	if err != nil {
		t.Fatal(err)
	}
	g, _ := currentsgen.New(cfg)
	var out []archivedRecord
	for i, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate, ocf.Snappy} {
		ac := currentsgen.DefaultArchiveConfig(root)
		ac.Integration = fmt.Sprintf("dataexport.prod-01.S3.integration.%d", i)
		ac.Codec, ac.RecordsPerFile, ac.BlockLength = codec, 20, 7
		files, err := g.WriteArchive(300, ac)
		if err != nil {
			t.Fatal(err)
		}
		path := map[uint64]string{}
		for _, f := range files {
			for _, e := range f.Events {
				path[e] = filepath.Join(root, filepath.FromSlash(f.Path))
			}
		}
		for range 300 {
			var ev struct {
				ID   string            `json:"id"`
				User map[string]string `json:"user"`
			}
			if err := json.Unmarshal(events.Next(nil), &ev); err != nil {
				t.Fatal(err)
			}
			n, _ := currentsgen.EventNumber(ev.ID)
			rec := map[string]any{"external_user_id": ev.User["external_user_id"], "device_id": ev.User["device_id"]}
			out = append(out, archivedRecord{id: ev.ID, path: path[n], wantReason: expectedReason(rec),
				anonymous: ev.User["external_user_id"] == "" && ev.User["device_id"] != ""})
		}
	}
	return out
}

// silencedDevice is a device of the generated events.
const silencedDevice = "device-7-1"

// writeDamagedFile writes six Purchase records of the generator in blocks of
// two and cuts the file inside its third block: the first four must be
// sent, the last two are never emitted.
func writeDamagedFile(t *testing.T, root string) []archivedRecord {
	t.Helper()
	cfg := currentsgen.DefaultConfig()
	cfg.Seed = 99 // other ids than the archive's
	g, err := currentsgen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	types := g.AvroTypes()
	dest := filepath.Join(root, "dataexport.prod-01.S3.integration.9", "event_type=users.behaviors.Purchase", "date=2024-02-01-00", "damaged+0+0000000000.avro")
	var buf bytes.Buffer
	var enc *ocf.Encoder
	var out []archivedRecord
	for len(out) < 6 {
		raw, r := g.NextRecord(nil)
		if types[r.Type].EventType != "users.behaviors.Purchase" {
			continue
		}
		if enc == nil {
			if enc, err = ocf.NewEncoderWithSchema(types[r.Type].Schema, &buf, ocf.WithBlockLength(2)); err != nil {
				t.Fatal(err)
			}
		}
		var rec map[string]any
		if err := avro.Unmarshal(types[r.Type].Schema, raw, &rec); err != nil {
			t.Fatal(err)
		}
		if _, err := enc.Write(raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, archivedRecord{id: rec["id"].(string), path: dest, wantReason: expectedReason(rec), unreadable: len(out) >= 4})
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, data[:len(data)-20], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectedReason says how a record must end with the config's defaults and
// CURRENTS_ANONYMOUS=true: sent (""), or dead-lettered with this reason.
func expectedReason(rec map[string]any) string {
	user, device := field(rec, "external_user_id"), field(rec, "device_id")
	switch {
	case user == "" && device == "":
		return "has neither external_user_id nor device_id"
	case user != "" && utf8.RuneCountInString(user) < 5: // Amplitude's default min_id_length
		return "amplitude: invalid_id_length: user_id"
	case device == silencedDevice:
		return "amplitude: silenced_device"
	}
	return ""
}

// field returns a string column of a decoded record, "" when null.
func field(rec map[string]any, name string) string {
	switch v := rec[name].(type) {
	case string:
		return v
	case *string:
		if v != nil {
			return *v
		}
	case map[string]any: // a union branch
		s, _ := v["string"].(string)
		return s
	}
	return ""
}

func readOCF(t *testing.T, path string) (avro.Schema, []map[string]any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := ocf.NewDecoder(f)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for dec.HasNext() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		recs = append(recs, rec)
	}
	if err := dec.Error(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return dec.Schema(), recs
}

func writeOCF(t *testing.T, path string, schema avro.Schema, recs []map[string]any, opts ...ocf.EncoderFunc) {
	t.Helper()
	var buf bytes.Buffer
	enc, err := ocf.NewEncoderWithSchema(schema, &buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := enc.Encode(rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deadLetter is one line of the dead-letter file.
type deadLetter struct {
	Reason string          `json:"reason"`
	Event  json.RawMessage `json:"event"`
}

// readDeadLetters returns the dead-letter lines by event id: the Currents id
// of an event the mapping refused, the insert_id of one Amplitude refused.
func readDeadLetters(t *testing.T, path string) map[string][]deadLetter {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]deadLetter{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l deadLetter
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		var ev struct {
			ID       string `json:"id"`
			InsertID string `json:"insert_id"`
		}
		if err := json.Unmarshal(l.Event, &ev); err != nil || ev.ID+ev.InsertID == "" {
			t.Fatalf("dead-letter line %q: the event has no id (%v)", sc.Text(), err)
		}
		out[ev.ID+ev.InsertID] = append(out[ev.ID+ev.InsertID], l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
