package brazehttp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// tinyEvents is a body of n events {}, the smallest there are.
func tinyEvents(n int) string {
	return `{"events":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}`
}

// Braze sends at most 100 events per request; a body with more than
// max_events (1000 by default) is refused before any event becomes a
// message, so that a small body of tiny events cannot fill the memory.
func TestBodiesOverTheDefaultMaxEventsGet413(t *testing.T) {
	r := startReceiver(t, "", func(context.Context, service.MessageBatch) error { return nil })
	bearer := "Bearer " + testToken
	if status, text := r.post(t, bearer, tinyEvents(1001)); status != 413 || !strings.Contains(text, "more than 1000 events: split the batch") {
		t.Fatalf("1001 events: %d %q, want 413", status, text)
	}
	if n := r.batches.Load(); n != 0 {
		t.Fatalf("the pipeline got %d batches from a body it refused", n)
	}
	if status, text := r.post(t, bearer, tinyEvents(1000)); status != 200 || text != `{"events":1000}` {
		t.Fatalf("1000 events: %d %q, want 200", status, text)
	}
}

// A body sent without Content-Length (chunked) is held to max_body_bytes as
// it arrives.
func TestBodyOfUnknownLengthIsHeldToMaxBodyBytes(t *testing.T) {
	r := startReceiver(t, "max_body_bytes: 100000", func(context.Context, service.MessageBatch) error { return nil })
	bearer := "Bearer " + testToken
	for _, tt := range []struct {
		name   string
		body   string
		status int
	}{
		{"just under the limit", tinyEvents(999) + strings.Repeat(" ", 100000-len(tinyEvents(999))), 200},
		{"at the limit, spanning several reads", tinyEvents(1000) + strings.Repeat(" ", 100000-len(tinyEvents(1000))), 200},
		{"one byte over", tinyEvents(1000) + strings.Repeat(" ", 100001-len(tinyEvents(1000))), 413},
		{"far over", strings.Repeat(" ", 300000) + tinyEvents(1), 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A reader of unknown length makes the client send it chunked.
			body := io.MultiReader(strings.NewReader(tt.body))
			if status, text := do(t, r.client, http.MethodPost, r.url, bearer, body); status != tt.status {
				t.Fatalf("%d bytes: %d %q, want %d", len(tt.body), status, text, tt.status)
			}
		})
	}
}

// An element of events that is not an object still becomes a message, flagged
// with where it was and what it is, so that it fails alone with a reason.
func TestElementsThatAreNotEventsAreFlaggedWithTheirPosition(t *testing.T) {
	type seen struct{ content, err string }
	var mu sync.Mutex
	var got []seen
	r := startReceiver(t, "", func(_ context.Context, batch service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			b, _ := m.AsBytes()
			s := seen{content: string(b)}
			if err := m.GetError(); err != nil {
				s.err = err.Error()
			}
			got = append(got, s)
		}
		return nil
	})
	if status, text := r.post(t, "Bearer "+testToken, `{"events":[{"id":"a"},null,3,"x"]}`); status != 200 {
		t.Fatalf("status %d %q", status, text)
	}
	want := []seen{
		{`{"id":"a"}`, ""},
		{`null`, "events[1]: null is not a Currents event, which is a JSON object"},
		{`3`, "events[2]: a number is not a Currents event, which is a JSON object"},
		{`"x"`, "events[3]: a string is not a Currents event, which is a JSON object"},
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages:\n got %q\nwant %q", got, want)
	}
}

// slowUpload is a request whose headers are sent at once and whose body
// trickles, a byte at a time, through a raw connection.
type slowUpload struct {
	conn net.Conn
	stop chan struct{}
	done chan struct{}
}

