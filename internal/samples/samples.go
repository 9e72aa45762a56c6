// Package samples locates Braze's public Currents sample data for tests.
//
// The data lives beside the checkout, in ../shared/braze-currents-examples
// (set CURRENTS_EXAMPLES to use another copy). Tests that need it fail,
// rather than skip, when it is missing.
package samples

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Dir returns the braze-currents-examples directory.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CURRENTS_EXAMPLES"); d != "" {
		return d
	}
	d := filepath.Join(RepoRoot(t), "..", "shared", "braze-currents-examples")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("Braze sample data not found at %s (set CURRENTS_EXAMPLES): %v", d, err)
	}
	return d
}

// SpecDir returns the directory of SPEC.md and the spec's event table.
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

// Sample is one example file.
type Sample struct {
	Name string // file name without extension, e.g. users.messages.email.Open
	Path string
	Data []byte
}

// CustomHTTP returns every Custom HTTP example event, sorted by name.
func CustomHTTP(t testing.TB) []Sample {
	return read(t, "custom-http", ".json")
}

func read(t testing.TB, sub, ext string) []Sample {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(t), sub, "*"+ext))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s files in %s: %v", ext, sub, err)
	}
	sort.Strings(paths)
	out := make([]Sample, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Sample{Name: strings.TrimSuffix(filepath.Base(p), ext), Path: p, Data: data})
	}
	return out
}
