package amplitudecohorts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
	"github.com/connect-amplitude/connect-amplitude/internal/httpclient"
	"github.com/connect-amplitude/connect-amplitude/internal/pushserver"
	"github.com/connect-amplitude/connect-amplitude/internal/wait"
)

const (
	fieldRegion         = "region"
	fieldEndpoint       = "endpoint"
	fieldAPIKey         = "api_key"
	fieldSecretKey      = "secret_key"
	fieldCohortIDs      = "cohort_ids"
	fieldInterval       = "interval"
	fieldMonthlyBudget  = "monthly_request_budget"
	fieldStateFile      = "state_file"
	fieldPollInterval   = "poll_interval"
	fieldPollTimeout    = "poll_timeout"
	fieldRetryInterval  = "retry_interval"
	fieldBatchSize      = "batch_size"
	fieldRequestTimeout = "request_timeout"
)

func init() {
	service.MustRegisterBatchInput("amplitude_cohort_export", exportSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newExportInput(conf, mgr)
		})
}

func exportSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Polls Amplitude's Behavioral Cohorts export API and emits the membership changes since the last sync, for teams without the Cohort Webhooks destination.").
		Description(`Every `+"`interval`"+`, the input lists the project's cohorts (GET /api/3/cohorts, once for all the cohorts due) and, for each cohort of `+"`cohort_ids`"+` whose `+"`lastComputed`"+` changed since its last sync, requests the cohort (GET /api/5/cohorts/request/{id}), polls the request (GET /api/5/cohorts/request-status/{request_id}) every `+"`poll_interval`"+` until it is done, downloads the file (GET /api/5/cohorts/request/{request_id}/file, following Amplitude's redirect), and diffs its members against the last sync kept in `+"`state_file`"+`. Each user who entered or left becomes one message, the same membership change record the `+"`amplitude_cohort_webhook`"+` input emits (`+"`message_id`"+` is `+"`export:<cohort_id>:<request_id>`"+`), in batches of `+"`batch_size`"+`. The first sync of a cohort emits every member as entering.

The state file is written (atomically) once every change of a sync is acknowledged: after a crash the next sync diffs against the last complete one, and the changes not yet acknowledged are emitted again, which leaves Braze as once. Point `+"`state_file`"+` at a persistent volume: without it every member is sent again as entering. The state holds every member's id (about 30 bytes each: 2 million members, Amplitude's largest cohort, make about 60 MB).

Limits (Amplitude's documentation): 500 Get one cohort requests a month on Growth and Enterprise plans, 5 concurrent requests across cohort downloads and the Dashboard REST API, and 60 single cohort requests per 10 minutes. The input makes one request at a time, requests a cohort only when its `+"`lastComputed`"+` changed, counts its requests per calendar month in the state file and stops requesting for the month at `+"`monthly_request_budget`"+`, and refuses a schedule that could exceed the budget: polling n cohorts every `+"`interval`"+` costs up to n × 31 days / interval requests a month. With the default budget of 500: 1 cohort every 2h, 3 cohorts every 5h, 10 cohorts every 15h, 16 cohorts daily. Share the budget with any other use of the API by lowering `+"`monthly_request_budget`"+`.

The export file's format is not documented: the input reads CSV with a header row and a `+"`user_id`"+` column (a `+"`device_id`"+` column, when present, gives the members without a user id), plain or gzip-compressed.`).
		Fields(
			service.NewStringEnumField(fieldRegion, "us", "eu").Default("us").
				Description("Amplitude's data region: `us` (https://amplitude.com) or `eu` (https://analytics.eu.amplitude.com)."),
			service.NewStringField(fieldEndpoint).Default("").
				Description("A base URL overriding `region`, for a proxy or an emulator.").Example("http://127.0.0.1:8767"),
			service.NewStringField(fieldAPIKey).Secret().
				Description("The Amplitude project's API key. Use an environment variable: `${AMPLITUDE_API_KEY}`."),
			service.NewStringField(fieldSecretKey).Secret().
				Description("The Amplitude project's secret key. Use an environment variable: `${AMPLITUDE_SECRET_KEY}`."),
			service.NewStringListField(fieldCohortIDs).
				Description("The ids of the cohorts to sync, as in the cohort's URL in Amplitude."),
			service.NewDurationField(fieldInterval).Default("24h").
				Description("How often each cohort is synced; it must fit the monthly budget (see above)."),
			service.NewIntField(fieldMonthlyBudget).Default(cohorts.MonthlyRequestBudget).
				Description("Get one cohort requests allowed per calendar month."),
			service.NewStringField(fieldStateFile).
				Description("The file keeping the last sync of each cohort and the month's request count; created when missing."),
			service.NewDurationField(fieldPollInterval).Default("10s").
				Description("How often a cohort request's status is polled.").Advanced(),
			service.NewDurationField(fieldPollTimeout).Default("1h").
				Description("How long a cohort request may take before the sync is retried.").Advanced(),
			service.NewDurationField(fieldRetryInterval).Default("10m").
				Description("The wait before a failed sync is tried again (each try may cost a request of the budget).").Advanced(),
			service.NewDurationField(fieldRequestTimeout).Default("1m").
				Description("The time a request may take; a file download may take 30 times as long.").Advanced(),
			service.NewIntField(fieldBatchSize).Default(500).
				Description("Changes per message batch."),
		).
		Example("Daily sync of three cohorts to Braze", "", `
input:
  amplitude_cohort_export:
    api_key: ${AMPLITUDE_API_KEY}
    secret_key: ${AMPLITUDE_SECRET_KEY}
    cohort_ids: [ abcd1234, efgh5678, ijkl9012 ]
    interval: 24h
    state_file: /var/lib/connect-amplitude/cohorts-state.json
pipeline:
  processors:
    - amplitude_cohort_to_braze: {}
output:
  braze_users_track:
    instance_url: https://rest.iad-01.braze.com
    api_key: ${BRAZE_API_KEY}
`)
}

