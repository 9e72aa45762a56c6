package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The pipeline command of these tests is this test binary itself, acting
// as a stand-in for connect-amplitude when BENCH_E2E_FAKE is set: it reads
// BENCH_INPUT, sends some events to BENCH_ENDPOINT in one HTTP V2 request,
// dead-letters others, and exits.
func TestMain(m *testing.M) {
	if mode := os.Getenv("BENCH_E2E_FAKE"); mode != "" {
		if err := fakePipeline(mode); err != nil {
			fmt.Fprintln(os.Stderr, "fake pipeline:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	code := m.Run()
	if dir := emulatorDir.Load(); dir != nil {
		os.RemoveAll(*dir)
	}
	os.Exit(code)
}

// fakeMode is what the stand-in does: send the first Send events, dead-letter
// the next DeadLetter, hold HoldMB of memory, then exit with ExitCode (or
// sleep, or wait to be profiled).
type fakeMode struct {
	Send, DeadLetter, HoldMB, ExitCode int
	Sleep, ServeProfile                bool
	Kafka                              bool // send stage: see fakeSendStage
}

func (m fakeMode) env() string {
	return fmt.Sprintf("%d,%d,%d,%d,%t,%t,%t", m.Send, m.DeadLetter, m.HoldMB, m.ExitCode, m.Sleep, m.ServeProfile, m.Kafka)
}

func fakePipeline(s string) error {
	var m fakeMode
	if _, err := fmt.Sscanf(strings.ReplaceAll(s, ",", " "), "%d %d %d %d %t %t %t",
		&m.Send, &m.DeadLetter, &m.HoldMB, &m.ExitCode, &m.Sleep, &m.ServeProfile, &m.Kafka); err != nil {
		return err
	}
	if m.Kafka {
		return fakeSendStage()
	}
	if m.Sleep {
		time.Sleep(time.Hour)
	}
	if m.ServeProfile {
		if err := serveOneProfile(os.Getenv("BENCH_HTTP_ADDRESS")); err != nil {
			return err
		}
	}
	held := make([]byte, m.HoldMB<<20)
	for i := range held {
		held[i] = byte(i) // touch every page, so it counts as resident
	}
	input, err := os.ReadFile(os.Getenv("BENCH_INPUT"))
	if err != nil {
		return err
	}
	events := strings.Split(strings.TrimSpace(string(input)), "\n")
	body := `{"api_key":"bench-key","events":[` + strings.Join(events[:m.Send], ",") + `]}`
	resp, err := http.Post(os.Getenv("BENCH_ENDPOINT"), "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emulator answered %s", resp.Status)
	}
	var dead bytes.Buffer
	for _, ev := range events[m.Send : m.Send+m.DeadLetter] {
		fmt.Fprintf(&dead, `{"error":"amplitude: device_rate_limited: device would wait past max_hold 1s (rate)","event":%s}`+"\n", ev)
	}
	if m.DeadLetter > 0 {
		if err := os.WriteFile(os.Getenv("BENCH_DEAD_LETTER"), dead.Bytes(), 0o644); err != nil {
			return err
		}
	}
	runtime.KeepAlive(held)
	if m.ExitCode != 0 {
		os.Exit(m.ExitCode)
	}
	return nil
}

// serveOneProfile serves /debug/pprof/profile, as Benthos does with
// http.debug_endpoints, until one profile has been taken.
func serveOneProfile(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan struct{})
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		pprof.Profile(w, r)
		once.Do(func() { close(served) })
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	<-served
	return srv.Shutdown(context.Background())
}

// emulatorDir holds the emulator built for these tests, for TestMain to remove.
var emulatorDir atomic.Pointer[string]

var emulatorBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "bench-e2e-test")
	if err != nil {
		return "", err
	}
	emulatorDir.Store(&dir)
	bin := filepath.Join(dir, "amplitude-emulator")
	out, err := exec.Command("go", "build", "-o", bin, "../amplitude-emulator").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// setup writes n valid Amplitude events as the input and returns a run of
