package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const e2eToken = "e2e-token-5b1d0c"

// The answers Braze gets for requests that must never reach Amplitude, from
// the real binary running config/braze-receiver.yaml.
func TestReceiverRefusesBadRequests(t *testing.T) {
	emu := startEmulator(t)
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	rcv := startReceiver(t, receiverEnv{Address: "127.0.0.1:0", Token: e2eToken, Endpoint: emu.URL + "/2/httpapi", DeadLetter: deadLetter})
	bearer := "Bearer " + e2eToken
	oneEvent := `{"event_type":"users.messages.email.Open","id":"e2e-refused-1","time":1700000000,"user":{"external_user_id":"user-1","device_id":"device-1"}}`
	// Over the default max_body_bytes (4 MiB), made of valid events.
	oversized := `{"events":[` + strings.TrimSuffix(strings.Repeat(oneEvent+",", (5<<20)/len(oneEvent)), ",") + `]}`

	tests := []struct {
		name, auth, body string
		status           int
		text             string
	}{
		{name: "no token", body: `{"events":[` + oneEvent + `]}`, status: 401, text: "unauthorized"},
		{name: "a wrong token", auth: "Bearer e2e-token-5b1d0d", body: `{"events":[` + oneEvent + `]}`, status: 401, text: "unauthorized"},
		{name: "an oversized body", auth: bearer, body: oversized, status: 413, text: "split the batch"},
		{name: "malformed JSON", auth: bearer, body: `{"events":[` + oneEvent, status: 400, text: "body is not valid JSON"},
		{name: "JSON that is not the envelope", auth: bearer, body: `[` + oneEvent + `]`, status: 400, text: `expected a JSON object with an "events" array`},
		{name: "an empty envelope is Braze's credential test", auth: bearer, body: `{"events":[]}`, status: 200, text: `{"events":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, rcv.URL, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			text, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(text), tt.text) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, text, tt.status, tt.text)
			}
		})
	}

	rcv.stop(t)
	if got := emu.stats(t).EventsReceived; got != 0 {
		t.Errorf("the emulator received %d events, want none", got)
	}
	if dl := deadLetters(t, deadLetter); len(dl) != 0 {
		t.Errorf("dead letters: %v, want none", dl)
	}
	if logs := rcv.out.String(); strings.Contains(logs, e2eToken) || strings.Contains(logs, "e2e-token-5b1d0d") {
		t.Errorf("the logs show a token:\n%s", logs)
	}
}

// `echo` shows the config as run, with the secrets scrubbed.
func TestEchoScrubsSecrets(t *testing.T) {
	cmd := exec.Command(bin("connect-amplitude"), "echo", "config/braze-receiver.yaml")
	cmd.Dir = repoRoot
	cmd.Env = append(cmd.Environ(), "BRAZE_BEARER_TOKEN="+e2eToken, "AMPLITUDE_API_KEY=e2e-secret-api-key")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("echo: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("braze_currents:")) {
		t.Fatalf("echo printed no config:\n%s", out)
	}
	for _, secret := range []string{e2eToken, "e2e-secret-api-key"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("echo shows %q:\n%s", secret, out)
		}
	}
}