// exportInput is the amplitude_cohort_export input. A syncer goroutine
// started by Connect does the work and hands batches to ReadBatch.
type exportInput struct {
	base             string
	apiKey, secret   string
	cohortIDs        []string
	interval         time.Duration
	budget           int
	statePath        string
	pollInterval     time.Duration
	pollTimeout      time.Duration
	retryInterval    time.Duration
	requestTimeout   time.Duration
	batchSize        int
	client           *http.Client
	log              *service.Logger
	mRequests        *service.MetricCounter
	mChanges         *service.MetricCounter
	mSyncs           *service.MetricCounter
	now              func() time.Time
	state            cohorts.State
	queue            *pushserver.Queue
	startOnce        sync.Once
	stop             context.CancelFunc
	stopped          chan struct{}
	lastBudgetReport string
}

func newExportInput(conf *service.ParsedConfig, mgr *service.Resources) (*exportInput, error) {
	i := &exportInput{
		log:       mgr.Logger(),
		mRequests: mgr.Metrics().NewCounter("amplitude_cohort_export_requests", "kind"),
		mChanges:  mgr.Metrics().NewCounter("amplitude_cohort_export_changes", "in_cohort"),
		mSyncs:    mgr.Metrics().NewCounter("amplitude_cohort_export_syncs", "outcome"),
		now:       time.Now,
		queue:     pushserver.NewQueue(),
		stopped:   make(chan struct{}),
		client: &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			return nil
		}},
	}
	var err error
	if i.base, err = exportBase(conf); err != nil {
		return nil, err
	}
	if i.apiKey, err = conf.FieldString(fieldAPIKey); err != nil {
		return nil, err
	}
	if i.secret, err = conf.FieldString(fieldSecretKey); err != nil {
		return nil, err
	}
	if i.apiKey == "" || i.secret == "" {
		return nil, fmt.Errorf("%s and %s must both be set: the export API authenticates with both", fieldAPIKey, fieldSecretKey)
	}
	if i.cohortIDs, err = conf.FieldStringList(fieldCohortIDs); err != nil {
		return nil, err
	}
	for k, id := range i.cohortIDs {
		if strings.TrimSpace(id) == "" || strings.ContainsAny(id, "/?#") {
			return nil, fmt.Errorf("%s[%d]: %q is not a cohort id", fieldCohortIDs, k, id)
		}
	}
	i.cohortIDs = slices.Compact(slices.Sorted(slices.Values(i.cohortIDs)))
	if len(i.cohortIDs) == 0 {
		return nil, fmt.Errorf("%s: empty: name the cohorts to sync", fieldCohortIDs)
	}
	if i.interval, err = conf.FieldDuration(fieldInterval); err != nil {
		return nil, err
	}
	if i.budget, err = conf.FieldInt(fieldMonthlyBudget); err != nil {
		return nil, err
	}
	if i.budget < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldMonthlyBudget)
	}
	if i.interval <= 0 {
		return nil, fmt.Errorf("%s: must be positive", fieldInterval)
	}
	if n := cohorts.RequestsPerMonth(len(i.cohortIDs), i.interval); n > i.budget {
		return nil, fmt.Errorf("%s: %d cohorts every %s may cost %d requests a month, over %s %d: sync them every %s or less often",
			fieldInterval, len(i.cohortIDs), i.interval, n, fieldMonthlyBudget, i.budget, cohorts.MinInterval(len(i.cohortIDs), i.budget).Round(time.Minute))
	}
	if i.statePath, err = conf.FieldString(fieldStateFile); err != nil {
		return nil, err
	}
	if i.statePath == "" {
		return nil, fmt.Errorf("%s: empty: the input needs a file to keep the last sync in", fieldStateFile)
	}
	if i.state, err = loadState(i.statePath); err != nil {
		return nil, fmt.Errorf("%s: %w", fieldStateFile, err)
	}
	for name, d := range map[string]*time.Duration{fieldPollInterval: &i.pollInterval, fieldPollTimeout: &i.pollTimeout, fieldRetryInterval: &i.retryInterval, fieldRequestTimeout: &i.requestTimeout} {
		if *d, err = conf.FieldDuration(name); err != nil {
			return nil, err
		}
		if *d <= 0 {
			return nil, fmt.Errorf("%s: must be positive", name)
		}
	}
	if i.batchSize, err = conf.FieldInt(fieldBatchSize); err != nil {
		return nil, err
	}
	if i.batchSize < 1 {
		return nil, fmt.Errorf("%s: must be at least 1", fieldBatchSize)
	}
	return i, nil
}

