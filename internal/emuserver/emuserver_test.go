package emuserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// Close does not wait for a request in progress: it closes its connection
// (the handler sees its context end) and returns once the handler has.
func TestCloseEndsRequestsInProgressAndWaitsForTheirHandlers(t *testing.T) {
	started := make(chan struct{})
	var handlerDone atomic.Bool
	s, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		time.Sleep(50 * time.Millisecond) // a handler finishing up
		handlerDone.Store(true)
	}))
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL)
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-started
	s.Close()
	if !handlerDone.Load() {
		t.Error("Close returned before the handler did")
	}
	if err := <-failed; err == nil {
		t.Error("the request in progress got an answer")
	}
	if _, err := http.Get(s.URL); err == nil {
		t.Error("a closed server answers")
	}
}

// Shutdown lets a request in progress finish within ctx.
func TestShutdownLetsRequestsInProgressFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	if err != nil {
		t.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.URL)
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if got := <-answer; got != "done" {
		t.Fatalf("the request in progress got %q", got)
	}

	// Past ctx, what is left is closed.
	blocked, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := http.Get(blocked.URL); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := blocked.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past ctx: %v", err)
	}
}

func TestListenOnATakenAddressFails(t *testing.T) {
	s, err := Listen("127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Listen(s.URL[len("http://"):], http.NotFoundHandler()); err == nil {
		t.Fatal("a second server listens on the same address")
	}
}
