package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/cmdutil"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
)

// startRun runs the command with args until the test stops it; stop returns run's error.
func startRun(t *testing.T, args ...string) (url string, stdout, stderr *syncbuf.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), stdout, stderr, func(u string) { urls <- u })
	}()
	select {
	case url = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("run ended before listening: %v\n%s", err, stderr)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return url, stdout, stderr, stop
}

func postBody(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const (
	event1 = `{"event_type":"e","device_id":"device-1","insert_id":"a","time":1735786800000}`
	event2 = `{"event_type":"e","user_id":"user-2","time":1735786800000}`
)

func TestRecordsEventsAndPrintsFinalStats(t *testing.T) {
	record := filepath.Join(t.TempDir(), "events.jsonl")
	url, _, stderr, stop := startRun(t, "-record", record, "-api-keys", "secret-key")
	if !strings.Contains(stderr.String(), "listening on "+url) {
		t.Errorf("no listening address in %q", stderr)
	}
	body := `{"api_key":"secret-key","events":[` + event1 + `,` + event2 + `,` + event1 + `]}`
	if status, got := postBody(t, url+"/batch", body); status != 200 {
		t.Fatalf("status %d: %s", status, got)
	}
	if status, _ := postBody(t, url+"/2/httpapi", `{"api_key":"other-key","events":[`+event2+`]}`); status != 400 {
		t.Errorf("a key not in -api-keys: status %d, want 400", status)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if want := event1 + "\n" + event2 + "\n"; string(got) != want {
		t.Errorf("recorded\n%s\nwant\n%s", got, want)
	}
	out := stderr.String()
	i := strings.Index(out, "{")
	if i < 0 {
		t.Fatalf("no final stats in %q", out)
	}
	var stats emulator.Stats
	if err := json.Unmarshal([]byte(out[i:]), &stats); err != nil {
		t.Fatalf("final stats: %v\n%s", err, out)
	}
	if stats.EventsIngested != 2 || stats.EventsDeduplicated != 1 || stats.Requests[400] != 1 {
		t.Errorf("final stats %+v: want 2 ingested, 1 deduplicated, one 400", stats)
	}
	if strings.Contains(out, "secret-key") {
		t.Error("the API key appears in the command's output")
	}
}

func TestRecordToStdout(t *testing.T) {
	url, stdout, _, stop := startRun(t, "-record", "-")
	postBody(t, url+"/2/httpapi", `{"api_key":"k","events":[`+event1+`]}`)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != event1+"\n" {
		t.Errorf("stdout %q, want the event alone", got)
	}
}

func TestFlagsSetTheConfig(t *testing.T) {
	t.Setenv(apiKeysEnv, "env-key-1,env-key-2")
	tests := []struct {
		args  []string
		check func(c emulator.Config) bool
	}{
		{nil, func(c emulator.Config) bool {
			return c.HTTPV2EPS == 30 && c.BatchEPS == 1000 && c.DailyQuota == 500_000 &&
				strings.Join(c.APIKeys, "|") == "env-key-1|env-key-2" && c.Faults.RejectKeyFrom.IsZero()
		}},
		{[]string{"-api-keys", "flag-key"}, func(c emulator.Config) bool { return strings.Join(c.APIKeys, "|") == "flag-key" }},
		{[]string{"-httpv2-eps", "5", "-httpv2-window", "2s", "-batch-eps", "7", "-batch-window", "1m", "-daily-quota", "-1"},
			func(c emulator.Config) bool {
				return c.HTTPV2EPS == 5 && c.HTTPV2Window == 2*time.Second && c.BatchEPS == 7 &&
					c.BatchWindow == time.Minute && c.DailyQuota == -1
			}},
		{[]string{"-no-rate-limits", "-max-events", "10", "-max-httpv2-bytes", "100", "-max-batch-bytes", "200", "-dedup-window", "1h"},
			func(c emulator.Config) bool {
				return c.DisableRateLimits && c.MaxEventsPerRequest == 10 && c.MaxHTTPV2Bytes == 100 &&
					c.MaxBatchBytes == 200 && c.DedupWindow == time.Hour
			}},
		{[]string{"-seed", "3", "-error-rate", "0.5", "-error-codes", "503, 504", "-ingest-before-error",
			"-slow-rate", "0.1", "-slow-delay", "2s", "-reset-rate", "0.2", "-silence", "device-9, device-8"},
			func(c emulator.Config) bool {
				f := c.Faults
				return f.Seed == 3 && f.ErrorRate == 0.5 && fmt.Sprint(f.ErrorCodes) == "[503 504]" && f.IngestBeforeError &&
					f.SlowRate == 0.1 && f.SlowDelay == 2*time.Second && f.ResetRate == 0.2 &&
					strings.Join(f.SilencedDevices, "|") == "device-9|device-8"
			}},
		{[]string{"-reject-key-after", "1m", "-reject-key-for", "1h"}, func(c emulator.Config) bool {
			return c.Faults.RejectKeyUntil.Sub(c.Faults.RejectKeyFrom) == time.Hour && time.Until(c.Faults.RejectKeyFrom) > 0
		}},
	}
	for _, tt := range tests {
		opts, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		if !tt.check(opts.cfg) {
			t.Errorf("%q: config %+v", tt.args, opts.cfg)
		}
	}
}

func TestRejectKeyForStartsAtOnce(t *testing.T) {
	url, _, _, _ := startRun(t, "-reject-key-for", "1h")
	status, got := postBody(t, url+"/2/httpapi", `{"api_key":"some-key","events":[`+event1+`]}`)
	if want := `{"code":400,"error":"Invalid API key: some-key"}`; status != 400 || got != want {
		t.Errorf("%d %s, want 400 %s", status, got, want)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-error-codes", "500,404"},
		{"-error-codes", "five hundred"},
		{"-no-such-flag"},
		{"extra-argument"},
		{"-error-rate", "2"},
		{"-reset-rate", "-0.1"},
	} {
		if _, err := parseFlags(args, io.Discard); err != cmdutil.ErrUsage {
			t.Errorf("%q: error %v, want cmdutil.ErrUsage", args, err)
		}
	}
}
