// Package braze is a local stand-in for Braze's POST /users/track, for
// tests and dry runs, in the spirit of net/http/httptest:
//
//	srv, err := braze.Start(braze.Config{})
//	defer srv.Close()
//	// point braze_users_track's instance_url at srv.URL, then read srv.Users()
//
// It answers as Braze documents (package brazeapi holds the rules it shares
// with the braze_users_track output): Bearer REST API keys (401 unknown, 403
// without the users.track permission), at most 75 objects a request, the
// rate limit per fixed window with X-RateLimit-Limit, -Remaining and -Reset
// on every answer and 429 past it, each object checked and refused by
// index in "errors" (non-fatal in a 201, fatal in a 400 when none is
// valid), and the valid ones applied to in-memory user profiles: scalars
// set, arrays replaced or changed with {"add": [...]} and {"remove": [...]},
// null removing an attribute. On top, injected faults: 5xx, slow answers,
// connection resets, 202 "queued" answers, blocked external ids.
//
// GET /_emulator/users serves the profiles and GET /_emulator/stats the
// counters, for dry runs and end-to-end tests.
package braze

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
)

// Config sets the emulator's limits and behaviour; zero fields take Braze's
// defaults.
type Config struct {
	// APIKeys are the accepted REST API keys, with the users.track
	// permission. Empty: any non-empty key.
	APIKeys []string
	// KeysWithoutPermission are keys Braze knows that lack users.track:
	// answered 403.
	KeysWithoutPermission []string
	RateLimit             int           // requests per RateWindow; default 3,000
	RateWindow            time.Duration // default 3s
	MaxArrayElements      int           // default 25; longer arrays lose their oldest elements
	// BlockedExternalIDs are refused object by object with Braze's
	// "provided external_id is blacklisted and disallowed".
	BlockedExternalIDs []string
	// Aliases are alias-only profiles that exist from the start, as
	// "label\x00name" keys made by AliasKey: an object naming another
	// alias updates nobody, as Braze's update-only default for aliases.
	Aliases []string
	Faults  Faults
	Now     func() time.Time

	// Record, when set, receives every change applied to a profile, in the
	// order they were applied.
	Record func(Op)
}

// Faults are failures injected on top of Braze's own answers. Rates are
// shares of requests from 0 to 1, drawn from a generator seeded with Seed.
type Faults struct {
	Seed       int64
	ErrorRate  float64 // answered with one of ErrorCodes, nothing applied
	ErrorCodes []int   // default {500, 502, 503, 504}
	SlowRate   float64 // answered after SlowDelay; nothing applied if the client left first
	SlowDelay  time.Duration
	ResetRate  float64 // connection closed without an answer, nothing applied
	QueuedRate float64 // applied, then answered 202 {"message":"queued"}
}

// AliasKey is the key of an alias-only profile in Users and Config.Aliases.
func AliasKey(label, name string) string { return "alias:" + label + "\x00" + name }

// Op is one change applied to a profile.
type Op struct {
	User      string `json:"user"` // external_id, or AliasKey for an alias-only profile
	Attribute string `json:"attribute"`
	Op        string `json:"op"` // add, remove, set, unset
	Value     any    `json:"value,omitempty"`
}

// Emulator is the http.Handler. Its methods are safe for concurrent use.
type Emulator struct {
	cfg     Config
	keys    map[string]bool
	noPerm  map[string]bool
	blocked map[string]bool
	faults  faultInjector

	mu       sync.Mutex
	profiles map[string]map[string]any
	window   time.Time // start of the current rate-limit window
	used     int       // requests counted in it
	stats    Stats
}

// Stats are the emulator's counters.
type Stats struct {
	Requests       map[string]int `json:"requests"` // by HTTP status, "reset" without an answer
	ObjectsApplied int            `json:"objects_applied"`
	ObjectsRefused int            `json:"objects_refused"`
	// QueuedRefused are refused objects of requests answered 202 "queued":
	// Braze processes those later and reports nothing about them.
	QueuedRefused    int `json:"queued_refused"`
	ObjectsUnmatched int `json:"objects_unmatched"` // alias objects matching no profile
	OpsApplied       int `json:"ops_applied"`
	SlowAnswers      int `json:"slow_answers"`
}

// New returns an emulator configured by cfg.
func New(cfg Config) *Emulator {
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = brazeapi.RequestsPerWindow
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = brazeapi.RateWindow
	}
	if cfg.MaxArrayElements <= 0 {
		cfg.MaxArrayElements = brazeapi.DefaultMaxArrayElements
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Emulator{
		cfg:     cfg,
		keys:    setOf(cfg.APIKeys),
		noPerm:  setOf(cfg.KeysWithoutPermission),
		blocked: setOf(cfg.BlockedExternalIDs),
	}
	e.faults.set(cfg.Faults)
	e.Reset()
	return e
}