// exportBase is the export API's base URL, without a trailing /.
func exportBase(conf *service.ParsedConfig) (string, error) {
	base, err := httpclient.EndpointOrRegion(conf, fieldEndpoint, fieldRegion, func(region string) (string, error) {
		return cohorts.ExportRegions[region], nil
	}, "")
	return strings.TrimSuffix(base, "/"), err
}

// loadState reads the state file; a missing file is a first run.
func loadState(path string) (cohorts.State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return cohorts.State{}, fmt.Errorf("its directory: %w", err)
		}
		return cohorts.NewState(), nil
	}
	if err != nil {
		return cohorts.State{}, err
	}
	s, err := cohorts.ParseState(b)
	if err != nil {
		return cohorts.State{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// saveState writes the state file atomically: a crash leaves the old or
// the new state, never half of one.
func (i *exportInput) saveState() error {
	tmp, err := os.CreateTemp(filepath.Dir(i.statePath), filepath.Base(i.statePath)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(i.state.Marshal())
	if err == nil {
		err = tmp.Sync()
	}
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), i.statePath)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", fieldStateFile, err)
	}
	return nil
}

// Connect starts the syncer once.
func (i *exportInput) Connect(context.Context) error {
	i.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		i.stop = cancel
		go func() {
			defer close(i.stopped)
			i.syncLoop(ctx)
		}()
	})
	return nil
}

// ReadBatch returns the next batch of changes.
func (i *exportInput) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	return i.queue.ReadBatch(ctx)
}

