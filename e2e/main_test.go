// Package e2e tests the built commands as a team runs them: the
// connect-amplitude binary with a config of config/, the amplitude-emulator
// as its own process and braze-sim as Braze. TestMain builds the commands
// once, without -race (the race detector covers this test process only).
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/brazesim"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
)

// The commands of cmd/ that TestMain builds; add one here to test it.
var commands = []string{"connect-amplitude", "amplitude-emulator", "braze-sim", "braze-emulator", "currents-gen"}

// The repository, and where TestMain built the commands.
var repoRoot, binDir string

// bin is the path of a built command, by its name under cmd/.
func bin(name string) string { return filepath.Join(binDir, name) }

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "connect-amplitude-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// One go build for all: the packages compile in parallel, from the cache.
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, c := range commands {
		args = append(args, "./cmd/"+c)
	}
	build := exec.Command(goTool(), args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the commands: %v\n%s", err, out)
		return 1
	}
	binDir = dir
	return m.Run()
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// process is a started command whose output is kept for waiting on lines and
// for failure messages.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer // stdout and stderr
	done chan struct{}   // closed when the process has exited
}

// startProcess runs bin with args and extra environment variables; the
// test's cleanup kills it if it still runs.
func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: filepath.Base(bin), cmd: exec.Command(bin, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Dir = repoRoot
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, tail(p.out.String(), 4000))
		}
	})
	return p
}

// waitFor returns the first submatch of re in the process's output, waiting
// up to 30 s for it.
func (p *process) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m[1]
			}
			t.Fatalf("%s exited (%v) before printing %s:\n%s", p.name, p.cmd.ProcessState, re, tail(p.out.String(), 4000))
		case <-deadline:
			t.Fatalf("%s did not print %s:\n%s", p.name, re, tail(p.out.String(), 4000))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop ends the process with SIGTERM and waits up to 20 s for it.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
		t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// emulatorProc is an amplitude-emulator process recording what it accepts.
type emulatorProc struct {
	*process
	URL    string // base URL
	Record string // the -record file: one accepted event per line
}

var emulatorListening = regexp.MustCompile(`listening on (http://\S+)`)

// startEmulator runs the emulator on a free loopback port with -record and
// the given extra flags.
func startEmulator(t *testing.T, flags ...string) *emulatorProc {
	t.Helper()
	record := filepath.Join(t.TempDir(), "emulator-record.jsonl")
	args := append([]string{"-addr", "127.0.0.1:0", "-record", record}, flags...)
	p := startProcess(t, bin("amplitude-emulator"), nil, args...)
	return &emulatorProc{process: p, URL: p.waitFor(t, emulatorListening), Record: record}
}

