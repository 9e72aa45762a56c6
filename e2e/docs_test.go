package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
)

// The marker that puts a guide's shell block under TestGuidesLocalCommandsRunAsWritten.
const runMarker = "<!-- run by e2e/docs_test.go -->"

// The guides' local commands run as a reader runs them: each shell block of
// docs/ marked with runMarker runs in bash from a directory laid out like the
// repository (bin/ holds TestMain's builds, config/ the shipped configs), on
// the ports the docs name, and its effect is checked. A `make build` line is
// what TestMain already did. Blocks that need Amplitude, Braze or a Kafka
// cluster are not marked: config/ and the other e2e tests run the same
// configs against the emulators and kfake.
func TestGuidesLocalCommandsRunAsWritten(t *testing.T) {
	cases := []struct {
		doc string
		// each: the lines are alternatives, run one at a time; a server
		// must come up and keep running until stopped.
		each bool
		// after runs once the block is done, while its background jobs
		// still run; the check reads stdout.
		after string
		check func(t *testing.T, dir, stdout string)
	}{
		{
			doc:   "docs/avro-backfill.md",
			after: "curl -s http://127.0.0.1:8765/stats",
			check: func(t *testing.T, dir, stdout string) {
				var stats emulator.Stats
				if err := json.Unmarshal([]byte(lastLine(stdout)), &stats); err != nil {
					t.Fatalf("the emulator's /stats after the backfill: %v\n%s", err, tail(stdout, 2000))
				}
				if stats.EventsIngested == 0 {
					t.Errorf("the backfill sent nothing: %+v", stats)
				}
				if dl, _ := os.ReadFile(filepath.Join(dir, "dead-letter", "avro-backfill.jsonl")); len(dl) != 0 {
					t.Errorf("dead-lettered:\n%s", tail(string(dl), 2000))
				}
			},
		},
		{
			doc: "docs/cohorts-to-braze.md",
			check: func(t *testing.T, _, stdout string) {
				// The block's last command prints, on a line of its own,
				// what its comment shows (the binary logs to stdout too).
				want := shownOutput(t, "docs/cohorts-to-braze.md")
				var w any
				if err := json.Unmarshal([]byte(want), &w); err != nil {
					t.Fatalf("the doc shows %q: %v", want, err)
				}
				for _, line := range strings.Split(stdout, "\n") {
					var g any
					if json.Unmarshal([]byte(line), &g) == nil && reflect.DeepEqual(g, w) {
						return
					}
				}
				t.Errorf("no line of stdout is what the doc shows, %s:\n%s", want, tail(stdout, 2000))
			},
		},
		{doc: "docs/emulator.md", each: true},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.doc] = true
		t.Run(c.doc, func(t *testing.T) {
			block := markedBlock(t, c.doc)
			dir := repoLikeDir(t)
			if !c.each {
				stdout := runScript(t, dir, block+"\n"+c.after)
				if c.check != nil {
					c.check(t, dir, stdout)
				}
				return
			}
			for _, line := range commandLines(block) {
				runAlternative(t, dir, line)
			}
		})
	}
	docs, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	for _, d := range docs {
		rel, _ := filepath.Rel(repoRoot, d)
		if b, _ := os.ReadFile(d); bytes.Contains(b, []byte(runMarker)) && !covered[rel] {
			t.Errorf("%s has a block marked to run, and no case here", rel)
		}
	}
}

// markedBlock is the shell block that follows runMarker in doc (one per doc).
func markedBlock(t *testing.T, doc string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, doc))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), runMarker+"\n```sh\n")
	if !ok {
		t.Fatalf("%s: no ```sh block after %s", doc, runMarker)
	}
	block, _, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatalf("%s: the marked block does not end", doc)
	}
	return block
}

// shownOutput is the comment on the last line of doc's marked block: the
// output the doc shows for that command.
func shownOutput(t *testing.T, doc string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(markedBlock(t, doc)), "\n")
	_, shown, ok := strings.Cut(lines[len(lines)-1], "# ")
	if !ok {
		t.Fatalf("%s: the block's last line shows no output", doc)
	}
	return strings.TrimSpace(shown)
}

