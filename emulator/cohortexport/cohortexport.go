// Package cohortexport is a local stand-in for the export part of
// Amplitude's Behavioral Cohorts API, for testing the
// amplitude_cohort_export input:
//
//	srv, err := cohortexport.Start(cohortexport.Config{APIKey: "k", SecretKey: "s"})
//	defer srv.Close()
//	srv.SetCohort(cohortexport.Cohort{ID: "abcd1234", Name: "TEST_COHORT", Users: []string{"u1"}})
//	// point the input's endpoint at srv.URL
//
// It serves GET /api/3/cohorts, GET /api/5/cohorts/request/{id} (202
// {request_id, cohort_id}, counted against the monthly limit), GET
// /api/5/cohorts/request-status/{request_id} (202 "JOB INPROGRESS" for
// Config.PollsBeforeDone polls, then 200 "JOB COMPLETED") and GET
// /api/5/cohorts/request/{request_id}/file, which redirects (302) to a
// one-time download URL as Amplitude does for large cohorts. The file is
// CSV with a header row (amplitude_id, user_id, device_id), the
// membership as it was when the cohort was requested. HTTP Basic
// authentication with the API key and secret key; 429 past the monthly
// limit or past the concurrency limit.
package cohortexport

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
	"github.com/connect-amplitude/connect-amplitude/internal/emuserver"
)

// Config sets the emulator's behaviour.
type Config struct {
	APIKey, SecretKey string
	MonthlyLimit      int // Get one cohort requests allowed; default 500
	PollsBeforeDone   int // status polls answered "JOB INPROGRESS" before "JOB COMPLETED"
	// FailRequests answers this many Get one cohort requests with 503 before
	// serving them, to test retries.
	FailRequests int
}

// Cohort is one cohort and its members.
type Cohort struct {
	ID, Name     string
	LastComputed int64    // served as lastComputed; SetCohort bumps it when 0
	Users        []string // members by user_id
	Devices      []string // members known only by a device id
}

// Counts are the requests served, by kind.
type Counts struct {
	List, Request, Status, File, Download int
	Unauthorized, Refused                 int
	MaxConcurrent                         int
}

// Server is the emulator listening on loopback.
type Server struct {
	URL string
	cfg Config
	srv *emuserver.Server

	mu       sync.Mutex
	cohorts  map[string]Cohort
	requests map[string]*request
	counts   Counts
	inFlight int
	next     int
}

type request struct {
	cohort Cohort // as requested
	polls  int
	token  string // the one-time download path's token; "" once used
}

// Start serves a new emulator on a free port of 127.0.0.1.
func Start(cfg Config) (*Server, error) {
	if cfg.MonthlyLimit <= 0 {
		cfg.MonthlyLimit = cohorts.MonthlyRequestBudget
	}
	s := &Server{cfg: cfg, cohorts: map[string]Cohort{}, requests: map[string]*request{}}
	var err error
	if s.srv, err = emuserver.Listen("127.0.0.1:0", http.HandlerFunc(s.serve)); err != nil {
		return nil, err
	}
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server at once, closing open connections.
func (s *Server) Close() { s.srv.Close() }

// SetCohort adds or replaces a cohort; a LastComputed of 0 is set to one
// more than the cohort had, as a recomputation would.
func (s *Server) SetCohort(c Cohort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.LastComputed == 0 {
		c.LastComputed = s.cohorts[c.ID].LastComputed + 1
	}
	c.Users, c.Devices = slices.Clone(c.Users), slices.Clone(c.Devices)
	s.cohorts[c.ID] = c
}

// Counts returns the requests served so far.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inFlight++
	s.counts.MaxConcurrent = max(s.counts.MaxConcurrent, s.inFlight)
	over := s.inFlight > cohorts.MaxConcurrentRequests
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if strings.HasPrefix(r.URL.Path, "/download/") {
		s.download(w, strings.TrimPrefix(r.URL.Path, "/download/"))
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != s.cfg.APIKey || pass != s.cfg.SecretKey {
		s.mu.Lock()
		s.counts.Unauthorized++
		s.mu.Unlock()
		http.Error(w, `{"error":"Invalid API key or secret key"}`, http.StatusUnauthorized)
		return
	}
	if over {
		s.refuse(w, "Too many concurrent requests")
		return
	}
	p := r.URL.Path
	switch {
	case p == cohorts.ExportListPath:
		s.list(w)
	case strings.HasPrefix(p, cohorts.ExportStatusPath):
		s.status(w, strings.TrimPrefix(p, cohorts.ExportStatusPath))
	case strings.HasPrefix(p, cohorts.ExportRequestPath) && strings.HasSuffix(p, cohorts.ExportFileSuffix):
		s.file(w, r, strings.TrimSuffix(strings.TrimPrefix(p, cohorts.ExportRequestPath), cohorts.ExportFileSuffix))
	case strings.HasPrefix(p, cohorts.ExportRequestPath):
		s.request(w, strings.TrimPrefix(p, cohorts.ExportRequestPath))
	default:
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
	}
}

func (s *Server) refuse(w http.ResponseWriter, why string) {
	s.mu.Lock()
	s.counts.Refused++
	s.mu.Unlock()
	http.Error(w, fmt.Sprintf(`{"error":%q}`, why), http.StatusTooManyRequests)
}

func (s *Server) list(w http.ResponseWriter) {
	s.mu.Lock()
	s.counts.List++
	type entry struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		LastComputed int64  `json:"lastComputed"`
		Size         int    `json:"size"`
		Archived     bool   `json:"archived"`
	}
	out := []entry{}
	for _, id := range slices.Sorted(maps.Keys(s.cohorts)) {
		c := s.cohorts[id]
		out = append(out, entry{ID: c.ID, Name: c.Name, LastComputed: c.LastComputed, Size: len(c.Users) + len(c.Devices)})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"cohorts": out})
}

