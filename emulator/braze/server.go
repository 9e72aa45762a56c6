package braze

import (
	"context"

	"github.com/connect-amplitude/connect-amplitude/internal/emuserver"
)

// DefaultAddr is where cmd/braze-emulator listens unless told otherwise, and
// where the shipped config sends by default.
const DefaultAddr = "127.0.0.1:8766"

// Server is an Emulator listening on a real socket, like httptest.Server.
type Server struct {
	*Emulator
	URL string // base URL, the instance URL to configure: http://127.0.0.1:port

	srv *emuserver.Server
}

// Start serves a new emulator on a free port of 127.0.0.1.
func Start(cfg Config) (*Server, error) { return Listen("127.0.0.1:0", cfg) }

// Listen serves a new emulator on addr.
func Listen(addr string, cfg Config) (*Server, error) {
	e := New(cfg)
	srv, err := emuserver.Listen(addr, e)
	if err != nil {
		return nil, err
	}
	return &Server{Emulator: e, URL: srv.URL, srv: srv}, nil
}

// Close stops the server at once, closing open connections (requests in
// progress included), and returns once their handlers have.
func (s *Server) Close() { s.srv.Close() }

// Shutdown stops accepting connections and waits for requests in flight, or
// ctx, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
