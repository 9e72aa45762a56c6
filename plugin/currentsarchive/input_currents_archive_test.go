package currentsarchive

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/streamtest"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
	_ "github.com/connect-amplitude/connect-amplitude/plugin/avroscan"
)

// testArchive is an archive of 4,000 generated events over two hours
// (2023-11-14 22:00 and 23:00), in files of up to 40 records.
type testArchive struct {
	root  string
	files []currentsgen.ArchiveFile
	types []currentsgen.AvroType
}

func writeTestArchive(t *testing.T) testArchive {
	t.Helper()
	cfg := currentsgen.DefaultConfig()
	cfg.PerSecond = 1
	g, err := currentsgen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := testArchive{root: filepath.Join(t.TempDir(), "currents"), types: g.AvroTypes()}
	ac := currentsgen.DefaultArchiveConfig(a.root)
	ac.RecordsPerFile, ac.BlockLength = 40, 9
	if a.files, err = g.WriteArchive(4000, ac); err != nil {
		t.Fatal(err)
	}
	return a
}

// events returns the ids of the events of the files whose path pass keep.
func (a testArchive) events(keep func(path string) bool) []string {
	var out []string
	for _, f := range a.files {
		if keep(f.Path) {
			for _, e := range f.Events {
				out = append(out, fmt.Sprint(e))
			}
		}
	}
	slices.Sort(out)
	return out
}

// runInput runs the input until it ends, with a consumer that fails each
// batch the first time when failFirst is set, and returns the event numbers
// received (by their Currents id) and the log.
func runInput(t *testing.T, inputYAML string, failFirst bool) ([]string, string) {
	got, logs := runInputLogging(t, inputYAML, failFirst)
	return got, logs.String()
}

// runInputLogging is runInput with the live log, which the metrics reach
// as the stream closes, possibly after it returned.
func runInputLogging(t *testing.T, inputYAML string, failFirst bool) ([]string, *syncbuf.Buffer) {
	t.Helper()
	b, logs := streamtest.NewBuilder(slog.LevelInfo)
	// The metrics are logged when the stream ends.
	if err := b.SetMetricsYAML(`logger: {}`); err != nil {
		t.Fatal(err)
	}
	if err := b.AddInputYAML(inputYAML); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	failed := map[string]bool{}
	if err := b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for _, m := range batch {
			raw, _ := m.AsBytes()
			var ev struct {
				ID string `json:"id"`
			}
			structured, err := m.AsStructured()
			if err != nil {
				return err
			}
			ev.ID, _ = structured.(map[string]any)["id"].(string)
			n, ok := currentsgen.EventNumber(ev.ID)
			if !ok {
				return fmt.Errorf("not a generated event: %s", raw)
			}
			if p, _ := m.MetaGet(MetaPath); !strings.HasPrefix(p, "/") {
				return fmt.Errorf("metadata %s = %q, want the file's path", MetaPath, p)
			}
			ids = append(ids, fmt.Sprint(n))
		}
		if failFirst && !failed[ids[0]] {
			failed[ids[0]] = true
			return fmt.Errorf("refused once")
		}
		got = append(got, ids...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	streamtest.RunToEnd(t, b, logs, time.Minute)
	slices.Sort(got)
	return got, logs
}

func TestTheInputReadsTheSelectedTypesAndHoursOnce(t *testing.T) {
	a := writeTestArchive(t)
	got, liveLogs := runInputLogging(t, fmt.Sprintf(`
currents_archive:
  root: %q
  event_types: [ "users.messages.email.*, users.behaviors.Purchase" ]
  from: 2023-11-14-23
  checkpoint: ""
`, a.root), false)
	selected := func(p string) bool {
		return (strings.Contains(p, "event_type=users.messages.email.") || strings.Contains(p, "event_type=users.behaviors.Purchase/")) &&
			strings.Contains(p, "date=2023-11-14-23")
	}
	want := a.events(selected)
	files := 0
	for _, f := range a.files {
		if selected(f.Path) {
			files++
		}
	}
	if len(want) < 100 || !slices.Equal(got, want) {
		t.Errorf("received %d events, want the %d of the selected types and hour", len(got), len(want))
	}
	logs := liveLogs.String()
	if !strings.Contains(logs, "done in") || !strings.Contains(logs, fmt.Sprintf("events %s sent", backfill.Count(int64(len(want))))) {
		t.Errorf("the log has no summary of %d events sent:\n%s", len(want), logs)
	}
	for name, value := range map[string]int{
		"currents_archive_files_total": files, "currents_archive_files_done": files, "currents_archive_files_failed": 0,
		"currents_archive_events_read": len(want), "currents_archive_events_sent": len(want), "currents_archive_events_dead_lettered": 0,
		"currents_archive_seconds_left": 0,
	} {
		if !loggedMetric(liveLogs, name, value) {
			t.Errorf("the metrics logged lack %s = %d:\n%s", name, value, liveLogs.String())
		}
	}
}

// loggedMetric waits for the logger exporter's line of a metric with its
// value (it logs the metrics as the stream closes, maybe after Run
// returned; the fields of a line come in any order).
func loggedMetric(logs *syncbuf.Buffer, name string, value int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			fields := strings.Fields(line)
			if slices.Contains(fields, "name="+name) && slices.Contains(fields, fmt.Sprintf("value=%d", value)) {
				return true
			}
		}
	}
	return false
}

