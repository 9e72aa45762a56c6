package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
)

// generateArchive writes n generated events as an archive of Braze's Avro
// storage export with currents-gen, and returns its root and each file's
// events.
func generateArchive(t *testing.T, n, perFile int) (string, []currentsgen.ArchiveFile) {
	t.Helper()
	dir := t.TempDir()
	root, manifest := filepath.Join(dir, "currents"), filepath.Join(dir, "manifest")
	gen := exec.Command(bin("currents-gen"), "-n", strconv.Itoa(n), "-users", "200000", "-anonymous", "0", "-hot-devices", "0",
		"-avro", root, "-records-per-file", strconv.Itoa(perFile), "-manifest", manifest)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("currents-gen: %v\n%s", err, out)
	}
	f, err := os.Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, err := currentsgen.ReadManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	return root, files
}

// backfillEnv is the environment config/avro-backfill.yaml runs with.
func backfillEnv(archive, endpoint, dir string) []string {
	return []string{
		"CURRENTS_ARCHIVE=" + archive,
		"AMPLITUDE_ENDPOINT=" + endpoint + "/batch",
		"AMPLITUDE_API_KEY=e2e-api-key",
		"CHECKPOINT_PATH=" + filepath.Join(dir, "checkpoint"),
		"DEAD_LETTER_FILE=" + filepath.Join(dir, "dead-letter.jsonl"),
		"HTTP_ADDRESS=127.0.0.1:0",
	}
}

// recordedEvents stops the emulator, which flushes its record, and marks the
// number of each generated event it accepted; it fails on an event it
// accepted twice or that no file holds.
func recordedEvents(t *testing.T, e *emulatorProc, n int) []bool {
	t.Helper()
	e.stop(t)
	seen := make([]bool, n)
	key := []byte(`"insert_id":"`)
	forEachLine(t, e.Record, func(line []byte) {
		i := bytes.Index(line, key)
		if i < 0 {
			t.Fatalf("recorded event without an insert_id: %s", line)
		}
		id := line[i+len(key):]
		id = id[:bytes.IndexByte(id, '"')]
		k, ok := currentsgen.EventNumber(string(id))
		if !ok || k >= uint64(n) {
			t.Fatalf("the emulator accepted %s, which is no event of the archive", id)
		}
		if seen[k] {
			t.Fatalf("the emulator accepted %s twice", id)
		}
		seen[k] = true
	})
	return seen
}

