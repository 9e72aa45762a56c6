package emulator

import "time"

// slidingCounter counts events per id over a sliding window cut into a fixed number of
// slots. The window slides one slot at a time: a count is forgotten once the slot it
// fell in is `slots` slots old. Expiring a slot drops one map, so pruning costs nothing
// per event and memory holds only the ids seen within the window.
type slidingCounter struct {
	slotWidth int64              // nanoseconds
	ring      []map[uint64]int64 // ring[n % len(ring)] holds the counts of slot n
	total     map[uint64]int64   // sum of the ring, so a lookup is one map access
	newest    int64              // slot number of the latest time seen
	peak      int                // largest len(total) since it was last rebuilt
	slotHint  int                // ids in the last slot filled: a new slot map starts that big, not regrown
}

func newSlidingCounter(window time.Duration, slots int) *slidingCounter {
	width := int64(window) / int64(slots)
	if width <= 0 {
		width = 1
	}
	return &slidingCounter{
		slotWidth: width,
		ring:      make([]map[uint64]int64, slots),
		total:     make(map[uint64]int64),
	}
}

// count returns the events counted for key within the window ending at now.
func (c *slidingCounter) count(key uint64, now time.Time) int64 {
	c.advance(now)
	return c.total[key]
}

// add counts n events for key at now.
func (c *slidingCounter) add(key uint64, n int64, now time.Time) {
	c.advance(now)
	slot := &c.ring[c.newest%int64(len(c.ring))]
	if *slot == nil {
		*slot = make(map[uint64]int64, c.slotHint)
	}
	(*slot)[key] += n
	c.total[key] += n
	c.peak = max(c.peak, len(c.total))
}

// advance expires the slots that fell out of the window. A clock that goes back
// counts into the newest slot rather than reviving expired ones.
func (c *slidingCounter) advance(now time.Time) {
	slot := now.UnixNano() / c.slotWidth
	if slot <= c.newest {
		return
	}
	if slot-c.newest >= int64(len(c.ring)) {
		clear(c.ring)
		c.total = make(map[uint64]int64)
		c.peak = 0
		c.newest = slot
		return
	}
	c.slotHint = len(c.ring[c.newest%int64(len(c.ring))])
	for c.newest < slot {
		c.newest++
		i := c.newest % int64(len(c.ring))
		for key, n := range c.ring[i] {
			if left := c.total[key] - n; left > 0 {
				c.total[key] = left
			} else {
				delete(c.total, key)
			}
		}
		c.ring[i] = nil
	}
	// Go maps keep their size after deletes: rebuild total once it is mostly empty.
	if c.peak > 1024 && len(c.total) < c.peak/4 {
		rebuilt := make(map[uint64]int64, len(c.total))
		for key, n := range c.total {
			rebuilt[key] = n
		}
		c.total = rebuilt
		c.peak = len(rebuilt)
	}
}
