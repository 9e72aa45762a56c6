package sharedsecret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
	"github.com/connect-amplitude/connect-amplitude/internal/secretfile/secretfiletest"
)

func TestSecretsAcceptOnlyWhatIsConfigured(t *testing.T) {
	s, err := New("  the-secret \n", "", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for presented, want := range map[string]bool{"the-secret": true, "the-secreT": false, "": false, "the-secret ": false} {
		if ok, err := s.Accepts(presented); ok != want || err != nil {
			t.Errorf("Accepts(%q) = %v, %v; want %v", presented, ok, err, want)
		}
	}
	if _, err := New("", "", time.Now); !errors.Is(err, ErrNone) {
		t.Errorf("no secret: %v", err)
	}
	if _, err := New("a", "/some/file", time.Now); !errors.Is(err, ErrBoth) {
		t.Errorf("both: %v", err)
	}
	if _, err := New("", "/nonexistent/secrets", time.Now); err == nil || !strings.Contains(err.Error(), "/nonexistent/secrets") {
		t.Errorf("a missing file: %v", err)
	}
}

// A file lists several secrets; one that cannot be read again keeps those
// read before, and says why without a secret.
func TestASecretFileRotatesAndSurvivesBreakage(t *testing.T) {
	for _, b := range secretfiletest.Breakages {
		t.Run(b.Name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			path := filepath.Join(t.TempDir(), "secrets")
			if err := os.WriteFile(path, []byte("secret-old-7\nsecret-new-7\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := New("", path, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"secret-old-7", "secret-new-7"} {
				if ok, _ := s.Accepts(p); !ok {
					t.Fatalf("%q refused", p)
				}
			}
			if err := b.Apply(path); err != nil {
				t.Fatal(err)
			}
			now = now.Add(2 * time.Second)
			ok, reloadErr := s.Accepts("secret-new-7")
			if !ok || reloadErr == nil || !strings.Contains(reloadErr.Error(), b.Cause) || strings.Contains(reloadErr.Error(), "secret-") {
				t.Fatalf("after %s: %v, %v", b.Name, ok, reloadErr)
			}
			if err := secretfiletest.Replace(path, "secret-newest-7\n"); err != nil {
				t.Fatal(err)
			}
			now = now.Add(2 * time.Second)
			if ok, _ := s.Accepts("secret-old-7"); ok {
				t.Error("a secret taken out of the file is still accepted")
			}
			if ok, _ := s.Accepts("secret-newest-7"); !ok {
				t.Error("the new secret is refused")
			}
		})
	}
}

func TestFromHeaderTakesTheBearerTokenOrTheValue(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"Authorization", "Bearer abc", "abc"},
		{"authorization", "bearer  abc ", "abc"},
		{"Authorization", "abc", ""},
		{"Authorization", "Basic abc", ""},
		{"X-Webhook-Secret", " abc ", "abc"},
		{"X-Webhook-Secret", "Bearer abc", "Bearer abc"},
	} {
		if got := FromHeader(c.name, c.value); got != c.want {
			t.Errorf("FromHeader(%q, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
}

func TestNamedErrorsNameTheFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ literal, path, want string }{
		{"", "", "one of token and token_file must be set: the sender's requests must be authenticated"},
		{"s3cret", path, "token and token_file are exclusive"},
		{"", filepath.Join(dir, "missing"), "token_file: stat " + filepath.Join(dir, "missing")},
	} {
		if _, err := Named("token", "token_file", "the sender's requests", tt.literal, tt.path, time.Now); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q, %q: %v, want %q", tt.literal, tt.path, err, tt.want)
		}
	}
	now := time.Unix(1_700_000_000, 0)
	s, err := Named("token", "token_file", "the sender's requests", "", path, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(secretfile.Recheck)
	if ok, err := s.Accepts("s3cret"); !ok || err == nil || !strings.HasPrefix(err.Error(), "token_file: ") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a file gone: %v, %v; want the secret still accepted and an error naming token_file", ok, err)
	}
}