func (s *Server) request(w http.ResponseWriter, id string) {
	s.mu.Lock()
	if s.counts.Request >= s.cfg.MonthlyLimit {
		s.mu.Unlock()
		s.refuse(w, "Monthly cohort download limit reached")
		return
	}
	s.counts.Request++
	if s.cfg.FailRequests > 0 {
		s.cfg.FailRequests--
		s.mu.Unlock()
		http.Error(w, `{"error":"Service Unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	c, ok := s.cohorts[id]
	if !ok {
		s.mu.Unlock()
		http.Error(w, `{"error":"cohort not found"}`, http.StatusNotFound)
		return
	}
	s.next++
	rid := "req" + strconv.Itoa(s.next)
	s.requests[rid] = &request{cohort: c}
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"request_id": rid, "cohort_id": id})
}

func (s *Server) status(w http.ResponseWriter, rid string) {
	s.mu.Lock()
	s.counts.Status++
	req, ok := s.requests[rid]
	if !ok {
		s.mu.Unlock()
		http.Error(w, `{"error":"request not found"}`, http.StatusNotFound)
		return
	}
	req.polls++
	done := req.polls > s.cfg.PollsBeforeDone
	id := req.cohort.ID
	s.mu.Unlock()
	if !done {
		writeJSON(w, http.StatusAccepted, map[string]string{"request_id": rid, "cohort_id": id, "async_status": cohorts.StatusInProgress})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"request_id": rid, "cohort_id": id, "async_status": cohorts.StatusCompleted})
}

func (s *Server) file(w http.ResponseWriter, r *http.Request, rid string) {
	s.mu.Lock()
	s.counts.File++
	req, ok := s.requests[rid]
	if !ok || req.polls <= s.cfg.PollsBeforeDone {
		s.mu.Unlock()
		http.Error(w, `{"error":"request not completed"}`, http.StatusNotFound)
		return
	}
	req.token = fmt.Sprintf("%s-%d", rid, s.counts.File)
	token := req.token
	s.mu.Unlock()
	http.Redirect(w, r, "/download/"+token, http.StatusFound)
}

// download serves the one-time URL a file request redirected to; like
// Amplitude's pre-signed S3 URL it needs no credentials.
func (s *Server) download(w http.ResponseWriter, token string) {
	s.mu.Lock()
	var c *Cohort
	for _, req := range s.requests {
		if req.token != "" && req.token == token {
			req.token = ""
			c = &req.cohort
			break
		}
	}
	if c != nil {
		s.counts.Download++
	}
	s.mu.Unlock()
	if c == nil {
		http.Error(w, "expired", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/csv")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"amplitude_id", "user_id", "device_id"})
	n := 1000
	for _, u := range c.Users {
		n++
		_ = cw.Write([]string{strconv.Itoa(n), u, ""})
	}
	for _, d := range c.Devices {
		n++
		_ = cw.Write([]string{strconv.Itoa(n), "", d})
	}
	cw.Flush()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // maps and strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
