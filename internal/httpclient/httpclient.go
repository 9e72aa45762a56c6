// Package httpclient is the HTTP client of this project's outputs, which
// send requests to one service with a bounded number in flight.
package httpclient

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// New returns a client for conns requests in flight to one host: it keeps
// as many connections idle for them, dials within 10s, takes proxies from
// the environment and HTTP/2 when the server offers it. timeout bounds a
// whole request, answer included; tlsConf may be nil.
func New(timeout time.Duration, tlsConf *tls.Config, conns int) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsConf,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		},
	}
}