// the stand-in in the given mode.
func setup(t *testing.T, n int, mode fakeMode) runConfig {
	t.Helper()
	emu, err := emulatorBin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var input strings.Builder
	for i := range n {
		fmt.Fprintf(&input, `{"event_type":"[Appboy] Email Open","user_id":"user-%05d","insert_id":"id-%d","time":1700000000000}`+"\n", i, i)
	}
	in := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(in, []byte(input.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BENCH_E2E_FAKE", mode.env())
	return runConfig{
		Name: "fake", IDs: "uniform", Events: n, Input: in,
		Emulator: emu, Path: "/2/httpapi",
		DeadLetter: filepath.Join(dir, "fake-dead-letter.jsonl"),
		Log:        filepath.Join(dir, "fake.log"),
		Timeout:    time.Minute,
		Command:    []string{os.Args[0]},
	}
}

func TestARunMeasuresTheCommandAndChecksEveryEventArrived(t *testing.T) {
	c := setup(t, 100, fakeMode{Send: 90, DeadLetter: 10, HoldMB: 64})
	res, err := run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Emulator.EventsIngested != 90 || res.requests() != 1 || res.Emulator.Requests[200] != 1 {
		t.Errorf("emulator stats: %+v", res.Emulator)
	}
	if res.DeadLettered != 10 || res.DeadReasons["device_rate_limited"] != 10 {
		t.Errorf("dead letters: %d %v", res.DeadLettered, res.DeadReasons)
	}
	if res.PeakRSSBytes < 64<<20 {
		t.Errorf("peak RSS %d bytes, but the command held 64 MB", res.PeakRSSBytes)
	}
	if res.CPUSeconds <= 0 || res.Seconds <= 0 || res.EmulatorCPUSeconds < 0 {
		t.Errorf("times: %+v", res)
	}
	if res.Error != "" || res.Name != "fake" || res.Events != 100 {
		t.Errorf("result: %+v", res)
	}
}

func TestARunFails(t *testing.T) {
	cases := []struct {
		name string
		mode fakeMode
		edit func(*runConfig)
		want string
	}{
		{name: "when events are lost", mode: fakeMode{Send: 90, DeadLetter: 5}, want: "5 events lost"},
		{name: "when the command fails", mode: fakeMode{Send: 100, ExitCode: 7}, want: "exit status 7"},
		{name: "when the command outlives the timeout", mode: fakeMode{Sleep: true},
			edit: func(c *runConfig) { c.Timeout = 200 * time.Millisecond }, want: "killed"},
		{name: "when the emulator does not start", mode: fakeMode{Send: 100},
			edit: func(c *runConfig) { c.EmulatorArgs = []string{"-no-such-flag"} }, want: "exited before listening"},
		{name: "when a profile was asked for but the command never served one", mode: fakeMode{Send: 100},
			edit: func(c *runConfig) {
				c.Profile, c.ProfileAfter, c.ProfileFor = filepath.Join(t.TempDir(), "cpu.prof"), 0, time.Second
			}, want: "profile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := setup(t, 100, tc.mode)
			if tc.edit != nil {
				tc.edit(&c)
			}
			res, err := run(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if res != nil && res.Error != err.Error() {
				t.Errorf("the recorded error %q differs from %q", res.Error, err)
			}
		})
	}
}

func TestAProfileIsTakenWhileTheCommandRuns(t *testing.T) {
	c := setup(t, 10, fakeMode{Send: 10, ServeProfile: true})
	c.Profile, c.ProfileAfter, c.ProfileFor = filepath.Join(t.TempDir(), "cpu.prof"), 0, time.Second
	if _, err := run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	prof, err := os.ReadFile(c.Profile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(prof, []byte{0x1f, 0x8b}) { // pprof profiles are gzipped protobuf
		t.Errorf("not a pprof profile: %q", prof[:min(len(prof), 16)])
	}
}

func TestRunCommandRecordsFailedRunsToo(t *testing.T) {
	c := setup(t, 20, fakeMode{Send: 10})
	results := filepath.Join(t.TempDir(), "results.jsonl")
	var stderr bytes.Buffer
	err := dispatch(context.Background(), []string{"run", "-name", "lossy", "-events", "20", "-input", c.Input,
		"-emulator", c.Emulator, "-results", results, "--", os.Args[0]}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "10 events lost") {
		t.Fatalf("error %v", err)
	}
	runs, rerr := readResults(results)
	if rerr != nil || len(runs) != 1 || runs[0].Name != "lossy" || runs[0].Error == "" {
		t.Fatalf("recorded %+v, %v", runs, rerr)
	}
	if !strings.Contains(stderr.String(), "FAILED") {
		t.Errorf("no failure said: %s", stderr.String())
	}
}

func TestRunFilesAreNamedAfterTheRun(t *testing.T) {
	for name, want := range map[string]string{
		"amplitude http_v2 hot":        "amplitude-http_v2-hot",
		"baseline http_client uniform": "baseline-http_client-uniform",
		" odd / name: (1.5) ":          "odd-name-1.5",
	} {
		if got := slug(name); got != want {
			t.Errorf("slug(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"walk"},
		{"run", "-name", "x", "-input", "f", "-results", "r", "--", "cmd"},
		{"run", "-name", "x", "-input", "f", "-results", "r", "-events", "10"},
		{"run", "-events", "10", "--", "cmd"},
		{"table"},
	} {
		var stderr bytes.Buffer
		if err := dispatch(context.Background(), args, &stderr, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestCountDeadLettersByReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	lines := []string{
		`{"error":"amplitude: device_rate_limited: device \"d\" would wait past max_hold 1s (rate)","event":{}}`,
		`{"error":"amplitude: daily_quota: user \"u\" has reached its daily quota","event":{}}`,
		`{"error":"amplitude: device_rate_limited: x","event":{}}`,
		`{"error":"something else","event":{}}`,
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, reasons, err := countDeadLetters(path)
	if err != nil || n != 4 || reasons["device_rate_limited"] != 2 || reasons["daily_quota"] != 1 || reasons["other"] != 1 {
		t.Errorf("%d %v %v", n, reasons, err)
	}
	if n, _, err := countDeadLetters(filepath.Join(t.TempDir(), "none")); n != 0 || err != nil {
		t.Errorf("a missing file: %d %v", n, err)
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := countDeadLetters(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a bad line: %v", err)
	}
}

func TestLoadAverageHasThreeFigures(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); errors.Is(err, os.ErrNotExist) {
		t.Fatal("this benchmark reads /proc: it runs on Linux")
	}
	f := strings.Fields(loadAverage())
	if len(f) != 3 {
		t.Fatalf("%q", loadAverage())
	}
	for _, v := range f {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			t.Error(err)
		}
	}
}
