package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/emuserver"
	"github.com/connect-amplitude/connect-amplitude/internal/wait"
)

const (
	pathHTTPV2 = "/2/httpapi"
	pathBatch  = "/batch"
	pathStats  = "/stats"
)

// endpoint is one of Amplitude's upload APIs and its limits.
type endpoint struct {
	name     string
	eps      float64
	window   time.Duration
	maxBytes int
}

// ServeHTTP answers POST /2/httpapi, POST /batch and GET /stats.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == pathStats {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, []byte(`{"code":405,"error":"Method not allowed"}`))
			return
		}
		body, _ := json.Marshal(e.Stats()) // a struct of maps, numbers and strings: cannot fail
		writeJSON(w, http.StatusOK, body)
		return
	}
	ep, ok := e.routes[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, []byte(`{"code":404,"error":"Invalid request path"}`))
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, []byte(`{"code":405,"error":"Method not allowed"}`))
		return
	}
	e.upload(w, r, ep)
}

// upload answers one upload: faults first, then Amplitude's checks in process.
func (e *Emulator) upload(w http.ResponseWriter, r *http.Request, ep endpoint) {
	plan := e.faults.plan()
	buf := bufferPool.Get().(*bytes.Buffer)
	defer putBuffer(buf)

	wire, tooLarge, err := readBody(r, ep.maxBytes, buf)
	if plan.Reset {
		e.stats.connectionReset(wire, buf.Len())
		emuserver.ResetConnection(w)
		return
	}
	if plan.Delay > 0 {
		e.stats.slowResponse()
		if !wait.For(r.Context(), plan.Delay) {
			return // the client gave up: nothing to answer, nothing ingested
		}
	}
	var rep *reply
	switch {
	case plan.ErrorCode != 0 && !plan.ingestFirst:
		rep = injectedError(plan.ErrorCode)
	case !isJSON(r.Header.Get("Content-Type")):
		rep = badRequest("invalid_content_type", "Content-Type must be application/json", "")
	case err != nil:
		rep = badRequest("unreadable_body", "Invalid JSON request body", "")
	case tooLarge:
		rep = payloadTooLarge("payload_too_large")
	default:
		rep = e.process(ep, buf.Bytes())
		if plan.ErrorCode != 0 {
			// "Maybe accepted": whatever process ingested stays ingested.
			ingested := rep
			rep = injectedError(plan.ErrorCode)
			rep.received, rep.ingested, rep.deduplicated = ingested.received, ingested.ingested, ingested.deduplicated
		}
	}
	e.stats.observe(rep, wire, buf.Len())
	writeJSON(w, rep.status, rep.body)
}

// process applies Amplitude's checks to a readable body and ingests its events when
// they all pass: the request as a whole, then each event, then the per-id limits.
func (e *Emulator) process(ep endpoint, body []byte) *reply {
	now := e.cfg.Now()
	req, rep := parseRequest(body, viewAsString(body))
	if rep != nil {
		return rep
	}
	rep = e.judge(ep, req, len(body), now)
	rep.received = len(req.events)
	return rep
}