func setOf(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// SetFaults replaces the injected faults from the next request on.
func (e *Emulator) SetFaults(f Faults) { e.faults.set(f) }

// Reset forgets profiles (keeping Config.Aliases), counters and the rate
// window.
func (e *Emulator) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.profiles = map[string]map[string]any{}
	for _, a := range e.cfg.Aliases {
		e.profiles[a] = map[string]any{}
	}
	e.window, e.used = time.Time{}, 0
	e.stats = Stats{Requests: map[string]int{}}
}

// Users returns a copy of every profile's attributes, by external_id or
// AliasKey. Array attributes are []string.
func (e *Emulator) Users() map[string]map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]map[string]any, len(e.profiles))
	for id, attrs := range e.profiles {
		c := maps.Clone(attrs)
		for k, v := range c {
			if list, ok := v.([]string); ok {
				c[k] = slices.Clone(list)
			}
		}
		out[id] = c
	}
	return out
}

// Stats returns the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Requests = maps.Clone(s.Requests)
	return s
}

// apply applies one valid attributes object; it reports false when the
// object names an alias no profile has. The caller holds mu.
func (e *Emulator) apply(obj map[string]json.RawMessage) bool {
	user, existingOnly := e.identify(obj)
	attrs, ok := e.profiles[user]
	if !ok {
		if existingOnly {
			return false
		}
		attrs = map[string]any{}
		e.profiles[user] = attrs
	}
	keys := slices.Collect(maps.Keys(obj))
	sort.Strings(keys) // one order for the record
	for _, k := range keys {
		if !brazeapi.IsCustomAttribute(k) {
			continue
		}
		e.applyValue(user, attrs, k, obj[k])
	}
	return true
}

// identify returns the profile key an object names, and whether only an
// existing profile may be updated: "When using a user_alias, Update Only
// defaults to true"; with an external_id it defaults to false.
func (e *Emulator) identify(obj map[string]json.RawMessage) (string, bool) {
	var only *bool
	if v, ok := obj["_update_existing_only"]; ok {
		var b bool
		if json.Unmarshal(v, &b) == nil {
			only = &b
		}
	}
	var s string
	if v, ok := obj["external_id"]; ok && json.Unmarshal(v, &s) == nil {
		return s, only != nil && *only
	}
	if v, ok := obj["user_alias"]; ok {
		var a struct {
			Name  string `json:"alias_name"`
			Label string `json:"alias_label"`
		}
		_ = json.Unmarshal(v, &a) // checked before
		return AliasKey(a.Label, a.Name), only == nil || *only
	}
	for _, k := range []string{"braze_id", "email", "phone"} {
		if v, ok := obj[k]; ok && json.Unmarshal(v, &s) == nil {
			return k + ":" + s, only != nil && *only
		}
	}
	return "", true
}

// applyValue applies one attribute's value. The caller holds mu.
func (e *Emulator) applyValue(user string, attrs map[string]any, key string, raw json.RawMessage) {
	record := func(op string, v any) {
		e.stats.OpsApplied++
		if e.cfg.Record != nil {
			e.cfg.Record(Op{User: user, Attribute: key, Op: op, Value: v})
		}
	}
	var v any
	_ = json.Unmarshal(raw, &v) // checked valid JSON before
	switch val := v.(type) {
	case nil:
		delete(attrs, key)
		record("unset", nil)
	case []any:
		list := e.truncate(appendUnique(nil, val))
		attrs[key] = list
		record("set", list)
	case map[string]any:
		add, hasAdd := val["add"].([]any)
		remove, hasRemove := val["remove"].([]any)
		inc, hasInc := val["inc"].(float64)
		switch {
		case hasAdd || hasRemove:
			list, _ := attrs[key].([]string)
			list = slices.Clone(list)
			for _, r := range remove {
				s := text(r)
				list = slices.DeleteFunc(list, func(x string) bool { return x == s })
				record("remove", s)
			}
			for _, a := range add {
				record("add", text(a))
			}
			attrs[key] = e.truncate(appendUnique(list, add))
		case hasInc:
			n, _ := attrs[key].(float64)
			attrs[key] = n + inc
			record("set", n+inc)
		default:
			attrs[key] = val
			record("set", val)
		}
	default:
		attrs[key] = val
		record("set", val)
	}
}

// appendUnique appends values to list as Braze arrays take them: "Adding an
// element to a custom attribute array appends the element to the end of
// the array, unless it's already present, in which case it gets moved from
// its current position to the end of the array".
func appendUnique(list []string, values []any) []string {
	for _, v := range values {
		s := text(v)
		list = slices.DeleteFunc(list, func(x string) bool { return x == s })
		list = append(list, s)
	}
	if list == nil {
		list = []string{}
	}
	return list
}

// truncate keeps the newest MaxArrayElements elements. Braze documents the
// truncation but not which elements go; the oldest do here.
func (e *Emulator) truncate(list []string) []string {
	if over := len(list) - e.cfg.MaxArrayElements; over > 0 {
		return list[over:]
	}
	return list
}

func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
