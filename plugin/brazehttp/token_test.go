package brazehttp

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
	"github.com/connect-amplitude/connect-amplitude/internal/secretfile/secretfiletest"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
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
		{name: "a missing file is an error", path: filepath.Join(dir, "nope"), err: "bearer_token_file: stat "},
		{name: "a file without a token is an error", path: empty, err: "bearer_token_file: " + empty + " is empty"},
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
	check("new", false, "") // not looked at again within Recheck
	clock = clock.Add(secretfile.Recheck)
	check("new", true, "")
	check("old", true, "")

	write("new\n", clock.Add(2*time.Minute))
	clock = clock.Add(secretfile.Recheck)
	check("old", false, "")
	check("new", true, "")

	// A broken file keeps the tokens read before, and says why.
	write("\n", clock.Add(3*time.Minute))
	clock = clock.Add(secretfile.Recheck)
	check("new", true, "bearer_token_file: "+path+" is empty")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(secretfile.Recheck)
	check("new", true, "no such file")
}

// The input accepts every token of its file. A token file being rewritten,
// or a secret mount going away for a moment, must not lock Braze out: the
// input keeps accepting the tokens it read last, logs why without a token,
// and follows the file again once it is back.
func TestTheInputKeepsTheTokensReadBeforeWhileTheFileIsBroken(t *testing.T) {
	for _, b := range secretfiletest.Breakages {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(path, []byte("old-token\nspare-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			in := newTestInput(t, "address: 127.0.0.1:0\nbearer_token_file: "+path)
			logs := new(syncbuf.Buffer)
			in.log = service.NewLoggerFromSlog(slog.New(slog.NewTextHandler(logs, nil)))
			go func() {
				for {
					_, ack, err := in.ReadBatch(context.Background())
					if err != nil {
						return
					}
					_ = ack(context.Background(), nil)
				}
			}()
			expect := func(statuses map[string]int) {
				t.Helper()
				for token, want := range statuses {
					if got, _ := do(t, http.DefaultClient, http.MethodPost, in.url(), "Bearer "+token, strings.NewReader(twoEvents)); got != want {
						t.Errorf("token %s: status %d, want %d", token, got, want)
					}
				}
			}
			wait := func() { time.Sleep(secretfile.Recheck + 200*time.Millisecond) } // the file is looked at again

			expect(map[string]int{"old-token": 200, "spare-token": 200, "new-token": 401})
			if err := b.Apply(path); err != nil {
				t.Fatal(err)
			}
			wait()
			expect(map[string]int{"old-token": 200, "spare-token": 200, "new-token": 401})

			if err := secretfiletest.Replace(path, "new-token\n"); err != nil {
				t.Fatal(err)
			}
			wait()
			expect(map[string]int{"old-token": 401, "spare-token": 401, "new-token": 200})

			out := logs.String()
			if !strings.Contains(out, "bearer_token_file") || !strings.Contains(out, b.Cause) {
				t.Errorf("the logs do not say why the token file was not read (%q):\n%s", b.Cause, out)
			}
			for _, token := range []string{"old-token", "spare-token", "new-token"} {
				if strings.Contains(out, token) {
					t.Errorf("the logs show %s:\n%s", token, out)
				}
			}
		})
	}
}