// judge decides on a parsed request; only the limits and deduplication hold e.mu.
func (e *Emulator) judge(ep endpoint, req request, payloadBytes int, now time.Time) *reply {
	if !e.keyAccepted(req.apiKey, now) {
		return invalidAPIKey(req.apiKey)
	}
	if len(req.events) > e.cfg.MaxEventsPerRequest {
		return payloadTooLarge("too_many_events")
	}
	silencedDevices, silencedEvents := findSilenced(req.events, e.faults.silencedDevices())
	if req.problems.any() || len(silencedEvents) > 0 {
		return eventsRefused(req.problems, silencedDevices, silencedEvents)
	}

	// Hash outside the lock, so the locked part is map work only.
	var ids []idCount
	if !e.cfg.DisableRateLimits {
		ids = e.hashIDs.countIDs(req.events)
	}
	insertKeys := make([]uint64, len(req.events))
	for i := range req.events {
		if req.events[i].InsertID != "" {
			insertKeys[i] = e.hashIDs.insertKey(&req.events[i])
		}
	}

	e.mu.Lock()
	if !e.cfg.DisableRateLimits {
		throttled, exceeded := e.limits.check(ep, ids, now)
		if len(throttled) > 0 || len(exceeded) > 0 {
			e.mu.Unlock()
			return tooManyRequests(ep.eps, req.events, throttled, exceeded)
		}
		e.limits.add(ep, ids, now)
	}
	total := len(req.events)
	fresh := req.events[:0]
	truncated := 0
	for i, ev := range req.events {
		if ev.InsertID == "" || e.dedup.firstSeen(insertKeys[i], now) {
			fresh = append(fresh, ev)
			truncated += ev.longStrings
		}
	}
	e.recorder.Record(fresh)
	e.mu.Unlock()
	rep := accepted(len(fresh), total-len(fresh), payloadBytes, now.UnixMilli())
	rep.truncated = truncated
	return rep
}

// viewAsString lets the scanner read the pooled body without copying it: a copy costs more
// than validating the JSON. The string, and every substring of it in request, dies
// with the request; whatever outlives it (recorded events, replies, statistics) is
// copied or hashed first, and Recorder implementations must copy what they keep.
func viewAsString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (e *Emulator) keyAccepted(key string, now time.Time) bool {
	return key != "" && (len(e.apiKeys) == 0 || e.apiKeys[key]) && !e.faults.keyRejected(now)
}

// findSilenced returns the silenced device_ids of events (each once) and the indexes
// of their events.
func findSilenced(events []Event, silenced map[string]bool) (devices []string, indexes []int) {
	if len(silenced) == 0 {
		return nil, nil
	}
	named := map[string]bool{}
	for i, ev := range events {
		if !silenced[ev.DeviceID] {
			continue
		}
		indexes = append(indexes, i)
		if !named[ev.DeviceID] {
			named[ev.DeviceID] = true
			devices = append(devices, ev.DeviceID)
		}
	}
	return devices, indexes
}

var (
	bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzipPool   sync.Pool // *gzip.Reader
)

func putBuffer(b *bytes.Buffer) {
	b.Reset()
	bufferPool.Put(b)
}

// readBody reads the decompressed body into buf, at most limit+1 bytes so that an
// oversized or gzip-bomb body costs little. It returns the bytes read off the wire
// and whether the body is over limit; the rest of an oversized body is drained so the
// client reads the 413 rather than a broken connection.
func readBody(r *http.Request, limit int, buf *bytes.Buffer) (wire int, tooLarge bool, err error) {
	body := &countingReader{r: r.Body}
	var src io.Reader = body
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		zr, _ := gzipPool.Get().(*gzip.Reader)
		if zr == nil {
			zr, err = gzip.NewReader(body)
		} else {
			err = zr.Reset(body)
		}
		if err != nil {
			return body.n, false, err
		}
		defer gzipPool.Put(zr)
		src = zr
	} else if r.ContentLength > 0 {
		// MinRead spare bytes, or ReadFrom doubles the buffer just to see EOF.
		buf.Grow(int(min(r.ContentLength, int64(limit)+1)) + bytes.MinRead)
	}
	if _, err = buf.ReadFrom(io.LimitReader(src, int64(limit)+1)); err != nil {
		return body.n, false, err
	}
	if buf.Len() > limit {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
		return body.n, true, nil
	}
	return body.n, false, nil
}

// maxDrain bounds what an oversized body may still cost; past it the server just
// closes the connection.
const maxDrain = 64 << 20

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// isJSON reports whether a Content-Type is application/json, which "must be set"
// (https://amplitude.com/docs/apis/analytics/http-v2, Headers; the Batch API's page:
// "Content-type must be application/json"). Amplitude does not document its answer
// to another: the emulator's 400 says what is wrong in its own words.
func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "application/json"
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
