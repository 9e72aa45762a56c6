package amplitude

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
)

// dispatcher packs the events that batches hand it into requests and sends
// them. Events of concurrent batches share requests, so small batches (a
// Braze body is 100 events) still fill requests up to the API's limits;
// under light load a request leaves as soon as a sender is free, so nothing
// lingers.
type dispatcher struct {
	o          *output
	ctx        context.Context // ends with the output
	maxSenders int

	mu      sync.Mutex
	queue   []job
	senders int

	bodies freeList[*[]byte] // request bodies, up to 20 MB each: reused, not regrown
}

// job is one event of a batch waiting for its verdict.
type job struct {
	ev  *ampapi.Event
	idx int             // the event's index in its batch
	to  chan<- []result // the batch's results, with room for a send per event
}

type result struct {
	idx int
	v   verdict
}

type verdictKind int

const (
	accepted    verdictKind = iota
	failed                  // for good: err
	retryNow                // resend at once (the request failed for others' sake)
	retryLater              // transient failure: back off
	configFault             // Amplitude refuses the key or the request: back off slowly
)

type verdict struct {
	kind   verdictKind
	err    *ampapi.EventError
	reason string // why a retry, for metrics and logs
}

func newDispatcher(ctx context.Context, o *output, maxSenders int) *dispatcher {
	return &dispatcher{o: o, ctx: ctx, maxSenders: maxSenders, bodies: newFreeList[*[]byte](maxSenders)}
}

// submit queues jobs and starts a sender if one is free.
func (d *dispatcher) submit(jobs []job) {
	d.mu.Lock()
	d.queue = append(d.queue, jobs...)
	start := d.senders < d.maxSenders
	if start {
		d.senders++
	}
	d.mu.Unlock()
	if start {
		go d.sendLoop()
	}
}

// sendLoop sends requests while the queue has events.
func (d *dispatcher) sendLoop() {
	body, ok := d.bodies.get()
	if !ok {
		body = new([]byte)
	}
	defer d.bodies.put(body)
	for {
		key, keyErr := d.o.keys.Get()
		if keyErr != nil {
			d.o.keyFileLog.Note(d.o.now(), keyErr.Error())
		}
		env := d.o.envelope(key)
		d.mu.Lock()
		n, size := d.take(env)
		if n == 0 {
			d.senders--
			d.mu.Unlock()
			return
		}
		jobs := append([]job(nil), d.queue[:n]...)
		d.queue = d.queue[n:]
		d.mu.Unlock()
		*body = d.send(env, jobs, slices.Grow((*body)[:0], size))
	}
}

// take counts the queued jobs that fit one request, and the request's size.
func (d *dispatcher) take(env ampapi.Envelope) (n, size int) {
	fill := env.NewFill()
	for n, j := range d.queue {
		if !fill.Add(len(j.ev.Raw)) {
			return n, fill.Bytes()
		}
	}
	return len(d.queue), fill.Bytes()
}