// commandLines are the block's lines without comments and `make build`.
func commandLines(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" && l != "make build" {
			out = append(out, l)
		}
	}
	return out
}

// repoLikeDir is a fresh working directory with bin/ and config/ as the docs
// expect them after `make build`.
func repoLikeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, target := range map[string]string{"bin": binDir, "config": filepath.Join(repoRoot, "config")} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runScript runs the block in bash, stops its background jobs at the end,
// and returns its stdout; it fails the test on a non-zero exit.
func runScript(t *testing.T, dir, block string) string {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n")
	for _, l := range strings.Split(block, "\n") {
		if strings.TrimSpace(l) == "make build" {
			continue // TestMain built the commands
		}
		script.WriteString(l + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	// The configs' /metrics server leaves its fixed port to the other
	// tests that run at the same time; the docs do not set it.
	cmd.Env = append(os.Environ(), "HTTP_ADDRESS=127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", err, script.String(), tail(stdout.String(), 2000), tail(stderr.String(), 4000))
	}
	return stdout.String()
}

// runAlternative runs one command of an each-line block: one that exits
// must succeed; one that serves must answer on the emulator's address and
// keep running until stopped.
func runAlternative(t *testing.T, dir, line string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s: %v\n%s", line, err, tail(out.String(), 2000))
			} else if out.Len() == 0 {
				t.Errorf("%s: printed nothing", line)
			}
			return
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s: neither exited nor served within 20s\n%s", line, tail(out.String(), 2000))
			return
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://127.0.0.1:8765/stats")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: /stats answered %s", line, resp.Status)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return
	}
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

// The README's first command, `make demo` (scripts/demo.sh once `make build`
// is done): the sample events it generates reach the emulator, each event
// the mapping keeps once, and its summary counts what happened.
func TestTheDemoSendsTheSampleEventsIntoTheEmulator(t *testing.T) {
	dir := repoLikeDir(t)
	if err := os.Symlink(filepath.Join(repoRoot, "scripts"), filepath.Join(dir, "scripts")); err != nil {
		t.Fatal(err)
	}
	stdout := runScript(t, dir, "bash scripts/demo.sh")
	shown := func(label string) int {
		m := regexp.MustCompile(regexp.QuoteMeta(label) + `\s+(\d+)`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("the demo's summary has no %q:\n%s", label, stdout)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}

	mapper, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var sent, kept, refused int
	keptIDs := map[string]bool{}
	forEachLine(t, filepath.Join(dir, "out", "demo", "braze-bodies.jsonl"), func(line []byte) {
		var body struct{ Events []json.RawMessage }
		if err := json.Unmarshal(line, &body); err != nil {
			t.Fatalf("a generated body: %v", err)
		}
		for _, ev := range body.Events {
			sent++
			out, err := mapper.MapRaw(nil, ev)
			switch {
			case err == nil:
				kept++
				var mapped struct {
					InsertID string `json:"insert_id"`
				}
				_ = json.Unmarshal(out, &mapped)
				keptIDs[mapped.InsertID] = true
			case !errors.Is(err, currentsmap.ErrExcluded):
				refused++
			}
		}
	})
	if sent != 1000 || kept == 0 {
		t.Fatalf("the demo generated %d events, %d of them mapped; want 1,000, some mapped", sent, kept)
	}

	arrived := insertIDsIn(t, filepath.Join(dir, "out", "demo", "amplitude-received.jsonl"))
	for id := range arrived {
		if !keptIDs[id] {
			t.Errorf("an event the mapping did not keep arrived: insert_id %q", id)
		}
	}
	for id := range keptIDs {
		if arrived[id] != 1 {
			t.Errorf("%s arrived %d times, want once", id, arrived[id])
		}
	}
	for label, want := range map[string]int{
		"Currents events sent by Braze:":    sent,
		"Amplitude events in the emulator:": kept,
		"Events in the dead letter:":        refused,
	} {
		if got := shown(label); got != want {
			t.Errorf("the demo shows %q %d, want %d", label, got, want)
		}
	}
}
