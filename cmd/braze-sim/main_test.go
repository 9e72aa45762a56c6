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
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/internal/brazesim"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"-in", "x"}, "-url is required"},
		{"no events", []string{"-url", "http://127.0.0.1:1"}, "give one of -samples and -in"},
		{"both sources", []string{"-url", "http://127.0.0.1:1", "-in", "x", "-samples", "y"}, "give one of -samples and -in"},
		{"a bad format", []string{"-url", "http://127.0.0.1:1", "-in", "x", "-format", "xml"}, "-format must be json or table"},
		{"a stray argument", []string{"-url", "http://127.0.0.1:1", "-in", "x", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, nil, io.Discard, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("error %v, stderr %q; want usage with %q", err, stderr.String(), tt.want)
			}
		})
	}
}

// A receiver that acknowledges everything and counts the events it got.
func acceptAll(t *testing.T, token string) (string, *atomic.Int64) {
	t.Helper()
	var events atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		events.Add(int64(len(gjson.GetBytes(body, "events").Array())))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &events
}

func TestRunFromSamples(t *testing.T) {
	url, received := acceptAll(t, "from-file")
	dir := t.TempDir()
	tokenFile, outcomes := filepath.Join(dir, "token"), filepath.Join(dir, "outcomes.jsonl")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-url", url, "-token-file", tokenFile, "-n", "250", "-users", "20",
		"-samples", filepath.Join(samples.Dir(t), "custom-http"), "-outcomes", outcomes}, nil, &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var report brazesim.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	if report.Events != 250 || report.Acked != 250 || report.Requests != 3 || received.Load() != 250 {
		t.Fatalf("report %+v, receiver got %d events", report, received.Load())
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
