package cohortexport

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
)

func get(t *testing.T, url string, auth bool) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth {
		req.SetBasicAuth("k", "s")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusFound {
		return resp.StatusCode, []byte(resp.Header.Get("Location"))
	}
	return resp.StatusCode, b
}

func TestTheExportAPIAnswersAsDocumented(t *testing.T) {
	srv, err := Start(Config{APIKey: "k", SecretKey: "s", MonthlyLimit: 2, PollsBeforeDone: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetCohort(Cohort{ID: "c1", Name: "A", Users: []string{"u1"}})

	if status, _ := get(t, srv.URL+cohorts.ExportListPath, false); status != 401 {
		t.Errorf("no credentials: %d", status)
	}
	if status, _ := get(t, srv.URL+cohorts.ExportRequestPath+"nope", true); status != 404 {
		t.Errorf("an unknown cohort: %d", status)
	}
	status, body := get(t, srv.URL+cohorts.ExportRequestPath+"c1", true)
	var req cohorts.RequestAnswer
	if status != 202 || json.Unmarshal(body, &req) != nil || req.CohortID != "c1" {
		t.Fatalf("Get one cohort: %d %s", status, body)
	}
	if status, _ := get(t, srv.URL+cohorts.ExportRequestPath+req.RequestID+cohorts.ExportFileSuffix, true); status != 404 {
		t.Errorf("a file before the job is done: %d", status)
	}
	for i, want := range []struct {
		code   int
		status string
	}{{202, cohorts.StatusInProgress}, {200, cohorts.StatusCompleted}} {
		status, body := get(t, srv.URL+cohorts.ExportStatusPath+req.RequestID, true)
		var st cohorts.RequestAnswer
		if status != want.code || json.Unmarshal(body, &st) != nil || st.AsyncStatus != want.status {
			t.Errorf("poll %d: %d %s", i, status, body)
		}
	}
	status, location := get(t, srv.URL+cohorts.ExportRequestPath+req.RequestID+cohorts.ExportFileSuffix, true)
	if status != 302 {
		t.Fatalf("file: %d", status)
	}
	// The download link needs no credentials and serves once.
	if status, body := get(t, srv.URL+string(location), false); status != 200 || string(body) != "amplitude_id,user_id,device_id\n1001,u1,\n" {
		t.Errorf("download: %d %q", status, body)
	}
	if status, _ := get(t, srv.URL+string(location), false); status != 403 {
		t.Errorf("a second download: %d", status)
	}
	// The monthly limit: two requests, the unknown cohort's included.
	if status, _ := get(t, srv.URL+cohorts.ExportRequestPath+"c1", true); status != 429 {
		t.Errorf("over the monthly limit: %d", status)
	}
	if c := srv.Counts(); c.Request != 2 || c.Refused != 1 || c.Unauthorized != 1 || c.Download != 1 {
		t.Errorf("counts %+v", c)
	}
}
