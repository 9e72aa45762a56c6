package amplitude

import (
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/backoff"
	"github.com/connect-amplitude/connect-amplitude/internal/handoff"
	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
)

// delivery carries one batch through to the end: every event accepted by
// Amplitude or failed with a reason. Events wait here, never in the
// dispatcher, so a held event delays only its own batch.
type delivery struct {
	o       *output
	events  []ampapi.Event
	errs    []error // each event's failure for good, nil while it is not failed
	state   []eventState
	pending []int // events to hand to the dispatcher, by index
	results chan []result

	transient, config backoff.Rounds
}

type eventState struct {
	notBefore time.Time // a backoff or the send time the limiter gave
	scheduled bool      // the limiter has charged the event for notBefore
	holdStart time.Time // when limits first held the event: max_hold bounds the total
	// A request with the event failed without an answer or with a 5xx:
	// Amplitude may have it, so it must not go to the dead letter as
	// undelivered for a limit. It waits for its ids however long that takes.
	maybeDelivered bool
}

// maybeDeliveredHold stands for "no bound" on the wait of an event Amplitude
// may already have: it goes when its ids' limits allow.
const maybeDeliveredHold = 24 * time.Hour

func newDelivery(o *output, batch service.MessageBatch) *delivery {
	d := &delivery{
		o:         o,
		events:    make([]ampapi.Event, len(batch)),
		errs:      make([]error, len(batch)),
		state:     make([]eventState, len(batch)),
		pending:   make([]int, 0, len(batch)),
		results:   make(chan []result, len(batch)),
		transient: backoff.NewRounds(o.retry),
		config:    backoff.NewRounds(o.configRetry),
	}
	rules := ampapi.Rules{MinIDLength: o.minIDLength, MaxBytes: o.maxEventBytes, MaxFuture: o.maxFuture, Now: o.now()}
	for i, msg := range batch {
		raw, err := msg.AsBytes()
		if err != nil {
			d.fail(i, &ampapi.EventError{Reason: ampapi.ReasonInvalidJSON, Detail: err.Error()})
			continue
		}
		var ev ampapi.Event
		var evErr *ampapi.EventError
		if fields, ok := handoff.Fields(msg.Context(), raw); ok {
			ev, evErr = rules.Check(raw, fields)
		} else {
			ev, evErr = rules.Inspect(raw)
		}
		if evErr != nil {
			d.fail(i, evErr)
			continue
		}
		d.events[i] = ev
		d.pending = append(d.pending, i)
	}
	return d
}

func (d *delivery) fail(i int, err *ampapi.EventError) {
	d.errs[i] = err
	d.o.metrics.eventsFailed.Incr(1, err.Reason)
	if err.Reason == ampapi.ReasonInvalidIDLength { // checked here or by Amplitude: both mean min_id_length
		d.o.shortIDLog.Note(d.o.now(), err.Field)
	}
}

// run hands events to the dispatcher as the limits allow, applies the
// verdicts, and waits for the next verdict or the next scheduled event.
func (d *delivery) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	outstanding := 0
	for len(d.pending) > 0 || outstanding > 0 {
		var wakeC <-chan time.Time
		if len(d.pending) > 0 {
			now := d.o.now()
			ready, wake := d.admit(now)
			if len(ready) > 0 {
				d.submit(ready)
				outstanding += len(ready)
			}
			if len(d.pending) > 0 {
				timer.Reset(wake.Sub(now))
				wakeC = timer.C
			}
		}
		if outstanding == 0 && len(d.pending) == 0 {
			break
		}
		select {
		case results := <-d.results:
			outstanding -= len(results)
			d.apply(results)
		case <-wakeC:
		case <-ctx.Done():
			d.release()
			return fmt.Errorf("%w: %w", errShutdown, ctx.Err())
		}
	}
	return nil
}

