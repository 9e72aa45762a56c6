// Package emuserver is what this project's emulators (of Amplitude, of
// Braze, of Amplitude's cohort export) share: serving on a real socket like
// an httptest.Server on the address asked for, and the faults they inject
// on top of the service's own answers.
package emuserver

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// Server is a handler listening on a real socket.
type Server struct {
	URL string // base URL, e.g. http://127.0.0.1:41234

	srv *httptest.Server
}

// Listen serves h on addr ("127.0.0.1:0" for a free port).
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	srv.Start()
	return &Server{URL: srv.URL, srv: srv}, nil
}

// Close stops the server at once: it closes every connection, requests in
// progress included, and returns once their handlers have.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Shutdown stops taking connections and waits for the requests in
// progress, or ctx, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Config.Shutdown(ctx)
	s.Close()
	return err
}

// ResetConnection closes the client's connection without an answer.
// SO_LINGER 0 makes the close send a TCP RST, as a crashed proxy would,
// rather than a clean FIN.
func ResetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2 cannot be hijacked: abort the stream instead
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}
