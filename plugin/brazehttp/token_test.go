package brazehttp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenSourceConfig(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, literal, path, err string
	}{
		{name: "neither is an error: Braze must authenticate", err: "one of bearer_token and bearer_token_file must be set"},
		{name: "a blank literal counts as none", literal: "  ", err: "one of bearer_token and bearer_token_file must be set"},
		{name: "both are an error", literal: "a", path: empty, err: "exclusive"},
		{name: "a missing file is an error", path: filepath.Join(dir, "nope"), err: "no such file"},
		{name: "a file without a token is an error", path: empty, err: "holds no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTokenSource(tt.literal, tt.path, time.Now)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestTokenSourceAccepts(t *testing.T) {
	src, err := newTokenSource(" s3cret-token\n", "", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header string
		want   bool
	}{
		{"Bearer s3cret-token", true},
		{"bearer s3cret-token", true},
		{"BEARER  s3cret-token ", true},
		{"", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"s3cret-token", false},
		{"Basic s3cret-token", false},
		{"Bearer s3cret-toke", false},
		{"Bearer s3cret-token2", false},
		{"Bearer S3CRET-TOKEN", false},
	}
	for _, tt := range tests {
		got, err := src.accepts(tt.header)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("accepts(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestTokenFileIsReadAgainWhenItChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(content string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { return clock }
	write("old\n", clock)
	src, err := newTokenSource("", path, now)
	if err != nil {
		t.Fatal(err)
	}
	check := func(token string, want bool, wantErr string) {
		t.Helper()
		got, err := src.accepts("Bearer " + token)
		if got != want {
			t.Errorf("token %q accepted = %v, want %v", token, got, want)
		}
		if (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("token %q: error %v, want %q", token, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	check("old", true, "")
	check("new", false, "")

	// A rotation: both tokens for a while, one per line.
	write("old\nnew\n", clock.Add(time.Minute))
	check("new", false, "") // not looked at again within tokenRecheck
	clock = clock.Add(tokenRecheck)
	check("new", true, "")
	check("old", true, "")

	write("new\n", clock.Add(2*time.Minute))
	clock = clock.Add(tokenRecheck)
	check("old", false, "")
	check("new", true, "")

	// A broken file keeps the tokens read before, and says why.
	write("\n", clock.Add(3*time.Minute))
	clock = clock.Add(tokenRecheck)
	check("new", true, "holds no token")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(tokenRecheck)
	check("new", true, "no such file")
}