// startSlowUpload sends the headers of a POST of body with the test token
// and its first byte, then a byte every interval until stopped (or never,
// for interval 0). It returns once the first byte is sent.
func startSlowUpload(t *testing.T, url, body string, interval time.Duration) *slowUpload {
	t.Helper()
	hostPath := strings.TrimPrefix(url, "http://")
	host, path := hostPath[:strings.Index(hostPath, "/")], hostPath[strings.Index(hostPath, "/"):]
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	u := &slowUpload{conn: conn, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { u.close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, host, testToken, len(body), body[:1])
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(u.done)
		if interval == 0 {
			<-u.stop
			return
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for k := 1; k < len(body); k++ {
			select {
			case <-u.stop:
				return
			case <-tick.C:
			}
			if _, err := io.WriteString(conn, body[k:k+1]); err != nil {
				return
			}
		}
	}()
	return u
}

// response reads the answer to the upload.
func (u *slowUpload) response(t *testing.T) (*http.Response, string) {
	t.Helper()
	_ = u.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(u.conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp, strings.TrimSpace(string(text))
}

func (u *slowUpload) close() {
	select {
	case <-u.stop:
	default:
		close(u.stop)
	}
	<-u.done
	u.conn.Close()
}

// Slow uploads hold only their bodies' memory, not request slots: as many
// as there are slots, trickling, leave other requests served.
func TestSlowUploadsDoNotKeepOtherRequestsOut(t *testing.T) {
	r := startReceiver(t, "", func(context.Context, service.MessageBatch) error { return nil })
	uploads := make([]*slowUpload, 64) // max_concurrent_requests' default
	for k := range uploads {
		uploads[k] = startSlowUpload(t, r.url, twoEvents, 50*time.Millisecond)
	}
	// Each slow request's handler starts once its headers are in, well
	// within the time the requests below take.
	for k := range 10 {
		if status, text := r.post(t, "Bearer "+testToken, twoEvents); status != 200 {
			t.Fatalf("request %d while 64 uploads trickle: %d %q, want 200", k, status, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, u := range uploads {
		u.close()
	}
}

// A body that stalls gets 503, which Braze retries, after read_timeout:
// not 400, which Braze takes for a bad event.
func TestStalledBodyGets503SoThatBrazeRetries(t *testing.T) {
	r := startReceiver(t, "read_timeout: 300ms\ntimeout: 30s", func(context.Context, service.MessageBatch) error { return nil })
	u := startSlowUpload(t, r.url, twoEvents, 0)
	resp, text := u.response(t)
	if resp.StatusCode != 503 || !strings.Contains(text, "the body did not arrive within 300ms: retry") {
		t.Fatalf("stalled body: %d %q, want 503", resp.StatusCode, text)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("the 503 has no Retry-After")
	}
	if n := r.batches.Load(); n != 0 {
		t.Fatalf("the pipeline got %d batches", n)
	}
}

// The bodies held at once never take more than max_total_body_bytes: past
// it, requests get 429 until memory is given back.
func TestBodiesBeyondTheMemoryAllowedGet429(t *testing.T) {
	// read_timeout outlasts the test, however slow the machine: the stalled
	// uploads must keep their memory until closed.
	r := startReceiver(t, "max_body_bytes: 1000\nmax_total_body_bytes: 2000\nread_timeout: 5m", func(context.Context, service.MessageBatch) error { return nil })
	// Two uploads declaring the largest body hold all the memory allowed.
	full := twoEvents + strings.Repeat(" ", 1000-len(twoEvents))
	first, second := startSlowUpload(t, r.url, full, 0), startSlowUpload(t, r.url, full, 0)
	status, text := 0, ""
	for range 3000 { // until both handlers hold their bodies' memory
		if status, text = r.post(t, "Bearer "+testToken, twoEvents); status == 429 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status != 429 || !strings.Contains(text, "too many bodies in memory at once") {
		t.Fatalf("a request while the memory is full: %d %q, want 429", status, text)
	}
	// A closed upload gives its memory back.
	first.close()
	second.close()
	for range 3000 {
		if status, _ = r.post(t, "Bearer "+testToken, twoEvents); status == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after the uploads were closed: %d, want 200", status)
}

// A batch answered 504 may still be in the pipeline: it keeps its request
// slot (and its body's memory) until it is acknowledged, so that batches
// piling up in a stuck pipeline cannot exceed max_concurrent_requests.
func TestUnacknowledgedBatchKeepsItsSlotUntilAcknowledged(t *testing.T) {
	unblock := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	first := true
	var mu sync.Mutex
	r := startReceiver(t, "max_concurrent_requests: 1\ntimeout: 200ms", func(ctx context.Context, _ service.MessageBatch) error {
		mu.Lock()
		wasFirst := first
		first = false
		mu.Unlock()
		if wasFirst {
			defer calls.Done()
			<-unblock
		}
		return nil
	})
	bearer := "Bearer " + testToken
	if status, _ := r.post(t, bearer, twoEvents); status != 504 {
		t.Fatalf("the stuck batch: %d, want 504", status)
	}
	if status, text := r.post(t, bearer, twoEvents); status != 429 || !strings.Contains(text, "too many requests at once") {
		t.Fatalf("while the stuck batch is in the pipeline: %d %q, want 429", status, text)
	}
	close(unblock)
	calls.Wait()
	status := 0
	for range 200 { // the acknowledgement gives the slot back just after
		if status, _ = r.post(t, bearer, twoEvents); status == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after the acknowledgement: %d, want 200", status)
}
