package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/internal/brazesim"
	"github.com/connect-amplitude/connect-amplitude/internal/cmdutil"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"-in", "x"}, "-url is required"},
		{"a negative count", []string{"-url", "http://127.0.0.1:1", "-n", "-1"}, "-n must not be negative"},
		{"no users", []string{"-url", "http://127.0.0.1:1", "-users", "0"}, "-users must be at least 1"},
		{"a share over 1", []string{"-url", "http://127.0.0.1:1", "-anonymous", "2"}, "-anonymous must be between 0 and 1"},
		{"an unknown flag", []string{"-url", "http://127.0.0.1:1", "-samples", "dir"}, "flag provided but not defined: -samples"},
		{"a bad format", []string{"-url", "http://127.0.0.1:1", "-in", "x", "-format", "xml"}, "-format must be json or table"},
		{"a stray argument", []string{"-url", "http://127.0.0.1:1", "-in", "x", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, nil, io.Discard, &stderr)
			if !errors.Is(err, cmdutil.ErrUsage) || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("error %v, stderr %q; want usage with %q", err, stderr.String(), tt.want)
			}
		})
	}
}

// received is what a receiver got.
type received struct {
	mu     sync.Mutex
	events []gjson.Result
}

// A receiver that acknowledges everything and keeps the events it got.
func acceptAll(t *testing.T, token string) (string, *received) {
	t.Helper()
	got := &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		got.mu.Lock()
		got.events = append(got.events, gjson.GetBytes(body, "events").Array()...)
		got.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

// Without -in, braze-sim generates events from the samples compiled in.
func TestRunGeneratesEvents(t *testing.T) {
	url, got := acceptAll(t, "from-file")
	dir := t.TempDir()
	tokenFile, outcomes := filepath.Join(dir, "token"), filepath.Join(dir, "outcomes.jsonl")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-url", url, "-token-file", tokenFile, "-n", "250", "-users", "20",
		"-start", "1800000000", "-outcomes", outcomes}, nil, &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var report brazesim.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	if report.Events != 250 || report.Acked != 250 || report.Requests != 3 || len(got.events) != 250 {
		t.Fatalf("report %+v, receiver got %d events", report, len(got.events))
	}
	users := map[string]bool{}
	for _, ev := range got.events {
		if u := ev.Get("user.external_user_id"); u.Exists() {
			users[u.String()] = true
		}
		if at := ev.Get("time").Int(); at < 1_800_000_000 || at > 1_800_000_001 {
			t.Fatalf("event time %d, want from -start on at 1000 a second", at)
		}
	}
	if len(users) < 10 || len(users) > 20 {
		t.Errorf("%d users, want up to the 20 of -users", len(users))
	}
	data, err := os.ReadFile(outcomes)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 250 || gjson.Get(lines[0], "status").String() != brazesim.Acked {
		t.Fatalf("%d outcome lines, first %q", len(lines), lines[0])
	}
}

func TestRunFromStdinAsTableWithUndeliveredEvents(t *testing.T) {
	url, _ := acceptAll(t, "right")
	t.Setenv(tokenEnv, "wrong")
	var stdout bytes.Buffer
	in := strings.NewReader(`{"id":"a"}` + "\n" + `{"id":"b"}` + "\n")
	err := run(context.Background(), []string{"-url", url, "-in", "-", "-format", "table"}, in, &stdout, io.Discard)
	if !errors.Is(err, errUndelivered) {
		t.Fatalf("error %v, want errUndelivered", err)
	}
	if !strings.Contains(stdout.String(), "0 acknowledged, 2 rejected") || strings.Contains(stdout.String(), "wrong") {
		t.Fatalf("table:\n%s", stdout.String())
	}
}