// Close stops the syncer; a sync not yet acknowledged is done again at the
// next start.
func (i *exportInput) Close(ctx context.Context) error {
	if i.stop == nil {
		i.queue.Close()
		return nil
	}
	i.stop()
	i.queue.Close()
	select {
	case <-i.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syncLoop syncs the cohorts as they fall due, until ctx ends. The cohorts
// due at once are synced in one pass, which lists the project's cohorts
// once for all of them, and each counts its interval from the pass's start,
// so that cohorts synced together stay together.
func (i *exportInput) syncLoop(ctx context.Context) {
	retryAt := map[string]time.Time{}
	dueAt := func(id string) time.Time {
		if at, ok := retryAt[id]; ok {
			return at
		}
		return i.state.Cohorts[id].SyncedAt.Add(i.interval)
	}
	for {
		start := i.now()
		var due []string
		for _, id := range i.cohortIDs {
			if !dueAt(id).After(start) {
				due = append(due, id)
			}
		}
		if len(due) > 0 {
			i.syncPass(ctx, start, due, retryAt)
			if ctx.Err() != nil {
				return
			}
		}
		next := i.now().Add(i.interval)
		for _, id := range i.cohortIDs {
			next = minTime(next, dueAt(id))
		}
		if !wait.For(ctx, time.Until(next)) {
			return
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// syncPass syncs the cohorts due, and sets a retry time for each that fails.
func (i *exportInput) syncPass(ctx context.Context, start time.Time, due []string, retryAt map[string]time.Time) {
	list, listErr := i.listCohorts(ctx)
	for _, id := range due {
		err := listErr
		if err == nil {
			err = i.syncCohort(ctx, id, list, start)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			i.mSyncs.Incr(1, "failed")
			i.log.Errorf("amplitude_cohort_export: cohort %s: %v; trying again in %s", id, err, i.retryInterval)
			retryAt[id] = i.now().Add(i.retryInterval)
			continue
		}
		delete(retryAt, id)
	}
}

// syncCohort does one sync of one cohort, in the pass that began at start.
func (i *exportInput) syncCohort(ctx context.Context, id string, list []cohorts.CohortInfo, start time.Time) error {
	idx := slices.IndexFunc(list, func(c cohorts.CohortInfo) bool { return c.ID == id })
	if idx < 0 {
		return fmt.Errorf("%s: no cohort %q in the project's list of cohorts", fieldCohortIDs, id)
	}
	info := list[idx]
	prev, known := i.state.Cohorts[id]
	if known && info.LastComputed != "" && info.LastComputed == prev.LastComputed {
		prev.SyncedAt = start
		i.state.Cohorts[id] = prev
		i.mSyncs.Incr(1, "unchanged")
		return i.saveState()
	}
	month := cohorts.MonthKey(i.now())
	if used := i.state.Requests[month]; used >= i.budget {
		if i.lastBudgetReport != month {
			i.lastBudgetReport = month
			i.log.Errorf("amplitude_cohort_export: the %d cohort requests of %s (%s) are spent: no cohort is requested again this month", used, month, fieldMonthlyBudget)
		}
		return fmt.Errorf("%s spent for %s", fieldMonthlyBudget, month)
	}
	i.state.CountRequest(i.now())
	if err := i.saveState(); err != nil {
		return err
	}
	var req cohorts.RequestAnswer
	i.mRequests.Incr(1, "request")
	if err := i.getJSON(ctx, cohorts.ExportRequestPath+url.PathEscape(id), &req); err != nil {
		return fmt.Errorf("requesting the cohort: %w", err)
	}
	if err := i.awaitRequest(ctx, req.RequestID); err != nil {
		return err
	}
	members, err := i.download(ctx, req.RequestID)
	if err != nil {
		return err
	}
	name := info.Name
	if name == "" {
		name = prev.Name
	}
	changes := members.Changes(prev.Members, id, name, "export:"+id+":"+req.RequestID, info.LastComputed)
	if err := i.emit(ctx, changes); err != nil {
		return err
	}
	i.state.Cohorts[id] = cohorts.CohortState{Name: name, LastComputed: info.LastComputed, SyncedAt: start, Members: members}
	if err := i.saveState(); err != nil {
		return err
	}
	i.mSyncs.Incr(1, "synced")
	i.log.Infof("amplitude_cohort_export: cohort %s (%s) synced: %d members, %d changes", id, name, len(members.Users)+len(members.Devices), len(changes))
	return nil
}

// listCohorts fetches the project's list of cohorts.
func (i *exportInput) listCohorts(ctx context.Context) ([]cohorts.CohortInfo, error) {
	i.mRequests.Incr(1, "list")
	body, err := i.get(ctx, cohorts.ExportListPath, i.requestTimeout)
	if err != nil {
		return nil, fmt.Errorf("listing the cohorts: %w", err)
	}
	return cohorts.ParseCohortList(body)
}

// awaitRequest polls a cohort request until it is done.
func (i *exportInput) awaitRequest(ctx context.Context, requestID string) error {
	deadline := i.now().Add(i.pollTimeout)
	for {
		var st cohorts.RequestAnswer
		i.mRequests.Incr(1, "status")
		if err := i.getJSON(ctx, cohorts.ExportStatusPath+url.PathEscape(requestID), &st); err != nil {
			return fmt.Errorf("polling request %s: %w", requestID, err)
		}
		if st.AsyncStatus == cohorts.StatusCompleted {
			return nil
		}
		if !i.now().Before(deadline) {
			return fmt.Errorf("request %s not done after %s (%s)", requestID, i.pollTimeout, fieldPollTimeout)
		}
		if !wait.For(ctx, i.pollInterval) {
			return ctx.Err()
		}
	}
}

func (i *exportInput) download(ctx context.Context, requestID string) (cohorts.Members, error) {
	i.mRequests.Incr(1, "file")
	ctx, cancel := context.WithTimeout(ctx, 30*i.requestTimeout)
	defer cancel()
	resp, err := i.do(ctx, cohorts.ExportRequestPath+url.PathEscape(requestID)+cohorts.ExportFileSuffix)
	if err != nil {
		return cohorts.Members{}, fmt.Errorf("downloading request %s: %w", requestID, err)
	}
	defer resp.Body.Close()
	m, err := cohorts.ParseMembers(resp.Body)
	if err != nil {
		return cohorts.Members{}, fmt.Errorf("downloading request %s: %w", requestID, err)
	}
	return m, nil
}

// emit hands the changes on in batches and waits until every batch is
// acknowledged; a rejected batch is handed on again.
func (i *exportInput) emit(ctx context.Context, changes []cohorts.Change) error {
	// Messages are built anew for each hand-on: processors change them.
	var queue [][]cohorts.Change
	for start := 0; start < len(changes); start += i.batchSize {
		part := changes[start:min(start+i.batchSize, len(changes))]
		for _, c := range part {
			i.mChanges.Incr(1, fmt.Sprint(c.InCohort))
		}
		queue = append(queue, part)
	}
	type outcome struct {
		k   int
		err error
	}
	for len(queue) > 0 {
		results := make(chan outcome, len(queue))
		for k, part := range queue {
			batch := make(service.MessageBatch, len(part))
			for j, c := range part {
				batch[j] = service.NewMessage(c.Marshal())
			}
			if err := i.queue.Submit(ctx, batch, func(err error) { results <- outcome{k, err} }); err != nil {
				return err
			}
		}
		var again [][]cohorts.Change
		for range queue {
			select {
			case o := <-results:
				if o.err != nil {
					i.log.Warnf("amplitude_cohort_export: a batch of changes was not delivered, handing it on again: %v", o.err)
					again = append(again, queue[o.k])
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		queue = again
		if len(queue) > 0 && !wait.For(ctx, time.Second) {
			return ctx.Err()
		}
	}
	return nil
}

func (i *exportInput) getJSON(ctx context.Context, path string, into *cohorts.RequestAnswer) error {
	body, err := i.get(ctx, path, i.requestTimeout)
	if err != nil {
		return err
	}
	a, err := cohorts.ParseRequestAnswer(body)
	if err != nil {
		return err
	}
	*into = a
	return nil
}

// get fetches a path of the API with a timeout.
func (i *exportInput) get(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := i.do(ctx, path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// do sends an authenticated GET and checks its status: 200 or 202.
func (i *exportInput) do(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(i.apiKey, i.secret)
	resp, err := i.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = fmt.Sprintf(" (check %s and %s)", fieldAPIKey, fieldSecretKey)
		}
		return nil, fmt.Errorf("GET %s: HTTP %d%s: %s", path, resp.StatusCode, hint, strings.TrimSpace(string(text)))
	}
	return resp, nil
}
