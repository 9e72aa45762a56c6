// Package httpclient is the HTTP client of this project's outputs, which
// send requests to one service with a bounded number in flight, and the
// reading of that service's URL from a config.
package httpclient

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
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

// ServiceURL parses raw, the value of the config field, as the absolute
// http(s) URL of a service, with defaultPath as its path when it has none
// (or "/"). An error names the field, and shows example when given.
func ServiceURL(field, raw, example, defaultPath string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if example != "" {
			return "", fmt.Errorf("%s: %q is not an http(s) URL such as %s", field, raw, example)
		}
		return "", fmt.Errorf("%s: %q is not an http(s) URL", field, raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = defaultPath
	}
	return u.String(), nil
}

// Redacted is a URL without its password, for logs.
func Redacted(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	return rawURL
}

// EndpointOrRegion reads a service's URL from a config: the endpoint
// field's (see ServiceURL), or when it is empty the base URL of the region
// field's region, given by base; defaultPath is the path of either when it
// has none.
func EndpointOrRegion(conf *service.ParsedConfig, endpointField, regionField string, base func(region string) (string, error), defaultPath string) (string, error) {
	endpoint, err := conf.FieldString(endpointField)
	if err != nil {
		return "", err
	}
	if endpoint != "" {
		return ServiceURL(endpointField, endpoint, "", defaultPath)
	}
	region, err := conf.FieldString(regionField)
	if err != nil {
		return "", err
	}
	b, err := base(region)
	return b + defaultPath, err
}