// stats reads GET /stats.
func (e *emulatorProc) stats(t *testing.T) emulator.Stats {
	t.Helper()
	resp, err := http.Get(e.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s emulator.Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// recordedInsertIDs stops the emulator (which flushes its record) and counts
// each insert_id it accepted.
func (e *emulatorProc) recordedInsertIDs(t *testing.T) map[string]int {
	t.Helper()
	e.stop(t)
	return insertIDsIn(t, e.Record)
}

// insertIDsIn counts each insert_id in an emulator's record (-record).
func insertIDsIn(t *testing.T, record string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	forEachLine(t, record, func(line []byte) {
		var ev struct {
			InsertID string `json:"insert_id"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("emulator record: %v: %s", err, line)
		}
		counts[ev.InsertID]++
	})
	return counts
}

// receiverEnv is the environment config/braze-receiver.yaml runs with.
type receiverEnv struct {
	Address    string // host:port; 127.0.0.1:0 picks a free port
	Token      string
	Endpoint   string // the emulator's /2/httpapi URL
	DeadLetter string
	Extra      []string // more KEY=value
}

func (r receiverEnv) environ() []string {
	return append([]string{
		"BRAZE_RECEIVER_ADDRESS=" + r.Address,
		"BRAZE_BEARER_TOKEN=" + r.Token,
		"AMPLITUDE_ENDPOINT=" + r.Endpoint,
		"AMPLITUDE_API_KEY=e2e-api-key",
		"DEAD_LETTER_FILE=" + r.DeadLetter,
		"HTTP_ADDRESS=127.0.0.1:0",
	}, r.Extra...)
}

// receiverProc is connect-amplitude running config/braze-receiver.yaml.
type receiverProc struct {
	*process
	URL string // where Braze posts
}

var receiverListening = regexp.MustCompile(`braze_currents: listening on (http\S+?)"`)

func startReceiver(t *testing.T, env receiverEnv) *receiverProc {
	t.Helper()
	p := startProcess(t, bin("connect-amplitude"), env.environ(), "run", "config/braze-receiver.yaml")
	return &receiverProc{process: p, URL: p.waitFor(t, receiverListening)}
}

// hostPort is the address part of a receiver URL, to restart it there.
func hostPort(t *testing.T, url string) string {
	t.Helper()
	rest := url[strings.Index(url, "://")+3:]
	hp := rest[:strings.Index(rest, "/")]
	if _, _, err := net.SplitHostPort(hp); err != nil {
		t.Fatal(err)
	}
	return hp
}

// crashMidRun kills rcv with SIGKILL while sim still posts to it, as a crash
// would, and starts a receiver at its address with start.
func crashMidRun(t *testing.T, rcv *receiverProc, sim *simProc, start func(address string) *receiverProc) *receiverProc {
	t.Helper()
	rcv.kill()
	select {
	case <-sim.done:
		t.Fatal("braze-sim had finished before the crash: the crash was not mid-run")
	default:
	}
	return start(hostPort(t, rcv.URL))
}

// simProc is a braze-sim process posting events to a receiver.
type simProc struct {
	*process
	outcomes string
}

// startSim runs braze-sim against url with the events (one JSON per line)
// and extra flags.
func startSim(t *testing.T, url, token string, events [][]byte, flags ...string) *simProc {
	t.Helper()
	dir := t.TempDir()
	in, outcomes := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "outcomes.jsonl")
	if err := os.WriteFile(in, append(bytes.Join(events, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-url", url, "-in", in, "-outcomes", outcomes}, flags...)
	return &simProc{process: startProcess(t, bin("braze-sim"), []string{"BRAZE_BEARER_TOKEN=" + token}, args...), outcomes: outcomes}
}

// wait waits for braze-sim to end and returns its report and each event's
// outcome.
func (s *simProc) wait(t *testing.T) (brazesim.Report, []brazesim.Outcome) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("braze-sim did not finish:\n%s", tail(s.out.String(), 4000))
	}
	out := s.out.String()
	var report brazesim.Report
	// The report is the JSON object braze-sim prints last.
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out, "\n{")+1:]), &report); err != nil {
		t.Fatalf("braze-sim (%v) printed no report: %v\n%s", s.cmd.ProcessState, err, tail(out, 4000))
	}
	var outcomes []brazesim.Outcome
	forEachLine(t, s.outcomes, func(line []byte) {
		var o brazesim.Outcome
		if err := json.Unmarshal(line, &o); err != nil {
			t.Fatal(err)
		}
		outcomes = append(outcomes, o)
	})
	return report, outcomes
}

// deadLetters reads the dead-letter file: event id -> reasons, one per line.
func deadLetters(t *testing.T, path string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return out
	}
	forEachLine(t, path, func(line []byte) {
		var dl struct {
			Reason string          `json:"reason"`
			Event  json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(line, &dl); err != nil {
			t.Fatalf("dead-letter line: %v: %s", err, line)
		}
		var ev struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(dl.Event, &ev) // an event that is not an object has no id
		out[ev.ID] = append(out[ev.ID], dl.Reason)
	})
	return out
}

func forEachLine(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			fn(sc.Bytes())
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		t.Fatal(err)
	}
}