// send posts one request and settles its jobs; 413s and unexplained 400s
// are split in halves until the culprit stands alone.
func (d *dispatcher) send(env ampapi.Envelope, jobs []job, body []byte) []byte {
	o := d.o
	body = env.Append(body[:0], func(yield func([]byte) bool) {
		for _, j := range jobs {
			if !yield(j.ev.Raw) {
				return
			}
		}
	})
	start := time.Now()
	status, answer, err := o.sender.post(d.ctx, body)
	o.metrics.requestLatency.Timing(time.Since(start).Nanoseconds())
	o.metrics.requestBytes.Incr(int64(len(body)))
	o.metrics.requestEvents.Incr(int64(len(jobs)))
	if err != nil {
		o.metrics.requests.Incr(1, "error")
		o.failingLog.Note(o.now(), err.Error())
		settle(jobs, verdict{kind: retryLater, reason: "connection"})
		return body
	}
	o.metrics.requests.Incr(1, strconv.Itoa(status))
	outcome, r := ampapi.Classify(status, answer)
	switch outcome {
	case ampapi.Accepted:
		o.metrics.configFault.Set(0)
		settle(jobs, verdict{kind: accepted})
	case ampapi.EventsRejected:
		rejected := r.RejectedEvents()
		settleEach(jobs, func(k int) verdict {
			if err, ok := rejected[k]; ok {
				return verdict{kind: failed, err: err}
			}
			return verdict{kind: retryNow, reason: "events_rejected"}
		})
	case ampapi.ConfigFault:
		cause := "missing field " + r.MissingField
		if r.MissingField == "" {
			cause = "invalid API key" // never the key itself, which Amplitude echoes
		}
		o.configFault(cause)
		settle(jobs, verdict{kind: configFault, reason: "config_fault"})
	case ampapi.Unexplained, ampapi.TooLarge:
		if len(jobs) == 1 {
			reason := ampapi.ReasonTooLarge
			if outcome == ampapi.Unexplained {
				reason = ampapi.ReasonRejected
			}
			settle(jobs, verdict{kind: failed, err: &ampapi.EventError{Reason: reason,
				Detail: fmt.Sprintf("Amplitude answered %d %q to this event alone", status, r.Error)}})
			return body
		}
		o.metrics.retries.Incr(int64(len(jobs)), "split_"+outcome.String())
		half := len(jobs) / 2
		body = d.send(env, jobs[:half], body)
		body = d.send(env, jobs[half:], body)
	case ampapi.Throttled:
		d.throttled(jobs, r)
	default:
		o.failingLog.Note(o.now(), "answered "+http.StatusText(status)+" ("+strconv.Itoa(status)+")")
		settle(jobs, verdict{kind: retryLater, reason: "status_" + strconv.Itoa(status)})
	}
	return body
}

// throttled pauses the ids a 429 names, so their events wait in the
// limiter while every other event goes again at once.
func (d *dispatcher) throttled(jobs []job, r *ampapi.Response) {
	o := d.o
	now := o.now()
	until := now.Add(o.throttlePause)
	var named []string
	pause := func(kind limiter.Kind, ids map[string]float64) {
		for id := range ids {
			o.limiter.Pause(now, kind, id, until)
			named = append(named, kind.String()+" "+id)
		}
		o.metrics.throttledIDs.Incr(int64(len(ids)), kind.String())
	}
	pause(limiter.Device, r.ThrottledDevices)
	pause(limiter.User, r.ThrottledUsers)
	if len(named) > 0 {
		o.throttledLog.Note(now, named...)
	}
	settleEach(jobs, func(k int) verdict {
		ev := jobs[k].ev
		_, dev := r.ExceededDailyQuotaDevices[ev.DeviceID]
		_, usr := r.ExceededDailyQuotaUsers[ev.UserID]
		switch {
		case !(dev && ev.DeviceID != "") && !(usr && ev.UserID != ""):
			return verdict{kind: retryNow, reason: "throttled"}
		case !o.holdDaily:
			return verdict{kind: failed, err: &ampapi.EventError{Reason: ampapi.ReasonDailyQuota, Detail: "Amplitude reports the device or user over its daily quota"}}
		default:
			// Amplitude counts the quota in hours: look again in one.
			o.limiter.Pause(now, limiter.Device, ev.DeviceID, now.Add(time.Hour))
			o.limiter.Pause(now, limiter.User, ev.UserID, now.Add(time.Hour))
			return verdict{kind: retryNow, reason: "daily_quota"}
		}
	})
}

// settle gives every job the same verdict.
func settle(jobs []job, v verdict) { settleEach(jobs, func(int) verdict { return v }) }

// settleEach gives each job its verdict. A request's jobs come from a few
// batches, each batch's in a row, so each run of one batch's jobs is handed
// over in one channel send rather than one per event.
func settleEach(jobs []job, verdictOf func(k int) verdict) {
	for start := 0; start < len(jobs); {
		to, end := jobs[start].to, start+1
		for end < len(jobs) && jobs[end].to == to {
			end++
		}
		results := make([]result, end-start)
		for k := start; k < end; k++ {
			results[k-start] = result{jobs[k].idx, verdictOf(k)}
		}
		to <- results
		start = end
	}
}
