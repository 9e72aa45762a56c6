package braze

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// DefaultAddr is where cmd/braze-emulator listens unless told otherwise, and
// where the shipped config sends by default.
const DefaultAddr = "127.0.0.1:8766"

// Server is an Emulator listening on a real socket, like httptest.Server.
type Server struct {
	*Emulator
	URL string // base URL, the instance URL to configure: http://127.0.0.1:port

	http *http.Server
	done chan struct{}
}

// Start serves a new emulator on a free port of 127.0.0.1.
func Start(cfg Config) (*Server, error) { return Listen("127.0.0.1:0", cfg) }

// Listen serves a new emulator on addr.
func Listen(addr string, cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	e := New(cfg)
	s := &Server{
		Emulator: e,
		URL:      "http://" + ln.Addr().String(),
		http:     &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln) // returns when Close or Shutdown stops it
	}()
	return s, nil
}

// Close stops the server at once, closing open connections.
func (s *Server) Close() {
	_ = s.http.Close()
	<-s.done
}

// Shutdown stops accepting connections and waits for requests in flight, or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = errors.Join(err, s.http.Close())
	}
	<-s.done
	return err
}
