package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/cmdutil"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
)

func TestTheEmulatorServesRecordsAndReportsOnStop(t *testing.T) {
	record := filepath.Join(t.TempDir(), "record.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	stderr := new(syncbuf.Buffer)
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-record", record, "-api-keys", "k1"}, stderr, func(u string) { urls <- u })
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not start")
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/users/track", strings.NewReader(`{"attributes":[{"external_id":"u1","amplitude_cohorts":{"add":["[Amplitude] A: 1"]}}]}`))
	req.Header.Set("Authorization", "Bearer k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("answer %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := stderr.String()
	if !strings.Contains(out, "braze-emulator listening on http://127.0.0.1:") || !strings.Contains(out, `"objects_applied": 1`) {
		t.Errorf("stderr:\n%s", out)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"user":"u1","attribute":"amplitude_cohorts","op":"add","value":"[Amplitude] A: 1"}` + "\n"; string(got) != want {
		t.Errorf("record %q, want %q", got, want)
	}
}

func TestBadFlagsAreRefusedWithTheReason(t *testing.T) {
	for args, want := range map[string]string{
		"-error-codes 404":     `-error-codes: "404" is not a 5xx status code`,
		"-error-rate 2":        "-error-rate: 2 is not between 0 and 1",
		"-aliases nolabel":     `-aliases: "nolabel" is not label:name`,
		"extra":                `unexpected arguments: ["extra"]`,
		"-no-such-flag":        "flag provided but not defined",
		"-rate-window 1parsec": "invalid value",
	} {
		stderr := new(syncbuf.Buffer)
		_, err := parseFlags(strings.Fields(args), stderr)
		if !errors.Is(err, cmdutil.ErrUsage) || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: %v, stderr %q; want usage error with %q", args, err, stderr.String(), want)
		}
	}
	if _, err := parseFlags([]string{"-help"}, new(syncbuf.Buffer)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}
