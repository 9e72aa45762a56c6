package brazeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AnswerKind is what an answer to /users/track means for the request as a
// whole; Answer.Failed then names the objects it refused.
type AnswerKind int

const (
	// Accepted: a 2xx. {"message":"success"} with no errors: every object
	// was queued for processing. With "errors" (non-fatal): "any data not
	// affected by an error in the errors array will still be processed",
	// so the objects named fail and the others are delivered. 202
	// {"message":"queued"} (maintenance: "received and queued") counts as
	// accepted too. Braze's pages show the bodies, not the 2xx code
	// (201 in practice); any 2xx is read the same way.
	Accepted AnswerKind = iota
	// Refused: a fatal 400 whose errors name objects, such as
	// {"message":"Valid data must be provided in the 'attributes', 'events',
	// or 'purchases' fields.","errors":[{"type":...,"input_array":
	// "attributes","index":0}]}. A fatal error means nothing was processed:
	// the objects named fail, the others are sent again.
	Refused
	// Split: a 4xx that names no object (400 "Bad syntax", 400 "Max Input
	// Length Exceeded", 413, or a status Braze does not document for this
	// endpoint). Something in the request is refused but not said which:
	// the request is halved until the culprit is alone, and then it fails
	// with ReasonRequestRejected. This costs at most log2(75) ≈ 7 extra
	// rounds for the objects sharing a request with a bad one.
	Split
	// ConfigFault: 401 ("Unknown or missing REST API Key"), 403 ("Rate plan
	// doesn't support or account is otherwise inactivated", or a key
	// without the users.track permission), 404 ("Unknown REST API Key"), or
	// a redirect (a wrong instance URL). Only a person can fix these: the
	// objects are held, never failed, and retried with a slow backoff.
	ConfigFault
	// Throttled: 429 "Over rate limit". Retried when the rate-limit window
	// resets (see RateLimit.Pause).
	Throttled
	// Transient: 5xx ("You should retry your request with exponential
	// backoff"), 408, and anything else: retried with backoff.
	Transient
)

var answerKindNames = [...]string{"accepted", "refused", "split", "config_fault", "throttled", "transient"}

// String is the kind as a metric label.
func (k AnswerKind) String() string { return answerKindNames[k] }

// Answer is one answer read against the request's objects.
type Answer struct {
	Kind    AnswerKind
	Status  int
	Message string         // Braze's "message", "" when the body had none
	Failed  map[int]string // index of an object in the request -> Braze's error for it
	// Unattributed are errors of the answer that name no object of the
	// request (a plain string, an index out of range, another input
	// array). In a 2xx they change nothing: the objects count as delivered.
	Unattributed []string
}

// errorEntry is one entry of "errors": an object naming the input array and
// index of what it refuses, or, per the generic errors page, a plain string.
type errorEntry struct {
	Type       string `json:"type"`
	InputArray string `json:"input_array"`
	Index      *int   `json:"index"`
}

// ReadAnswer reads an answer to a request of n attributes objects.
func ReadAnswer(status int, body []byte, n int) Answer {
	a := Answer{Status: status}
	var parsed struct {
		Message json.RawMessage   `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		var msg string
		if json.Unmarshal(parsed.Message, &msg) != nil {
			msg = strings.TrimSpace(string(parsed.Message))
		}
		a.Message = msg
		for _, raw := range parsed.Errors {
			a.attribute(raw, n)
		}
	} else if text := strings.TrimSpace(string(body)); text != "" {
		a.Message = truncate(text, 200)
	}
	switch {
	case status >= 200 && status < 300:
		a.Kind = Accepted
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound,
		status >= 300 && status < 400:
		a.Kind = ConfigFault
	case status == http.StatusTooManyRequests:
		a.Kind = Throttled
	case status == http.StatusRequestTimeout:
		a.Kind = Transient
	case status >= 400 && status < 500:
		a.Kind = Split
		if len(a.Failed) > 0 {
			a.Kind = Refused
		}
	default:
		a.Kind = Transient
	}
	return a
}

// attribute files one "errors" entry under the object it names, or as
// unattributed.
func (a *Answer) attribute(raw json.RawMessage, n int) {
	var e errorEntry
	if json.Unmarshal(raw, &e) != nil {
		var text string
		if json.Unmarshal(raw, &text) != nil {
			text = string(raw)
		}
		a.Unattributed = append(a.Unattributed, truncate(text, 200))
		return
	}
	if e.Index == nil || *e.Index < 0 || *e.Index >= n || (e.InputArray != "" && e.InputArray != "attributes") {
		a.Unattributed = append(a.Unattributed, truncate(string(raw), 200))
		return
	}
	if a.Failed == nil {
		a.Failed = map[int]string{}
	}
	if prev, ok := a.Failed[*e.Index]; ok {
		e.Type = prev + "; " + e.Type
	}
	a.Failed[*e.Index] = e.Type
}

// Describe is the answer in a few words for logs and errors: the status and
// Braze's message.
func (a Answer) Describe() string {
	if a.Message == "" {
		return fmt.Sprintf("HTTP %d", a.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", a.Status, a.Message)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// RateLimit is what an answer's rate-limit headers say. "Every single API
// request sent to Braze returns" X-RateLimit-Limit (requests allowed in the
// interval), X-RateLimit-Remaining (requests left in the current window)
// and X-RateLimit-Reset ("the time at which the current rate limit window
// resets in UTC epoch seconds"); Braze sends them lowercased over HTTP/2,
// which http.Header lookups absorb. Retry-After is not documented for this
// endpoint (only X-RateLimit-Retry-After, for the Messaging API); when an
// answer carries either, it is honoured as seconds.
type RateLimit struct {
	Known      bool // the answer had Remaining and Reset
	Limit      int
	Remaining  int
	Reset      time.Time
	RetryAfter time.Duration // 0 when absent
}

// maxPause bounds a pause taken from headers: a Reset or Retry-After further
// than this is taken for a bad header and ignored (backoff applies).
const maxPause = 24 * time.Hour

// ParseRateLimit reads the rate-limit headers of an answer.
func ParseRateLimit(h http.Header) RateLimit {
	var r RateLimit
	limit, errL := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	remaining, errR := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	reset, errS := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 64)
	if errR == nil && errS == nil {
		r.Known, r.Remaining = true, remaining
		r.Reset = time.Unix(0, int64(reset*1e9))
		if errL == nil {
			r.Limit = limit
		}
	}
	for _, name := range []string{"X-RateLimit-Retry-After", "Retry-After"} {
		if s, err := strconv.ParseFloat(strings.TrimSpace(h.Get(name)), 64); err == nil && s > 0 {
			r.RetryAfter = time.Duration(s * float64(time.Second))
			break
		}
	}
	return r
}

// Pause says until when no request should be sent after an answer with
// these headers: after a 429 (throttled), until Retry-After or else the
// window's reset; after any other answer, until the reset when the window
// has no request left. The zero time means no pause is known: after a 429
// without usable headers the caller backs off on its own.
func (r RateLimit) Pause(now time.Time, throttled bool) time.Time {
	if throttled && r.RetryAfter > 0 && r.RetryAfter <= maxPause {
		return now.Add(r.RetryAfter)
	}
	if !r.Known || !r.Reset.After(now) || r.Reset.Sub(now) > maxPause {
		return time.Time{}
	}
	if throttled || r.Remaining <= 0 {
		return r.Reset
	}
	return time.Time{}
}
