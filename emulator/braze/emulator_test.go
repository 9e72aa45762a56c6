package braze

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, key, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/users/track", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var reply map[string]any
	if err := json.Unmarshal(raw, &reply); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, raw)
	}
	return resp, reply
}

func attrs(objs ...string) string { return `{"attributes":[` + strings.Join(objs, ",") + `]}` }

func TestAnswersHaveBrazesDocumentedShapes(t *testing.T) {
	e := New(Config{APIKeys: []string{"key"}, KeysWithoutPermission: []string{"no-perm"}, BlockedExternalIDs: []string{"blocked"}})
	srv := httptest.NewServer(e)
	defer srv.Close()
	var tooMany []string
	for i := range 76 {
		tooMany = append(tooMany, fmt.Sprintf(`{"external_id":"u%d","a":1}`, i))
	}
	tests := []struct {
		name, key, body string
		status          int
		message         string
		errorIndexes    []int
		processed       int
	}{
		{name: "success", key: "key", body: attrs(`{"external_id":"u1","a":1}`, `{"external_id":"u2","a":2}`), status: 201, message: "success", processed: 2},
		{name: "a non-fatal error by index", key: "key", body: attrs(`{"external_id":"u1","a":1}`, `{"external_id":"blocked","a":1}`, `{"a":1}`), status: 201, message: "success", errorIndexes: []int{1, 2}, processed: 1},
		{name: "every object refused", key: "key", body: attrs(`{"external_id":"blocked","a":1}`), status: 400, message: msgNoValidData, errorIndexes: []int{0}},
		{name: "76 objects", key: "key", body: attrs(tooMany...), status: 400, message: msgTooMany},
		{name: "bad JSON", key: "key", body: `{"attributes":`, status: 400, message: msgBadSyntax},
		{name: "no key", body: attrs(`{"external_id":"u1"}`), status: 401, message: msgUnauthorized},
		{name: "an unknown key", key: "other", body: attrs(`{"external_id":"u1"}`), status: 401, message: msgUnauthorized},
		{name: "a key without users.track", key: "no-perm", body: attrs(`{"external_id":"u1"}`), status: 403, message: msgForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, reply := post(t, srv.URL, tt.key, tt.body)
			if resp.StatusCode != tt.status || reply["message"] != tt.message {
				t.Fatalf("answer %d %v, want %d %q", resp.StatusCode, reply, tt.status, tt.message)
			}
			var indexes []int
			errs, _ := reply["errors"].([]any)
			for _, e := range errs {
				m := e.(map[string]any)
				if m["input_array"] != "attributes" || m["type"] == "" {
					t.Errorf("error entry %v", m)
				}
				indexes = append(indexes, int(m["index"].(float64)))
			}
			if !slices.Equal(indexes, tt.errorIndexes) {
				t.Errorf("errors name %v, want %v", indexes, tt.errorIndexes)
			}
			if tt.status == 201 {
				if n, _ := reply["attributes_processed"].(float64); int(n) != tt.processed {
					t.Errorf("attributes_processed %v", reply["attributes_processed"])
				}
			}
			if tt.status != 401 && tt.status != 403 {
				for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
					if resp.Header.Get(h) == "" {
						t.Errorf("no %s header", h)
					}
				}
			}
		})
	}
	if _, ok := e.Users()["blocked"]; ok {
		t.Error("a blocked user was created")
	}
}

func TestTheRateLimitWindowAnswers429WithItsReset(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	e := New(Config{RateLimit: 2, RateWindow: 3 * time.Second, Now: func() time.Time { return now }})
	srv := httptest.NewServer(e)
	defer srv.Close()
	body := attrs(`{"external_id":"u1","a":1}`)
	for i, want := range []int{201, 201, 429} {
		resp, _ := post(t, srv.URL, "k", body)
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
		remaining, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
		if remaining != max(1-i, 0) || resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Reset") != "1700000001.000" {
			t.Errorf("request %d: headers %v", i, resp.Header)
		}
	}
	now = now.Add(3 * time.Second)
	if resp, _ := post(t, srv.URL, "k", body); resp.StatusCode != 201 {
		t.Fatalf("the next window: %d", resp.StatusCode)
	}
}

