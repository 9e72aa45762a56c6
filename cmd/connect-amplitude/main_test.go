package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
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
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.9.9-test -X main.dateBuilt=2026-01-02T03:04:05Z", "-o", binary, ".")
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
// on a non-zero exit, or when the binary has not ended within two minutes,
// showing stderr.
func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("still running after 2m, killed: %w", err)
		}
		t.Fatalf("connect-amplitude %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestVersionShowsTheVersionAndTheBuildDate(t *testing.T) {
	out := run(t, nil, "--version")
	if !strings.Contains(out, "v9.9.9-test") || !strings.Contains(out, "2026-01-02T03:04:05Z") {
		t.Errorf("--version printed %q, want the version and the date set at build time", out)
	}
}

func TestHelpDescribesThisProduct(t *testing.T) {
	out := run(t, nil, "--help")
	for _, want := range []string{"Braze Currents to Amplitude", "currents_to_amplitude", "docs"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mundane") {
		t.Errorf("--help shows the host's generic text:\n%s", out)
	}
}

func TestDocsPrintsAComponentsReferenceWithItsFields(t *testing.T) {
	out := run(t, nil, "docs", "amplitude")
	for _, want := range []string{"# `amplitude` output", "### `limits.max_hold`", "Default: `\"10s\"`"} {
		if !strings.Contains(out, want) {
			t.Errorf("docs amplitude lacks %q", want)
		}
	}
	cmd := exec.Command(binary, "docs", "no_such_component")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no_such_component") {
		t.Errorf("docs of an unknown name: err %v, output %q; want a failure naming it", err, out)
	}
}

// A finite job over a file that does not exist stops at once with an error
// naming the field, instead of retrying the file forever.
func TestAMissingInputFileEndsTheJobWithAnErrorNamingTheField(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-bodies.jsonl")
	cmd := exec.Command(binary, "run", configPath(t))
	cmd.Env = append(os.Environ(), "CURRENTS_FILE="+missing, "HTTP_ADDRESS=127.0.0.1:0")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the job did not end")
	}
	if err == nil || !strings.Contains(string(out), "input.file.paths[0]") || !strings.Contains(string(out), missing) {
		t.Errorf("err %v, output:\n%s\nwant a failure naming input.file.paths[0] and the file", err, out)
	}
}

// With the endpoint pointing where nothing listens, the binary says so
// within seconds while it goes on retrying.
func TestAnUnreachableEndpointIsReportedWithinSeconds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	input := filepath.Join(t.TempDir(), "bodies.jsonl")
	ev := `{"event_type":"users.messages.email.Open","id":"e1a2b3c4","time":1700000000,"user":{"external_user_id":"user-42"},"properties":{}}`
	if err := os.WriteFile(input, []byte(ev+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", configPath(t))
	cmd.Env = append(os.Environ(), "CURRENTS_FILE="+input, "AMPLITUDE_ENDPOINT="+closed, "AMPLITUDE_API_KEY=secret-key-never-logged", "HTTP_ADDRESS=127.0.0.1:0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); pw.Close() }()
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(pr)
		for lines.Scan() {
			if l := lines.Text(); strings.Contains(l, "level=warning") && strings.Contains(l, closed) {
				found <- l
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case l := <-found:
		if strings.Contains(l, "secret-key-never-logged") {
			t.Errorf("the warning shows the API key: %s", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning naming the endpoint within 10 seconds")
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

// --set reaches the fields of every component of the binary, kafka_franz
// and prometheus included: benthos resolves its paths in the global
// environment.
func TestSetOverridesFieldsOfEveryComponent(t *testing.T) {
	kafkaSend := filepath.Join(filepath.Dir(configPath(t)), "kafka-send.yaml")
	for _, tt := range []struct{ set, want string }{
		{"input.kafka_franz.checkpoint_limit=4096", "checkpoint_limit: 4096"},
		{"metrics.prometheus.add_go_metrics=true", "add_go_metrics: true"},
		{"output.fallback.0.amplitude.min_id_length=3", "min_id_length: 3"},
	} {
		out := run(t, nil, "echo", "--set", tt.set, kafkaSend)
		if !strings.Contains(out, tt.want) {
			t.Errorf("--set %s: echo shows no %q:\n%s", tt.set, tt.want, out)
		}
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

// The main job as the README's "Run it for real" runs it (a region, the key
// in a file, a file of Braze bodies), with AMPLITUDE_ENDPOINT sending to the
// emulator in Amplitude's place: every mapped event arrives once, under the
// key read from the file.
func TestRunSendsEveryMappedEventToAmplitude(t *testing.T) {
	gen, err := currentsgen.New(currentsgen.Config{Seed: 7, Users: 50, PerSecond: 10, StartTime: 1_700_000_000})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mapper, err := currentsmap.New(currentsmap.DefaultOptions())
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
	keyFile := filepath.Join(dir, "amplitude-key")
	if err := os.WriteFile(keyFile, []byte("key-from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.Start(emulator.Config{APIKeys: []string{"key-from-the-file"}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	deadLetter := filepath.Join(dir, "dead-letter.jsonl")
	run(t, []string{
		"AMPLITUDE_REGION=us", "AMPLITUDE_API_KEY_FILE=" + keyFile, "CURRENTS_FILE=" + input,
		"AMPLITUDE_ENDPOINT=" + emu.URL + "/2/httpapi",
		"DEAD_LETTER_FILE=" + deadLetter, "HTTP_ADDRESS=127.0.0.1:0",
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

// The dry run's stdout is a stream of Amplitude events and nothing else:
// logs go to stderr, failures to the dead-letter file.
func TestTheDryRunWritesOnlyEventsToStdout(t *testing.T) {
	dir := t.TempDir()
	deadLetter := filepath.Join(dir, "failed.jsonl")
	cmd := exec.Command(binary, "run", filepath.Join(samples.RepoRoot(t), "config", "currents-to-jsonl.yaml"))
	cmd.Env = append(os.Environ(), "DEAD_LETTER_FILE="+deadLetter, "HTTP_ADDRESS=127.0.0.1:0", "LOG_LEVEL=DEBUG")
	cmd.Stdin = strings.NewReader(`{"events":[` +
		`{"event_type":"users.messages.email.Open","id":"ev-1","time":1700000000,"user":{"external_user_id":"user-42"},"properties":{}},` +
		`{"event_type":"users.messages.email.Open","id":"ev-2","time":1700000000,"user":{}}]}` + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 || gjson.Get(lines[0], "insert_id").String() != "ev-1" || gjson.Get(lines[0], "event_type").String() != "[Appboy] Email Open" {
		t.Errorf("stdout holds %d lines, want the one mapped event:\n%s", len(lines), stdout.String())
	}
	if !strings.Contains(stderr.String(), "level=") {
		t.Errorf("the log did not go to stderr:\n%s", stderr.String())
	}
	dead, err := os.ReadFile(deadLetter)
	if err != nil || gjson.GetBytes(dead, "event.id").String() != "ev-2" || !strings.Contains(gjson.GetBytes(dead, "reason").String(), "external_user_id") {
		t.Errorf("dead letter %s (%v), want ev-2 with its reason", dead, err)
	}
}
