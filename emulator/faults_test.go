package emulator

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestInjectedErrors(t *testing.T) {
	tests := []struct {
		code        int
		ingestFirst bool
		want        string
		ingested    int
	}{
		{code: 500, want: `{"code":500,"error":"Internal Server Error"}`},
		{code: 502, want: `{"code":502,"error":"Bad Gateway"}`},
		{code: 503, want: `{"code":503,"error":"Service Unavailable"}`},
		{code: 504, want: `{"code":504,"error":"Gateway Timeout"}`},
		// "Maybe accepted": the events are in, the client still sees a failure.
		{code: 500, ingestFirst: true, want: `{"code":500,"error":"Internal Server Error"}`, ingested: 1},
		{code: 502, ingestFirst: true, want: `{"code":502,"error":"Bad Gateway"}`, ingested: 1},
		{code: 504, ingestFirst: true, want: `{"code":504,"error":"Gateway Timeout"}`, ingested: 1},
		// 503 promises that nothing was ingested.
		{code: 503, ingestFirst: true, want: `{"code":503,"error":"Service Unavailable"}`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d ingest first %v", tt.code, tt.ingestFirst), func(t *testing.T) {
			srv := start(t, Config{Faults: Faults{ErrorRate: 1, ErrorCodes: []int{tt.code}, IngestBeforeError: tt.ingestFirst}})
			status, body := post(t, srv.URL+pathHTTPV2, upload(event("device-1", "")), false)
			if status != tt.code {
				t.Errorf("status %d, want %d", status, tt.code)
			}
			assertJSON(t, body, tt.want)
			if got := len(srv.Events()); got != tt.ingested {
				t.Errorf("%d events recorded, want %d", got, tt.ingested)
			}
			if got := srv.Stats().RequestsRejected[fmt.Sprintf("injected_%d", tt.code)]; got != 1 {
				t.Errorf("stats count %d injected errors, want 1", got)
			}
		})
	}
}

// statuses sends n valid uploads and returns their statuses.
func statuses(t *testing.T, srv *Server, n int) []int {
	t.Helper()
	var out []int
	for range n {
		status, _ := post(t, srv.URL+pathBatch, upload(event("device-1", "")), false)
		out = append(out, status)
	}
	return out
}

func TestErrorRateIsRandomButRepeatableWithItsSeed(t *testing.T) {
	faults := Faults{Seed: 7, ErrorRate: 0.5}
	first := statuses(t, start(t, Config{Faults: faults}), 40)
	again := statuses(t, start(t, Config{Faults: faults}), 40)
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Errorf("same seed, different answers:\n%v\n%v", first, again)
	}
	seen := map[int]int{}
	for _, s := range first {
		seen[s]++
	}
	for _, code := range []int{200, 500, 502, 503, 504} {
		if seen[code] == 0 {
			t.Errorf("no %d among %v", code, first)
		}
	}
	faults.Seed = 8
	if other := statuses(t, start(t, Config{Faults: faults}), 40); fmt.Sprint(other) == fmt.Sprint(first) {
		t.Errorf("seeds 7 and 8 gave the same answers %v", first)
	}
}

func TestSlowResponses(t *testing.T) {
	t.Run("a delayed request is answered", func(t *testing.T) {
		srv := start(t, Config{Faults: Faults{SlowRate: 1, SlowDelay: time.Millisecond}})
		if status, body := post(t, srv.URL+pathHTTPV2, upload(event("device-1", "")), false); status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		if got := srv.Stats().SlowResponses; got != 1 {
			t.Errorf("%d slow responses counted, want 1", got)
		}
	})
	t.Run("a client that gives up first gets no answer and ingests nothing", func(t *testing.T) {
		srv := start(t, Config{Faults: Faults{SlowRate: 1, SlowDelay: time.Hour}})
		client := &http.Client{Timeout: 50 * time.Millisecond}
		resp, err := client.Post(srv.URL+pathHTTPV2, "application/json", bytes.NewReader([]byte(upload(event("device-1", "")))))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("answered %d, want a client timeout", resp.StatusCode)
		}
		if got := len(srv.Events()); got != 0 {
			t.Errorf("%d events recorded, want 0", got)
		}
	})
}

func TestConnectionResets(t *testing.T) {
	srv := start(t, Config{Faults: Faults{ResetRate: 1}})
	resp, err := http.Post(srv.URL+pathHTTPV2, "application/json", bytes.NewReader([]byte(upload(event("device-1", "")))))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d, want a connection error", resp.StatusCode)
	}
	t.Logf("client saw: %v", err)
	stats := srv.Stats()
	if stats.ConnectionResets != 1 || len(stats.Requests) != 0 {
		t.Errorf("stats: %d resets, requests %v; want 1 reset and no answered request", stats.ConnectionResets, stats.Requests)
	}
	if got := len(srv.Events()); got != 0 {
		t.Errorf("%d events recorded, want 0", got)
	}
}

func TestAPIKeyRejectedDuringAWindow(t *testing.T) {
	const invalidKey = `{"code":400,"error":"Invalid API key: test-key"}`
	body := upload(event("device-1", ""))
	tests := []struct {
		name   string
		faults Faults
		steps  []step
	}{
		{
			name:   "from RejectKeyFrom until RejectKeyUntil",
			faults: Faults{RejectKeyFrom: t0.Add(time.Minute), RejectKeyUntil: t0.Add(2 * time.Minute)},
			steps: []step{
				{body: body, status: 200},
				{wait: time.Minute, body: body, status: 400, want: invalidKey},
				{wait: time.Minute - time.Millisecond, body: body, status: 400, want: invalidKey},
				{wait: time.Millisecond, body: body, status: 200},
			},
		},
		{
			name:   "a zero RejectKeyUntil never ends",
			faults: Faults{RejectKeyFrom: t0.Add(time.Minute)},
			steps: []step{
				{body: body, status: 200},
				{wait: 1000 * time.Hour, body: body, status: 400, want: invalidKey},
			},
		},
		{
			name:   "a zero RejectKeyFrom starts at once",
			faults: Faults{RejectKeyUntil: t0.Add(time.Minute)},
			steps: []step{
				{body: body, status: 400, want: invalidKey},
				{wait: time.Minute, body: body, status: 200},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, Config{Faults: tt.faults}, tt.steps)
		})
	}
}

func TestSetFaultsAppliesToTheNextRequest(t *testing.T) {
	srv := start(t, Config{})
	body := upload(event("device-1", ""))
	steps := []struct {
		faults Faults
		status int
	}{
		{Faults{}, 200},
		{Faults{ErrorRate: 1, ErrorCodes: []int{503}}, 503},
		{Faults{SilencedDevices: []string{"device-1"}}, 400},
		{Faults{RejectKeyFrom: t0}, 400},
		{Faults{}, 200},
	}
	for i, s := range steps {
		srv.SetFaults(s.faults)
		if status, got := post(t, srv.URL+pathHTTPV2, body, false); status != s.status {
			t.Errorf("step %d: status %d, want %d: %s", i, status, s.status, got)
		}
	}
}
