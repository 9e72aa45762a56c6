package brazetrack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/backoff"
	"github.com/connect-amplitude/connect-amplitude/internal/batcherr"
	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/limiter"
	"github.com/connect-amplitude/connect-amplitude/internal/wait"
)

// errShutdown wraps the context's error so the host's logs say why.
var errShutdown = errors.New("braze_users_track: shutting down with objects not yet delivered; they will be delivered again")

// maxAnswerBytes bounds what is read of an answer: Braze's are small, and a
// proxy's error page must not exhaust memory.
const maxAnswerBytes = 1 << 20

// delivery carries one batch through to the end: every object delivered or
// failed with a reason.
type delivery struct {
	o       *output
	objects [][]byte
	mu      sync.Mutex
	errs    []error // each object's failure for good, nil while it has none
}

func newDelivery(o *output, batch service.MessageBatch) *delivery {
	return &delivery{o: o, objects: make([][]byte, len(batch)), errs: make([]error, len(batch))}
}

func (d *delivery) fail(i int, err *brazeapi.ObjectError) {
	d.mu.Lock()
	d.errs[i] = fmt.Errorf("braze_users_track: %w", err)
	d.mu.Unlock()
	d.o.metrics.failed.Incr(1, err.Reason)
}

// run checks the objects, sends them in requests of up to 75 at once, and
// reports the failures.
func (d *delivery) run(ctx context.Context, batch service.MessageBatch) error {
	var pending []int
	for i, msg := range batch {
		raw, err := msg.AsBytes()
		if err != nil {
			d.fail(i, &brazeapi.ObjectError{Reason: brazeapi.ReasonInvalidObject, Detail: err.Error()})
			continue
		}
		if _, objErr := brazeapi.CheckAttributes(raw); objErr != nil {
			d.fail(i, objErr)
			continue
		}
		d.objects[i] = raw
		pending = append(pending, i)
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(pending)/brazeapi.MaxObjectsPerRequest+1)
	for start := 0; start < len(pending); start += brazeapi.MaxObjectsPerRequest {
		group := pending[start:min(start+brazeapi.MaxObjectsPerRequest, len(pending))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.send(ctx, group); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return batcherr.From(batch, d.errs, "braze_users_track: some objects failed for good; see each object's error")
}

// send delivers one group of at most 75 objects (indexes into the batch),
// splitting it when an answer asks to, until each object is settled.
func (d *delivery) send(ctx context.Context, group []int) error {
	o := d.o
	work := [][]int{group}
	transient, config := backoff.New(o.retry), backoff.New(o.configRetry)
	for len(work) > 0 {
		g := work[len(work)-1]
		work = work[:len(work)-1]
		if err := o.waitForPace(ctx); err != nil {
			return err
		}
		answer, err := o.post(ctx, d.body(g), len(g))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %w", errShutdown, ctx.Err())
			}
			o.metrics.retries.Incr(int64(len(g)), "connection")
			o.failingLog.Note(o.now(), err.Error())
			work = append(work, g)
			if err := sleep(ctx, transient.Next()); err != nil {
				return err
			}
			continue
		}
		switch answer.Kind {
		case brazeapi.Accepted:
			transient.Reset()
			config.Reset()
			o.metrics.configFault.Set(0)
			sent := 0
			for k, i := range g {
				if why, ok := answer.Failed[k]; ok {
					d.fail(i, &brazeapi.ObjectError{Reason: brazeapi.ReasonRejected, Detail: why})
				} else {
					sent++
				}
			}
			o.metrics.sent.Incr(int64(sent))
			if len(answer.Unattributed) > 0 {
				o.log.Warnf("Braze accepted a request with errors that name no object (the objects count as delivered): %v", answer.Unattributed)
			}
		case brazeapi.Refused:
			var again []int
			for k, i := range g {
				if why, ok := answer.Failed[k]; ok {
					d.fail(i, &brazeapi.ObjectError{Reason: brazeapi.ReasonRejected, Detail: why})
				} else {
					again = append(again, i)
				}
			}
			if len(again) > 0 {
				o.metrics.retries.Incr(int64(len(again)), "refused_request")
				work = append(work, again)
			}
		case brazeapi.Split:
			if len(g) == 1 {
				d.fail(g[0], &brazeapi.ObjectError{Reason: brazeapi.ReasonRequestRejected, Detail: answer.Describe()})
				continue
			}
			o.metrics.retries.Incr(int64(len(g)), "split")
			half := len(g) / 2
			work = append(work, g[half:], g[:half])
		case brazeapi.ConfigFault:
			o.metrics.configFault.Set(1)
			o.metrics.retries.Incr(int64(len(g)), answer.Kind.String())
			o.faultLog.Note(o.now(), answer.Describe())
			work = append(work, g)
			if err := sleep(ctx, config.Next()); err != nil {
				return err
			}
		case brazeapi.Throttled:
			o.metrics.retries.Incr(int64(len(g)), answer.Kind.String())
			work = append(work, g)
			// The pause from the headers is in the pace already; without
			// headers, back off.
			if answer.paused {
				continue
			}
			if err := sleep(ctx, transient.Next()); err != nil {
				return err
			}
		default: // Transient
			o.metrics.retries.Incr(int64(len(g)), answer.Kind.String())
			o.failingLog.Note(o.now(), answer.Describe())
			work = append(work, g)
			if err := sleep(ctx, transient.Next()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *delivery) body(g []int) []byte {
	objs := make([][]byte, len(g))
	for k, i := range g {
		objs[k] = d.objects[i]
	}
	return brazeapi.TrackBody(objs)
}

// waitForPace waits until the pace lets one more request go.
func (o *output) waitForPace(ctx context.Context) error {
	now := o.now()
	dec := o.pace.Schedule(now, paceID, "", now.Add(24*time.Hour), false)
	if !dec.Allowed { // a pause past a day: a bad header; wait and ask again
		return sleep(ctx, time.Second)
	}
	if wait := dec.At.Sub(now); wait > 0 {
		return sleep(ctx, wait)
	}
	return nil
}

// answer is an answer read, and whether its headers paused the pace.
type answer struct {
	brazeapi.Answer
	paused bool
}

// post sends one request. An error means no usable answer arrived: a
// timeout, a refused or reset connection; Braze may or may not have
// applied the request.
func (o *output) post(ctx context.Context, body []byte, n int) (answer, error) {
	select {
	case o.slots <- struct{}{}:
	case <-ctx.Done():
		return answer{}, ctx.Err()
	}
	defer func() { <-o.slots }()
	key, keyErr := o.keys.Get()
	if keyErr != nil {
		o.keyFileLog.Note(o.now(), keyErr.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	start := o.now()
	resp, err := o.client.Do(req)
	if err != nil {
		o.metrics.requests.Incr(1, "error")
		return answer{}, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	o.metrics.latency.Timing(o.now().Sub(start).Nanoseconds())
	o.metrics.requests.Incr(1, strconv.Itoa(resp.StatusCode))
	if err != nil {
		return answer{}, fmt.Errorf("reading the answer: %w", err)
	}
	a := answer{Answer: brazeapi.ReadAnswer(resp.StatusCode, text, n)}
	rl := brazeapi.ParseRateLimit(resp.Header)
	if rl.Known {
		o.metrics.remaining.Set(int64(rl.Remaining))
	}
	now := o.now()
	if until := rl.Pause(now, a.Kind == brazeapi.Throttled); !until.IsZero() {
		o.pace.Pause(now, limiter.Device, paceID, until)
		a.paused = true
	}
	return a, nil
}

// sleep waits d, or returns the shutdown error when ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	if !wait.For(ctx, d) {
		return fmt.Errorf("%w: %w", errShutdown, ctx.Err())
	}
	return nil
}