func TestProfilesChangeAsBrazeDocuments(t *testing.T) {
	var ops []Op
	e := New(Config{MaxArrayElements: 3, Aliases: []string{AliasKey("amp", "dev-1")}, Record: func(op Op) { ops = append(ops, op) }})
	srv := httptest.NewServer(e)
	defer srv.Close()
	steps := []string{
		`{"external_id":"u1","arr":["a","b","a"],"s":"x","n":1}`,
		`{"external_id":"u1","arr":{"add":["a","c"]}}`,      // a moves to the end
		`{"external_id":"u1","arr":{"add":["d"]}}`,          // over 3: the oldest goes
		`{"external_id":"u1","arr":{"remove":["c","zz"]}}`,  // removing an absent value is a no-op
		`{"external_id":"u1","s":null,"n":{"inc":2}}`,       // null unsets
		`{"external_id":"u2","_update_existing_only":true}`, // no such profile: nothing
		`{"user_alias":{"alias_name":"dev-1","alias_label":"amp"},"x":true}`,
		`{"user_alias":{"alias_name":"dev-2","alias_label":"amp"},"x":true}`, // no such alias
	}
	for _, s := range steps {
		if resp, reply := post(t, srv.URL, "k", attrs(s)); resp.StatusCode != 201 {
			t.Fatalf("%s: %d %v", s, resp.StatusCode, reply)
		}
	}
	users := e.Users()
	if got := users["u1"]["arr"]; !slices.Equal(got.([]string), []string{"a", "d"}) {
		t.Errorf("arr = %v, want [a d]", got)
	}
	if _, ok := users["u1"]["s"]; ok || users["u1"]["n"] != 3.0 {
		t.Errorf("u1 = %v", users["u1"])
	}
	if _, ok := users["u2"]; ok {
		t.Error("an update-only object created a profile")
	}
	if users[AliasKey("amp", "dev-1")]["x"] != true {
		t.Errorf("the existing alias was not updated: %v", users)
	}
	if _, ok := users[AliasKey("amp", "dev-2")]; ok || e.Stats().ObjectsUnmatched != 2 {
		t.Errorf("an unknown alias was created, or not counted: %+v", e.Stats())
	}
	var adds []string
	for _, op := range ops {
		if op.Op == "add" {
			adds = append(adds, op.Value.(string))
		}
	}
	if !slices.Equal(adds, []string{"a", "c", "d"}) {
		t.Errorf("recorded adds %v", adds)
	}
}

func TestFaultsFailBeforeAnythingIsApplied(t *testing.T) {
	body := attrs(`{"external_id":"u1","a":1}`)
	t.Run("5xx", func(t *testing.T) {
		e := New(Config{Faults: Faults{ErrorRate: 1, ErrorCodes: []int{503}}})
		srv := httptest.NewServer(e)
		defer srv.Close()
		if resp, _ := post(t, srv.URL, "k", body); resp.StatusCode != 503 {
			t.Fatalf("%d", resp.StatusCode)
		}
		if len(e.Users()) != 0 {
			t.Error("applied")
		}
	})
	t.Run("reset", func(t *testing.T) {
		e := New(Config{Faults: Faults{ResetRate: 1}})
		srv := httptest.NewServer(e)
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/users/track", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("answered %d", resp.StatusCode)
		}
		if len(e.Users()) != 0 || e.Stats().Requests["reset"] != 1 {
			t.Errorf("applied, or not counted: %+v", e.Stats())
		}
	})
	t.Run("slow, the client gone", func(t *testing.T) {
		e := New(Config{Faults: Faults{SlowRate: 1, SlowDelay: 2 * time.Second}})
		srv := httptest.NewServer(e)
		defer srv.Close()
		client := &http.Client{Timeout: 100 * time.Millisecond}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/users/track", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("answered %d", resp.StatusCode)
		}
		deadline := time.Now().Add(5 * time.Second)
		for e.Stats().Requests["gone"] == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if len(e.Users()) != 0 || e.Stats().Requests["gone"] != 1 {
			t.Errorf("applied, or not counted: %+v", e.Stats())
		}
	})
	t.Run("queued", func(t *testing.T) {
		e := New(Config{Faults: Faults{QueuedRate: 1}})
		srv := httptest.NewServer(e)
		defer srv.Close()
		if resp, reply := post(t, srv.URL, "k", body); resp.StatusCode != 202 || reply["message"] != "queued" {
			t.Fatalf("%d %v", resp.StatusCode, reply)
		}
		if e.Users()["u1"]["a"] != 1.0 {
			t.Error("a queued request was not applied")
		}
	})
}

func TestOtherPathsAndMethods(t *testing.T) {
	srv := httptest.NewServer(New(Config{}))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/users/track", 405}, {"POST", "/nope", 404}, {"GET", "/_emulator/users", 200}, {"GET", "/_emulator/stats", 200}, {"POST", "/_emulator/stats", 405}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
}