// finishedFiles reads the checkpoint.
func finishedFiles(t *testing.T, path string) backfill.Checkpoint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done, _, err := backfill.LoadCheckpoint(f)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// TestABackfillKilledPartWayResumesAndSendsEveryRecordOnce replays an
// archive of a million records in a few hundred files, kills the binary
// with SIGKILL once part of the files are finished, and starts it again:
// every record reaches Amplitude, none of a file finished before the kill
// a second time. Each run has its own emulator, so that what the second
// received is known. A third run, of the finished backfill, sends nothing.
func TestABackfillKilledPartWayResumesAndSendsEveryRecordOnce(t *testing.T) {
	const n = 1_000_000
	archive, files := generateArchive(t, n, 5000)
	if len(files) < 100 {
		t.Fatalf("the archive has %d files, want at least 100", len(files))
	}
	fileOf := make([]int, n)
	for i, f := range files {
		for _, e := range f.Events {
			fileOf[e] = i
		}
	}
	dir := t.TempDir()
	checkpoint := filepath.Join(dir, "checkpoint")

	first := startEmulator(t)
	run := startProcess(t, bin("connect-amplitude"), backfillEnv(archive, first.URL, dir), "run", "config/avro-backfill.yaml")
	// Kill once a fifth of the files are finished: the kill finds files
	// finished, files being read, and files not started.
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(checkpoint)
		if bytes.Count(data, []byte("\n")) > len(files)/5 {
			break
		}
		select {
		case <-run.done:
			t.Fatalf("the backfill ended before it was killed:\n%s", tail(run.out.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("a fifth of the files were not finished in 90s:\n%s", tail(run.out.String(), 4000))
		}
	}
	run.kill()
	finished := finishedFiles(t, checkpoint)
	before := recordedEvents(t, first, n)
	if len(finished) == 0 || len(finished) == len(files) {
		t.Fatalf("%d of %d files finished at the kill: not part-way", len(finished), len(files))
	}

	second := startEmulator(t)
	resumed := startProcess(t, bin("connect-amplitude"), backfillEnv(archive, second.URL, dir), "run", "config/avro-backfill.yaml")
	select {
	case <-resumed.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the resumed backfill did not end:\n%s", tail(resumed.out.String(), 4000))
	}
	if !resumed.cmd.ProcessState.Success() {
		t.Fatalf("the resumed backfill failed (%v):\n%s", resumed.cmd.ProcessState, tail(resumed.out.String(), 4000))
	}
	after := recordedEvents(t, second, n)

	var beforeCount, afterCount, both int
	for k := range n {
		f := files[fileOf[k]]
		_, wasFinished := finished[f.Path]
		switch {
		case !before[k] && !after[k]:
			t.Fatalf("event %d (%s) never reached Amplitude", k, f.Path)
		case wasFinished && !before[k]:
			t.Fatalf("event %d of %s, finished before the kill, was not received before it", k, f.Path)
		case wasFinished && after[k]:
			t.Fatalf("event %d of %s, finished before the kill, was received again", k, f.Path)
		}
		if before[k] {
			beforeCount++
		}
		if after[k] {
			afterCount++
		}
		if before[k] && after[k] {
			both++
		}
	}
	t.Logf("%d files: %d finished at the kill; events received before the kill %d, after %d, by both runs %d (sent again from files being read)",
		len(files), len(finished), beforeCount, afterCount, both)
	if got := len(finishedFiles(t, checkpoint)); got != len(files) {
		t.Errorf("the checkpoint lists %d files at the end, want all %d", got, len(files))
	}
	if dl, err := os.ReadFile(filepath.Join(dir, "dead-letter.jsonl")); err == nil && len(dl) > 0 {
		t.Errorf("events were dead-lettered:\n%s", tail(string(dl), 2000))
	}

	// The backfill is finished: running it again sends nothing.
	third := startEmulator(t)
	again := startProcess(t, bin("connect-amplitude"), backfillEnv(archive, third.URL, dir), "run", "config/avro-backfill.yaml")
	select {
	case <-again.done:
	case <-time.After(time.Minute):
		t.Fatal("the finished backfill run again did not end")
	}
	if s := third.stats(t); s.EventsReceived != 0 || !again.cmd.ProcessState.Success() {
		t.Errorf("running the finished backfill again sent %d events (%v)", s.EventsReceived, again.cmd.ProcessState)
	}
}

var (
	progressLine = regexp.MustCompile(`files (\d+)/(\d+)(?: \([^)]*\))?, events ([\d,]+) sent, ([\d,]+) dead-lettered, [\d,]+ events/s, (?:\S+ left|time left unknown)`)
	summaryLine  = regexp.MustCompile(`done in \S+: files (\d+)/(\d+), events ([\d,]+) sent, 0 dead-lettered, [\d,]+ events/s on average`)
)

// TestBackfillProgressIsLoggedWhenStderrIsNotATerminal runs a backfill with
// its output in pipes: the progress comes as log lines, then the summary,
// and nothing is drawn.
func TestBackfillProgressIsLoggedWhenStderrIsNotATerminal(t *testing.T) {
	const n = 100_000
	archive, files := generateArchive(t, n, 2000)
	emu := startEmulator(t)
	run := startProcess(t, bin("connect-amplitude"), backfillEnv(archive, emu.URL, t.TempDir()),
		"run", "--set", "input.batched.child.currents_archive.progress.log_interval=100ms", "config/avro-backfill.yaml")
	select {
	case <-run.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the backfill did not end")
	}
	out := run.out.String()
	var progress []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "level=info") && progressLine.MatchString(sc.Text()) {
			progress = append(progress, sc.Text())
		}
	}
	if len(progress) < 2 {
		t.Errorf("%d progress log lines, want several:\n%s", len(progress), tail(out, 4000))
	}
	m := summaryLine.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(len(files)) || m[2] != m[1] || m[3] != backfill.Count(n) {
		t.Errorf("no summary of %d files and %d events sent:\n%s", len(files), n, tail(out, 4000))
	}
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("the output in a pipe holds terminal controls:\n%q", tail(out, 2000))
	}
}

// TestBackfillProgressIsDrawnOnATerminal runs a backfill with stderr on a
// pseudo-terminal: one line is redrawn in place as the backfill goes, and
// ends with the summary and a newline.
func TestBackfillProgressIsDrawnOnATerminal(t *testing.T) {
	const n = 200_000
	archive, files := generateArchive(t, n, 2000)
	emu := startEmulator(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin("connect-amplitude"), "run", "config/avro-backfill.yaml")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), backfillEnv(archive, emu.URL, t.TempDir())...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	screen := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with an error once the terminal has no writer left
		screen <- b
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the backfill failed: %v\n%s", err, tail(logs.String(), 4000))
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the backfill did not end")
	}
	drawn := string(<-screen)

	frames := strings.Split(drawn, "\r")
	var sent []int
	for _, f := range frames {
		if m := progressLine.FindStringSubmatch(f); m != nil && strings.HasSuffix(f, "\x1b[K") {
			k, _ := strconv.Atoi(strings.ReplaceAll(m[3], ",", ""))
			sent = append(sent, k)
		}
	}
	if len(sent) < 2 {
		t.Errorf("%d progress lines drawn, want the line redrawn several times:\n%q", len(sent), tail(drawn, 2000))
	}
	for i := 1; i < len(sent); i++ {
		if sent[i] < sent[i-1] {
			t.Errorf("events sent went back from %d to %d between two draws", sent[i-1], sent[i])
		}
	}
	last := strings.TrimRight(frames[len(frames)-1], "\n")
	if len(frames) < 2 || !strings.HasSuffix(frames[len(frames)-2], "\x1b[K") || !summaryLine.MatchString(frames[len(frames)-2]) || last != "" {
		t.Errorf("the drawing does not end with the summary line and a newline:\n%q", tail(drawn, 600))
	}
	if m := summaryLine.FindStringSubmatch(drawn); m == nil || m[1] != strconv.Itoa(len(files)) || m[3] != backfill.Count(n) {
		t.Errorf("the summary does not count %d files and %d events:\n%q", len(files), n, tail(drawn, 600))
	}
	if progressLine.MatchString(logs.String()) {
		t.Errorf("progress was logged besides being drawn:\n%s", tail(logs.String(), 2000))
	}
}
