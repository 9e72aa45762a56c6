package cohorts

import (
	"sync"
	"time"
)

// Dedup remembers Cohort Webhooks deliveries by message_id, so that a
// retried delivery is handed on once: a retry of a delivery in flight waits
// for the first one's outcome, a retry of a delivered one is acknowledged
// at once, and a retry of a failed one is handed on again.
//
// What it holds: every delivery in flight, and the message ids of
// delivered ones for TTL after their delivery, at most Max of them (the
// oldest go first). An id costs about 150 bytes: 100,000 ids, the default,
// about 15 MB. A restart forgets them all, so a retry of a delivery that
// was acknowledged before the restart is handed on again; the changes it
// carries are set operations (add or remove a name, set a boolean), so
// applying one twice leaves Braze as once, at the cost of Braze data
// points.
type Dedup struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu       sync.Mutex
	inFlight map[string]*Flight
	done     map[string]time.Time // message id -> delivered at
	queue    []doneID             // done ids in delivery order, for expiry, from head on
	head     int
}

type doneID struct {
	id string
	at time.Time
}

// Flight is a delivery being handed on; Done is closed with its outcome.
type Flight struct {
	done chan struct{}
	err  error
}

// Done is closed when the delivery's outcome is known.
func (f *Flight) Done() <-chan struct{} { return f.done }

// Err is the delivery's outcome, once Done is closed: nil when delivered.
func (f *Flight) Err() error { return f.err }

// NewDedup returns a Dedup keeping delivered ids for ttl, at most max.
func NewDedup(ttl time.Duration, max int, now func() time.Time) *Dedup {
	return &Dedup{ttl: ttl, max: max, now: now, inFlight: map[string]*Flight{}, done: map[string]time.Time{}}
}

// Seen is what Begin found.
type Seen int

const (
	New       Seen = iota // the caller hands the delivery on and calls Finish
	Delivered             // delivered before: acknowledge
	InFlight              // being handed on by an earlier request: wait on the Flight
)

// Begin looks a message id up and, when it is new, records it in flight.
func (d *Dedup) Begin(id string) (Seen, *Flight) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(d.now())
	if f, ok := d.inFlight[id]; ok {
		return InFlight, f
	}
	if _, ok := d.done[id]; ok {
		return Delivered, nil
	}
	f := &Flight{done: make(chan struct{})}
	d.inFlight[id] = f
	return New, f
}

// Finish records the outcome of a delivery Begin returned New for: a
// delivered one is remembered, a failed one forgotten so that a retry hands
// it on again. Requests waiting on the Flight see err.
func (d *Dedup) Finish(id string, f *Flight, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFlight[id] != f {
		return // finished already
	}
	delete(d.inFlight, id)
	f.err = err
	close(f.done)
	if err != nil {
		return
	}
	now := d.now()
	d.done[id] = now
	d.queue = append(d.queue, doneID{id, now})
	d.expire(now)
}

// expire drops delivered ids past their TTL, and the oldest past Max.
func (d *Dedup) expire(now time.Time) {
	for d.head < len(d.queue) {
		e := d.queue[d.head]
		if now.Sub(e.at) < d.ttl && len(d.done) <= d.max {
			break
		}
		if d.done[e.id].Equal(e.at) {
			delete(d.done, e.id)
		}
		d.queue[d.head] = doneID{}
		d.head++
	}
	// Compact once half the queue is spent, so each id is copied O(1)
	// times on average.
	if d.head > 0 && d.head >= len(d.queue)/2 {
		d.queue = append(d.queue[:0], d.queue[d.head:]...)
		d.head = 0
	}
}

// Len is how many delivered ids are remembered, and how many are in flight.
func (d *Dedup) Len() (delivered, inFlight int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.done), len(d.inFlight)
}
