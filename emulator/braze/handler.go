package braze

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/wait"
)

const (
	pathUsers = "/_emulator/users"
	pathStats = "/_emulator/stats"
	maxBody   = 32 << 20
)

// Braze's messages, as its documentation quotes them.
const (
	msgUnauthorized = "Unknown or missing REST API Key"
	msgForbidden    = "The REST API key does not have the users.track permission"
	msgRateLimited  = "Over rate limit"
	msgTooMany      = "Max Input Length Exceeded"
	msgNoValidData  = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
	msgBlocked      = "provided external_id is blacklisted and disallowed"
	msgBadSyntax    = "Bad syntax"
)

// ServeHTTP answers POST /users/track, GET /_emulator/users and GET
// /_emulator/stats.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case pathUsers, pathStats:
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method not allowed"})
			return
		}
		if r.URL.Path == pathUsers {
			writeJSON(w, http.StatusOK, map[string]any{"users": e.Users()})
		} else {
			writeJSON(w, http.StatusOK, e.Stats())
		}
		return
	case brazeapi.TrackPath:
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method not allowed"})
		return
	}
	e.track(w, r)
}

// track answers one /users/track request: faults first, then Braze's checks.
func (e *Emulator) track(w http.ResponseWriter, r *http.Request) {
	plan := e.faults.plan()
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if plan.reset {
		e.count("reset")
		resetConnection(w)
		return
	}
	if plan.delay > 0 {
		e.mu.Lock()
		e.stats.SlowAnswers++
		e.mu.Unlock()
		if !wait.For(r.Context(), plan.delay) {
			e.count("gone")
			return // the client gave up: nothing applied, nothing to answer
		}
	}
	if plan.errorCode != 0 {
		e.answer(w, plan.errorCode, map[string]any{"message": http.StatusText(plan.errorCode)}, nil)
		return
	}
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	switch {
	case e.noPerm[key]:
		e.answer(w, http.StatusForbidden, map[string]any{"message": msgForbidden}, nil)
		return
	case key == "" || (len(e.keys) > 0 && !e.keys[key]):
		e.answer(w, http.StatusUnauthorized, map[string]any{"message": msgUnauthorized}, nil)
		return
	}
	limit := e.takeRequest()
	if limit.Remaining < 0 {
		limit.Remaining = 0
		e.answer(w, http.StatusTooManyRequests, map[string]any{"message": msgRateLimited}, &limit)
		return
	}
	if readErr != nil {
		e.answer(w, http.StatusBadRequest, map[string]any{"message": msgBadSyntax}, &limit)
		return
	}
	status, reply := e.process(body, plan.queued)
	e.answer(w, status, reply, &limit)
}

// process checks and applies a readable body.
func (e *Emulator) process(body []byte, queued bool) (int, map[string]any) {
	var req struct {
		Attributes []json.RawMessage `json:"attributes"`
		Events     []json.RawMessage `json:"events"`
		Purchases  []json.RawMessage `json:"purchases"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, map[string]any{"message": msgBadSyntax}
	}
	if len(req.Attributes)+len(req.Events)+len(req.Purchases) > brazeapi.MaxObjectsPerRequest {
		return http.StatusBadRequest, map[string]any{"message": msgTooMany}
	}
	var errs []map[string]any
	valid := make([]map[string]json.RawMessage, len(req.Attributes))
	for i, raw := range req.Attributes {
		if _, objErr := brazeapi.CheckAttributes(raw); objErr != nil {
			errs = append(errs, objectError(objErr.Detail, i))
			continue
		}
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(raw, &obj) // CheckAttributes parsed it
		var id string
		if v, ok := obj["external_id"]; ok && json.Unmarshal(v, &id) == nil && e.blocked[id] {
			errs = append(errs, objectError(msgBlocked, i))
			continue
		}
		valid[i] = obj
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.ObjectsRefused += len(errs)
	if len(errs) > 0 && len(errs) == len(req.Attributes) {
		return http.StatusBadRequest, map[string]any{"message": msgNoValidData, "errors": errs}
	}
	processed := 0
	for _, obj := range valid {
		if obj == nil {
			continue
		}
		if e.apply(obj) {
			processed++
		} else {
			e.stats.ObjectsUnmatched++
		}
	}
	e.stats.ObjectsApplied += processed
	if queued {
		e.stats.QueuedRefused += len(errs)
		return http.StatusAccepted, map[string]any{"message": "queued"}
	}
	reply := map[string]any{"message": "success"}
	if len(req.Attributes) > 0 {
		reply["attributes_processed"] = processed
	}
	if len(errs) > 0 {
		reply["errors"] = errs
	}
	return http.StatusCreated, reply
}

func objectError(why string, i int) map[string]any {
	return map[string]any{"type": why, "input_array": "attributes", "index": i}
}

// takeRequest counts a request against the fixed window and returns the
// headers' figures; Remaining < 0 means over the limit.
func (e *Emulator) takeRequest() brazeapi.RateLimit {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	if e.window.IsZero() || now.Sub(e.window) >= e.cfg.RateWindow {
		e.window, e.used = now.Truncate(e.cfg.RateWindow), 0
	}
	e.used++
	return brazeapi.RateLimit{
		Known:     true,
		Limit:     e.cfg.RateLimit,
		Remaining: e.cfg.RateLimit - e.used,
		Reset:     e.window.Add(e.cfg.RateWindow),
	}
}

func (e *Emulator) count(status string) {
	e.mu.Lock()
	e.stats.Requests[status]++
	e.mu.Unlock()
}

// answer writes an answer with the rate-limit headers, when known. Reset is
// written in epoch seconds with a fraction: Braze writes whole seconds,
// which a test window shorter than a second could not express.
func (e *Emulator) answer(w http.ResponseWriter, status int, body map[string]any, limit *brazeapi.RateLimit) {
	e.count(strconv.Itoa(status))
	if limit != nil {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(limit.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit.Remaining, 0)))
		h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(limit.Reset.UnixNano())/1e9, 'f', 3, 64))
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"message":%q}`, err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// resetConnection closes the client's connection without an answer, with a
// TCP RST as a crashed proxy would.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// faultPlan is what happens to one request.
type faultPlan struct {
	reset     bool
	delay     time.Duration
	errorCode int
	queued    bool
}

type faultInjector struct {
	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
}

func (fi *faultInjector) set(f Faults) {
	f.ErrorCodes = slices.Clone(f.ErrorCodes)
	if len(f.ErrorCodes) == 0 {
		f.ErrorCodes = []int{500, 502, 503, 504}
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.faults = f
	fi.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0))
}

// plan draws the same numbers for every request, so a seed gives the same
// sequence of decisions whichever rates are set.
func (fi *faultInjector) plan() faultPlan {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := &fi.faults
	resetDraw, slowDraw, errorDraw, queuedDraw := fi.rng.Float64(), fi.rng.Float64(), fi.rng.Float64(), fi.rng.Float64()
	code := f.ErrorCodes[fi.rng.IntN(len(f.ErrorCodes))]
	var p faultPlan
	switch {
	case resetDraw < f.ResetRate:
		p.reset = true
	case errorDraw < f.ErrorRate:
		p.errorCode = code
	default:
		p.queued = queuedDraw < f.QueuedRate
	}
	if slowDraw < f.SlowRate {
		p.delay = f.SlowDelay
	}
	return p
}
