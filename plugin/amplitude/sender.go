package amplitude

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/httpclient"
)

// sender posts request bodies to Amplitude and reads the answers.
type sender struct {
	url    string
	gzip   bool
	client *http.Client
	zips   freeList[*gzipBuffer]
}

type gzipBuffer struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

// maxResponseBytes bounds what is read of an answer: Amplitude's are small,
// and a proxy's error page must not exhaust memory.
const maxResponseBytes = 1 << 20

func newSender(url string, useGzip bool, timeout time.Duration, tlsConf *tls.Config, conns int) *sender {
	return &sender{url: url, gzip: useGzip, client: httpclient.New(timeout, tlsConf, conns), zips: newFreeList[*gzipBuffer](conns)}
}

// post sends one body. An error means no usable answer arrived: a timeout,
// a refused or reset connection; the events may or may not have been taken.
func (s *sender) post(ctx context.Context, body []byte) (status int, answer []byte, err error) {
	payload := body
	if s.gzip {
		z, ok := s.zips.get()
		if !ok {
			z = &gzipBuffer{}
			// BestSpeed: Amplitude events are repetitive JSON that compresses
			// about 15x even so, at a third of the default level's CPU.
			z.w, _ = gzip.NewWriterLevel(&z.buf, gzip.BestSpeed)
		}
		defer s.zips.put(z)
		z.buf.Reset()
		z.w.Reset(&z.buf)
		if _, err := z.w.Write(body); err != nil {
			return 0, nil, err
		}
		if err := z.w.Close(); err != nil {
			return 0, nil, err
		}
		payload = z.buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "*/*")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

func (s *sender) close() {
	s.client.CloseIdleConnections()
}
