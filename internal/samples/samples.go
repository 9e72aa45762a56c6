// Package samples gives tests Currents sample events.
//
// The Custom HTTP sample events, one per event type, live in this repository
// (resources/currents-samples.jsonl: written by this project, with the fields
// Braze documents for each event type; the values are made up), so tests that
// need them always run. Braze's full sample set (Avro files, schemas, decoded
// views) is not in the repository: tests that compare against it look for it
// beside the checkout, in ../shared/braze-currents-examples, or where
// CURRENTS_EXAMPLES points, and are skipped with a message naming the place
// when it is absent (`make test` prints one line saying so).
package samples

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/resources"
)

// Dir returns the braze-currents-examples directory, or skips the test when
// it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("CURRENTS_EXAMPLES")
	if d == "" {
		d = filepath.Join(RepoRoot(t), "..", "shared", "braze-currents-examples")
	}
	if _, err := os.Stat(d); err != nil {
		t.Skipf("did not run: Braze's sample data is not at %s (set CURRENTS_EXAMPLES; see README.md, Sample data)", d)
	}
	return d
}

// SpecDir returns the directory of the product spec and its event table,
// beside the sample data, or skips the test when it is absent.
func SpecDir(t testing.TB) string {
	return filepath.Join(filepath.Dir(Dir(t)), "spec")
}

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Sample is one example event.
type Sample struct {
	Name string // its event type, e.g. users.messages.email.Open
	Data []byte // the event as compact JSON
}

// CustomHTTP returns every Custom HTTP sample event kept in this
// repository, sorted by event type.
func CustomHTTP(t testing.TB) []Sample {
	t.Helper()
	var out []Sample
	lines := bufio.NewScanner(bytes.NewReader(resources.CurrentsSamples))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var ev struct {
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil || ev.EventType == "" {
			t.Fatalf("resources/currents-samples.jsonl: a line without an event_type: %v", err)
		}
		out = append(out, Sample{Name: ev.EventType, Data: bytes.Clone(lines.Bytes())})
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
