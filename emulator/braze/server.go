package braze

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// DefaultAddr is where cmd/braze-emulator listens unless told otherwise, and
// where the shipped config sends by default.
const DefaultAddr = "127.0.0.1:8766"

// Server is an Emulator listening on a real socket: an httptest.Server on
// the address asked for.
type Server struct {
	*Emulator
	URL string // base URL, the instance URL to configure: http://127.0.0.1:port

	srv *httptest.Server
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
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}}
	srv.Start()
	return &Server{Emulator: e, URL: srv.URL, srv: srv}, nil
}

// Close stops the server at once, closing open connections.
func (s *Server) Close() { s.srv.Close() }

// Shutdown stops accepting connections and waits for requests in flight, or
// ctx, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Config.Shutdown(ctx)
	s.srv.Close()
	return err
}
