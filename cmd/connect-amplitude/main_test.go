package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
	"github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)

// binary is the connect-amplitude command, built once for all the tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "connect-amplitude-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "connect-amplitude")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.9.9-test", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building connect-amplitude:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the binary to its end and returns its stdout; it fails the test
// on a non-zero exit, showing stderr.
func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("connect-amplitude %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestVersionNamesTheProduct(t *testing.T) {
	out := run(t, nil, "--version")
	if !strings.Contains(out, "v9.9.9-test") {
		t.Errorf("--version printed %q, want the version set at build time", out)
	}
}

func TestListShowsThisProjectsComponents(t *testing.T) {
	cases := []struct{ kind, name string }{
		{"outputs", "amplitude"},
		{"bloblang-methods", "currents_to_amplitude"},
		{"scanners", "currents_avro"},
		{"metrics", "prometheus"},
		{"inputs", "kafka_franz"},
		{"outputs", "kafka_franz"},
		{"inputs", "file"}, // the host's io bundle
		{"processors", "mapping"},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			if out := run(t, nil, "list", c.kind); !strings.Contains(out, c.name) {
				t.Errorf("list %s does not show %s:\n%s", c.kind, c.name, out)
			}
		})
	}
}

func TestEchoScrubsTheAPIKey(t *testing.T) {
	const key = "key-that-must-not-leak-42"
	out := run(t, []string{"AMPLITUDE_API_KEY=" + key}, "echo", configPath(t))
	if strings.Contains(out, key) {
		t.Fatalf("echo printed the API key:\n%s", out)
	}
	if !strings.Contains(out, "api_key: '!!!SECRET_SCRUBBED!!!'") {
		t.Errorf("echo does not show the API key as scrubbed:\n%s", out)
	}
}

func TestLintAndTestAcceptTheMainConfig(t *testing.T) {
	run(t, nil, "lint", "--deprecated", configPath(t))
	if out := run(t, nil, "test", configPath(t)); !strings.Contains(out, "succeeded") {
		t.Errorf("test printed %q", out)
	}
}

func TestLintNamesAnUnknownAmplitudeField(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bad.yaml")
	err := os.WriteFile(conf, []byte("output:\n  amplitude:\n    api_key: x\n    gzipped: true\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "lint", conf).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "gzipped") {
		t.Errorf("lint of an unknown field: err %v, output %q; want a failure naming the field", err, out)
	}
}

// blobl reads one event per line while stdin stays open, as at a terminal.
// (Benthos's blobl can drop the last answer when stdin closes at once, so the
// test waits for the answer before closing it.)
func TestBloblMapsAnEventInteractively(t *testing.T) {
	cmd := exec.Command(binary, "blobl", "root = content().currents_to_amplitude()")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	defer stdin.Close()
	ev := `{"event_type":"users.messages.email.Open","id":"e1a2b3c4","time":1700000000,"user":{"external_user_id":"user-42"},"properties":{}}`
	if _, err := fmt.Fprintln(stdin, ev); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Scan()
		line <- s.Text()
	}()
	select {
	case got := <-line:
		if gjson.Get(got, "event_type").String() != "[Appboy] Email Open" || gjson.Get(got, "insert_id").String() != "e1a2b3c4" {
			t.Errorf("blobl printed %s", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blobl printed nothing")
	}
}

// The main job as a user runs it: Braze bodies from a file, through the
// binary, into the emulator; every mapped event arrives once.
func TestRunSendsEveryMappedEventToAmplitude(t *testing.T) {
	gen, err := currentsgen.New(currentsgen.Config{Seed: 7, Users: 50, PerSecond: 10, StartTime: 1_700_000_000})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mapper, err := mapping.New(mapping.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var bodies bytes.Buffer
	expected := map[string]bool{} // the events the mapping keeps (not device-only users)
	for range 5 {
		bodies.WriteString(`{"events":[`)
		for i := range 100 {
			if i > 0 {
				bodies.WriteByte(',')
			}
			ev := gen.Next(nil)
			if _, err := mapper.MapRaw(nil, ev); err == nil {
				expected[gjson.GetBytes(ev, "id").String()] = true
			}
			bodies.Write(ev)
		}
		bodies.WriteString("]}\n")
	}
	input := filepath.Join(dir, "bodies.jsonl")
	if err := os.WriteFile(input, bodies.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.Start(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	deadLetter := filepath.Join(dir, "dead-letter.jsonl")
	run(t, []string{
		"CURRENTS_FILE=" + input, "DEAD_LETTER_FILE=" + deadLetter,
		"AMPLITUDE_ENDPOINT=" + emu.URL + "/2/httpapi", "AMPLITUDE_API_KEY=test-key",
	}, "run", "--log.level", "warn", configPath(t))

	arrived := map[string]int{}
	for _, ev := range emu.Events() {
		if !expected[ev.InsertID] {
			t.Errorf("unexpected event arrived: %s", ev.Raw)
		}
		arrived[ev.InsertID]++
	}
	for id := range expected {
		if arrived[id] != 1 {
			t.Errorf("%s arrived %d times, want once", id, arrived[id])
		}
	}
	if _, err := os.Stat(deadLetter); err == nil {
		dead, _ := os.ReadFile(deadLetter)
		t.Errorf("events were dead-lettered:\n%s", dead)
	}
}

func configPath(t *testing.T) string {
	return filepath.Join(samples.RepoRoot(t), "config", "currents-to-amplitude.yaml")
}
