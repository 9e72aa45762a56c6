package braze

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/emuserver"
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
	if plan.Reset {
		e.count("reset")
		emuserver.ResetConnection(w)
		return
	}
	if plan.Delay > 0 {
		e.mu.Lock()
		e.stats.SlowAnswers++
		e.mu.Unlock()
		if !wait.For(r.Context(), plan.Delay) {
			e.count("gone")
			return // the client gave up: nothing applied, nothing to answer
		}
	}
	if plan.ErrorCode != 0 {
		e.answer(w, plan.ErrorCode, map[string]any{"message": http.StatusText(plan.ErrorCode)}, nil)
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
		obj, objErr := brazeapi.CheckAttributes(raw)
		if objErr != nil {
			errs = append(errs, objectError(objErr.Detail, i))
			continue
		}
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

// faultPlan is what happens to one request.
type faultPlan struct {
	emuserver.Plan
	queued bool // applied, then answered 202 "queued"
}

// faultInjector draws each request's faults (see emuserver.Injector), the
// Braze emulator's own draw deciding a 202 "queued" answer.
type faultInjector struct {
	draws emuserver.Injector

	mu         sync.Mutex
	queuedRate float64
}

func (fi *faultInjector) set(f Faults) {
	fi.draws.Set(emuserver.Faults{Seed: f.Seed, ErrorRate: f.ErrorRate, ErrorCodes: f.ErrorCodes,
		SlowRate: f.SlowRate, SlowDelay: f.SlowDelay, ResetRate: f.ResetRate}, true)
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.queuedRate = f.QueuedRate
}

// plan decides the faults of the next request: a request neither reset nor
// failed may be queued.
func (fi *faultInjector) plan() faultPlan {
	p := faultPlan{Plan: fi.draws.Plan()}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	p.queued = !p.Reset && p.ErrorCode == 0 && p.Own < fi.queuedRate
	return p
}
