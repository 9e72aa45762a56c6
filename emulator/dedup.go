package emulator

import "time"

// dedupSet remembers accepted insert_ids (hashed with their device or user, see
// idHasher.insertKey) for a window, as Amplitude does for 7 days.
type dedupSet struct {
	window    int64            // nanoseconds
	seenAt    map[uint64]int64 // key -> when it was accepted, unix nanoseconds
	nextSweep int64
}

// sweepsPerWindow bounds memory to about (1 + 1/sweepsPerWindow) windows of keys.
const sweepsPerWindow = 8

func newDedupSet(window time.Duration) *dedupSet {
	return &dedupSet{window: int64(window), seenAt: make(map[uint64]int64)}
}

// firstSeen records key at now and reports whether it is new, that is, not accepted
// within the window before now.
func (d *dedupSet) firstSeen(key uint64, now time.Time) bool {
	t := now.UnixNano()
	d.sweep(t)
	if at, ok := d.seenAt[key]; ok && t-at < d.window {
		return false
	}
	d.seenAt[key] = t
	return true
}

// sweep drops expired keys into a fresh map (Go maps never shrink), at most
// sweepsPerWindow times per window so the cost is spread thin.
func (d *dedupSet) sweep(now int64) {
	if now < d.nextSweep {
		return
	}
	d.nextSweep = now + d.window/sweepsPerWindow
	kept := make(map[uint64]int64) // no size hint: most keys may have expired
	for key, at := range d.seenAt {
		if now-at < d.window {
			kept[key] = at
		}
	}
	d.seenAt = kept
}