func TestWorkersShareTheArchiveWithoutOverlap(t *testing.T) {
	a := writeTestArchive(t)
	var all []string
	for w := range 3 {
		got, _ := runInput(t, fmt.Sprintf(`
currents_archive:
  root: %q
  checkpoint: ""
  workers: 3
  worker: %d
`, a.root, w), false)
		if len(got) < 500 {
			t.Errorf("worker %d read %d events: the shares are uneven", w, len(got))
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	if want := a.events(func(string) bool { return true }); !slices.Equal(all, want) {
		t.Errorf("the workers read %d events together, the archive holds %d once each", len(all), len(want))
	}
}

func TestAFinishedFileIsNotReadAgainAndARetriedBatchFinishesItsFile(t *testing.T) {
	a := writeTestArchive(t)
	checkpoint := filepath.Join(t.TempDir(), "ck")
	conf := fmt.Sprintf(`
currents_archive:
  root: %q
  checkpoint: %q
  event_types: [ users.behaviors.Purchase ]
`, a.root, checkpoint)
	want := a.events(func(p string) bool { return strings.Contains(p, "event_type=users.behaviors.Purchase/") })
	got, _ := runInput(t, conf, true)
	if !slices.Equal(got, want) {
		t.Fatalf("first run: %d events, want %d", len(got), len(want))
	}
	f, err := os.Open(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	done, _, err := backfill.LoadCheckpoint(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var files int
	for _, af := range a.files {
		if strings.Contains(af.Path, "event_type=users.behaviors.Purchase/") {
			files++
			if e, ok := done[af.Path]; !ok || e.Events != int64(len(af.Events)) {
				t.Errorf("checkpoint line of %s: %+v, want %d events", af.Path, e, len(af.Events))
			}
		}
	}
	if len(done) != files {
		t.Errorf("the checkpoint lists %d files, want %d", len(done), files)
	}
	if got, logs := runInput(t, conf, false); len(got) != 0 || !strings.Contains(logs, fmt.Sprintf("%d finished before", files)) {
		t.Errorf("the second run read %d events; log:\n%s", len(got), logs)
	}
}

func TestALineCutShortInTheCheckpointIsDroppedAndItsFileReadAgain(t *testing.T) {
	a := writeTestArchive(t)
	var purchases []currentsgen.ArchiveFile
	for _, f := range a.files {
		if strings.Contains(f.Path, "event_type=users.behaviors.Purchase/") {
			purchases = append(purchases, f)
		}
	}
	size := func(f currentsgen.ArchiveFile) int64 {
		info, err := os.Stat(filepath.Join(a.root, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	first := backfill.Finished{File: purchases[0].Path, Bytes: size(purchases[0]), Events: int64(len(purchases[0].Events))}
	torn := backfill.Finished{File: purchases[1].Path, Bytes: size(purchases[1]), Events: 1}.Line()
	checkpoint := filepath.Join(t.TempDir(), "ck")
	if err := os.WriteFile(checkpoint, append([]byte(backfill.CheckpointHeader+string(first.Line())), torn[:len(torn)/2]...), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := runInput(t, fmt.Sprintf(`
currents_archive:
  root: %q
  checkpoint: %q
  event_types: [ users.behaviors.Purchase ]
`, a.root, checkpoint), false)
	want := a.events(func(p string) bool {
		return strings.Contains(p, "event_type=users.behaviors.Purchase/") && p != purchases[0].Path
	})
	if !slices.Equal(got, want) {
		t.Errorf("read %d events, want %d: all but the first file's", len(got), len(want))
	}
	data, _ := os.ReadFile(checkpoint)
	if _, _, err := backfill.LoadCheckpoint(bytes.NewReader(data)); err != nil || !bytes.HasSuffix(data, []byte("\n")) || bytes.Count(data, []byte("\n")) != len(purchases)+1 {
		t.Errorf("checkpoint after the run (%v):\n%s", err, data)
	}
}

func TestAFileThatFailsIsLoggedCountedAndLeftOutOfTheCheckpoint(t *testing.T) {
	a := writeTestArchive(t)
	bad := filepath.Join(a.root, a.files[0].Path)
	if err := os.WriteFile(bad, []byte("not avro"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkpoint := filepath.Join(t.TempDir(), "ck")
	got, logs := runInput(t, fmt.Sprintf(`
currents_archive:
  root: %q
  checkpoint: %q
`, a.root, checkpoint), false)
	if want := a.events(func(p string) bool { return p != a.files[0].Path }); !slices.Equal(got, want) {
		t.Errorf("read %d events, want the %d of the other files", len(got), len(want))
	}
	if !strings.Contains(logs, bad) || !strings.Contains(logs, "1 failed") {
		t.Errorf("the log does not name the file and count it failed:\n%s", logs)
	}
	data, _ := os.ReadFile(checkpoint)
	if bytes.Contains(data, []byte(a.files[0].Path)) || bytes.Count(data, []byte("\n")) != len(a.files) {
		t.Errorf("checkpoint:\n%s", data)
	}
}

func TestBadSettingsAreRefusedNamingTheField(t *testing.T) {
	dir := t.TempDir()
	notCheckpoint := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notCheckpoint, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{`{root: ""}`, "root: empty"},
		{fmt.Sprintf(`{root: %q, workers: 2, worker: 2}`, dir), "worker must be from 0 to 1"},
		{fmt.Sprintf(`{root: %q, from: "2024-01-32"}`, dir), "from: "},
		{fmt.Sprintf(`{root: %q, checkpoint: %q}`, dir, notCheckpoint), "not a currents_archive checkpoint"},
		{fmt.Sprintf(`{root: %q}`, filepath.Join(dir, "missing")), "listing the archive"},
	} {
		conf, err := inputSpec().ParseYAML(tc.yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		in, err := newInput(conf, service.MockResources())
		if err == nil {
			err = in.Connect(context.Background())
			_ = in.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

func TestTheDeadLetterProcessorCountsMessagesOfABackfillOnly(t *testing.T) {
	c := &backfill.Counters{}
	p := deadLetterCounter{}
	for _, m := range []*service.Message{
		service.NewMessage([]byte(`{}`)).WithContext(backfill.WithCounters(context.Background(), c)),
		service.NewMessage([]byte(`{}`)),
	} {
		out, err := p.Process(context.Background(), m)
		if err != nil || len(out) != 1 || out[0] != m {
			t.Fatalf("Process = %v, %v; want the message as it was", out, err)
		}
	}
	if got := c.EventsDead.Load(); got != 1 {
		t.Errorf("counted %d dead letters, want 1", got)
	}
}
