package secretfile

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile/secretfiletest"
)

// fixture is a secret file, a clock the test moves and a File reading it
// with a parse function that counts its calls.
type fixture struct {
	path   string
	clock  atomic.Int64 // UNIX nanoseconds
	parsed atomic.Int64
	file   *File[string]
}

var t0 = time.Unix(1_700_000_000, 0)

func newFixture(t *testing.T, content string) *fixture {
	t.Helper()
	fx := &fixture{path: filepath.Join(t.TempDir(), "secret")}
	fx.clock.Store(t0.UnixNano())
	fx.write(t, content, t0)
	f, err := Open(fx.path, fx.now, func(s string) string {
		fx.parsed.Add(1)
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.file = f
	return fx
}

func (fx *fixture) now() time.Time { return time.Unix(0, fx.clock.Load()) }

func (fx *fixture) advance(d time.Duration) { fx.clock.Add(int64(d)) }

// write replaces the file's content and sets its modification time.
func (fx *fixture) write(t *testing.T, content string, mod time.Time) {
	t.Helper()
	if err := secretfiletest.Replace(fx.path, content); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(fx.path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) get(t *testing.T, want, wantErr string) {
	t.Helper()
	got, err := fx.file.Get()
	if got != want {
		t.Errorf("secret %q, want %q", got, want)
	}
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("error %v, want none", err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("error %v, want one containing %q", err, wantErr)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the secret: %v", err)
	}
}

func TestGetFollowsTheFile(t *testing.T) {
	type test struct {
		name    string
		change  func(t *testing.T, fx *fixture)
		advance time.Duration
		want    string
		wantErr string
		parses  int64 // parse calls after Open's
	}
	tests := []test{
		{
			name:    "a rotated secret is read after Recheck",
			change:  func(t *testing.T, fx *fixture) { fx.write(t, "s3cret-new\n", t0.Add(time.Minute)) },
			advance: Recheck, want: "s3cret-new", parses: 1,
		},
		{
			name:    "the file is not looked at again within Recheck",
			change:  func(t *testing.T, fx *fixture) { fx.write(t, "s3cret-new\n", t0.Add(time.Minute)) },
			advance: Recheck - time.Millisecond, want: "s3cret-old",
		},
		{
			name:    "a file of the same time and size is not read again",
			change:  func(t *testing.T, fx *fixture) { fx.write(t, " s3cret-odd\n", t0) },
			advance: Recheck, want: "s3cret-old",
		},
		{
			name:    "a file of another size is read again though its time is the same",
			change:  func(t *testing.T, fx *fixture) { fx.write(t, "s3cret-longer\n", t0) },
			advance: Recheck, want: "s3cret-longer", parses: 1,
		},
	}
	for _, b := range secretfiletest.Breakages {
		tests = append(tests, test{
			name: "a file " + b.Name + " keeps the last secret",
			change: func(t *testing.T, fx *fixture) {
				if err := b.Apply(fx.path); err != nil {
					t.Fatal(err)
				}
			},
			advance: Recheck, want: "s3cret-old", wantErr: b.Cause,
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, " s3cret-old\n")
			fx.get(t, "s3cret-old", "")
			tt.change(t, fx)
			fx.advance(tt.advance)
			fx.get(t, tt.want, tt.wantErr)
			if got := fx.parsed.Load() - 1; got != tt.parses {
				t.Errorf("parsed %d times after Open, want %d", got, tt.parses)
			}
			if tt.wantErr != "" {
				// Reported by the call that looked, not by every call.
				fx.get(t, tt.want, "")
				fx.advance(Recheck)
				fx.get(t, tt.want, tt.wantErr)
			}
			// Whatever happened, a good file is taken up again.
			fx.write(t, "s3cret-recovered", t0.Add(time.Hour))
			fx.advance(Recheck)
			fx.get(t, "s3cret-recovered", "")
		})
	}
}

func TestOpenNeedsAGoodFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{"a missing file", filepath.Join(dir, "missing"), "no such file"},
		{"an empty file", write("empty", ""), "is empty"},
		{"a file of white space", write("blank", "\n \n"), "is empty"},
		{"a directory", dir, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path, time.Now, func(s string) string { return s })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, tt.path, tt.wantErr)
			}
		})
	}
}

func TestOpenGivesParseTheTrimmedContent(t *testing.T) {
	fx := newFixture(t, "\n  s3cret-a\ns3cret-b  \n\n")
	fx.get(t, "s3cret-a\ns3cret-b", "")
}

// Get is called by concurrent requests while the file rotates.
func TestGetIsSafeForConcurrentUse(t *testing.T) {
	fx := newFixture(t, "s3cret-0")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if got, err := fx.file.Get(); err != nil || !strings.HasPrefix(got, "s3cret-") {
					t.Errorf("Get = %q, %v", got, err)
					return
				}
			}
		})
	}
	for i := range 20 {
		// Replaced atomically: this test is about the readers, not torn files.
		next := fx.path + ".next"
		if err := os.WriteFile(next, []byte("s3cret-"+strings.Repeat("x", i+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(next, fx.path); err != nil {
			t.Fatal(err)
		}
		fx.advance(Recheck)
	}
	wg.Wait()
}

func TestANamedFilesErrorsStartWithItsField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	f, err := Open(path, func() time.Time { return now }, strings.Clone)
	if err != nil {
		t.Fatal(err)
	}
	f.Named("key_file")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(Recheck)
	if secret, err := f.Get(); secret != "s3cret" || err == nil || !strings.HasPrefix(err.Error(), "key_file: stat "+path) {
		t.Fatalf("%q, %v; want the secret kept and an error naming key_file", secret, err)
	}
}