// admit takes from pending the events that may go now, fails those that
// cannot go within max_hold, and says when the next one may go.
func (d *delivery) admit(now time.Time) (ready []int, wake time.Time) {
	o := d.o
	still := d.pending[:0]
	later := func(i int) {
		still = append(still, i)
		if at := d.state[i].notBefore; wake.IsZero() || at.Before(wake) {
			wake = at
		}
	}
	for _, i := range d.pending {
		st := &d.state[i]
		if now.Before(st.notBefore) {
			later(i)
			continue
		}
		if st.scheduled {
			st.scheduled = false
			ready = append(ready, i)
			continue
		}
		holdStart := st.holdStart
		if holdStart.IsZero() {
			holdStart = now
		}
		deadline := holdStart.Add(o.maxHold)
		if st.maybeDelivered {
			deadline = now.Add(maybeDeliveredHold)
		}
		ev := &d.events[i]
		dec := o.limiter.Schedule(now, ev.DeviceID, ev.UserID, deadline, !o.holdDaily)
		switch {
		case !dec.Allowed:
			d.release1(i)
			d.fail(i, d.limitError(i, dec))
		case !dec.At.After(now):
			d.release1(i)
			ready = append(ready, i)
		default:
			if st.holdStart.IsZero() {
				st.holdStart = now
				o.metrics.held(1)
			}
			st.notBefore, st.scheduled = dec.At, true
			later(i)
		}
	}
	d.pending = still
	return ready, wake
}

// limitError is why an event cannot go within max_hold. With
// on_hold_timeout: nack, an event held for a rate or a pause (not a quota,
// which lasts hours) is marked for its source to deliver it again later.
func (d *delivery) limitError(i int, dec limiter.Decision) *ampapi.EventError {
	reason, what := ampapi.ReasonRateLimited, fmt.Sprintf("would wait past max_hold %s", d.o.maxHold)
	if dec.Reason == limiter.DailyQuota {
		reason, what = ampapi.ReasonDailyQuota, "has reached its daily quota"
	}
	id := d.events[i].DeviceID
	if dec.Kind == limiter.User {
		id = d.events[i].UserID
	}
	detail := fmt.Sprintf("%s %q %s (%s)", dec.Kind, id, what, dec.Reason)
	if d.o.nackOnHold && reason == ampapi.ReasonRateLimited {
		reason, detail = ampapi.ReasonNack, reason+": "+detail
	}
	return &ampapi.EventError{Reason: reason, Detail: detail}
}

// release1 ends an event's hold, recording how long it was.
func (d *delivery) release1(i int) {
	if st := &d.state[i]; !st.holdStart.IsZero() {
		d.o.metrics.holdTime.Timing(d.o.now().Sub(st.holdStart).Nanoseconds())
		d.o.metrics.held(-1)
		st.holdStart = time.Time{}
	}
}

// release ends every hold, on shutdown.
func (d *delivery) release() {
	for _, i := range d.pending {
		d.release1(i)
	}
}

func (d *delivery) submit(ready []int) {
	jobs := make([]job, len(ready))
	for k, i := range ready {
		jobs[k] = job{ev: &d.events[i], idx: i, to: d.results}
	}
	d.o.dispatcher.submit(jobs)
}

// apply takes the verdicts of a request on some of the batch's events.
func (d *delivery) apply(results []result) {
	o := d.o
	sent, truncated := 0, 0
	for _, r := range results {
		switch r.v.kind {
		case accepted:
			sent++
			truncated += d.events[r.idx].LongStrings
			d.transient.Reset()
			d.config.Reset()
			continue
		case failed:
			d.fail(r.idx, r.v.err)
			continue
		case retryLater:
			d.state[r.idx].notBefore = d.transient.RetryAt(o.now())
			d.state[r.idx].maybeDelivered = true
		case configFault:
			d.state[r.idx].notBefore = d.config.RetryAt(o.now())
		}
		o.metrics.retries.Incr(1, r.v.reason)
		d.pending = append(d.pending, r.idx)
	}
	if sent > 0 {
		o.metrics.eventsSent.Incr(int64(sent))
	}
	if truncated > 0 {
		o.metrics.truncatedValues.Incr(int64(truncated))
	}
}
