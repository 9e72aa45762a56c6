package emulator

import "time"

// windowSet counts events per id over several sliding windows at once (each endpoint's
// eps window and the daily quota's 24 hours), each cut into a fixed number of slots. A
// window slides one slot at a time: a count is forgotten once the slot it fell in is
// `slots` slots old.
//
// All of an id's windows sit in one row, found with one map lookup: ids are looked up
// a few times per event, and with hundreds of thousands of ids the map's cache misses
// are the emulator's largest cost. Rows live in fixed pages, so growing never copies
// them, and hold no pointers, so the garbage collector never scans them. An id's
// slots expire lazily, when the id is next counted; a sweep a few times per longest
// window frees the rows of ids no longer seen.
type windowSet struct {
	windows []window
	stride  int              // counts per row: every window's slots
	rows    map[uint64]int32 // id key -> row
	pages   []rowPage        // row r is in pages[r/pageRows]
	used    int32            // rows handed out, freed ones included
	free    []int32          // rows of forgotten ids, reused first
	peak    int              // largest len(rows) since the map was last rebuilt

	sweepEvery int64 // nanoseconds
	nextSweep  int64
}

// rowPage holds pageRows rows. Row i of a page has the counts
// counts[i*stride:][:stride], each window's ring in turn, and in newest[i*len(windows)+w]
// the slot of window w the id was last counted in.
type rowPage struct {
	counts []int32
	newest []int64
}

const pageRows = 1024

// window is one sliding window's shape, and its clock.
type window struct {
	width  int64 // of a slot, nanoseconds
	slots  int
	offset int // of its ring in a row of counts
	// clock is the latest slot seen: a clock that goes back counts as this, rather
	// than reviving expired slots.
	clock int64
}

// newWindowSet makes a set of windows of the given lengths, each of `slots[i]` slots;
// windows are then named by their index.
func newWindowSet(lengths []time.Duration, slots []int) *windowSet {
	s := &windowSet{rows: make(map[uint64]int32)}
	var longest time.Duration
	for i, length := range lengths {
		s.windows = append(s.windows, window{width: max(1, int64(length)/int64(slots[i])), slots: slots[i], offset: s.stride})
		s.stride += slots[i]
		longest = max(longest, length)
	}
	s.sweepEvery = max(1, int64(longest)/sweepsPerWindow)
	return s
}

// row returns key's row at now, or -1 for an id with no count in any window. The row
// stays valid until a call of row with a later time, which may sweep.
func (s *windowSet) row(key uint64, now time.Time) int32 {
	s.sweep(now.UnixNano())
	if r, ok := s.rows[key]; ok {
		return r
	}
	return -1
}

// count returns the events counted in window w for the id in row (-1: none) within
// the window ending at now.
func (s *windowSet) count(row int32, w int, now time.Time) int64 {
	if row < 0 {
		return 0
	}
	win := &s.windows[w]
	ring, newest := s.cell(row, w)
	// The ring's slots still in the window: the id's newest, then back in time.
	live := int64(win.slots) - (win.tick(now.UnixNano()) - *newest)
	var n int64
	for i := mod(*newest, win.slots); live > 0; live-- {
		n += int64(ring[i])
		if i--; i < 0 {
			i = len(ring) - 1
		}
	}
	return n
}

// add counts n events in window w for key, whose row is row (-1: none yet) as row
// gave it at now; it returns the row.
func (s *windowSet) add(key uint64, row int32, w int, n int64, now time.Time) int32 {
	if row < 0 {
		row = s.newRow(key)
	}
	win := &s.windows[w]
	slot := win.tick(now.UnixNano())
	ring, newest := s.cell(row, w)
	if moved := slot - *newest; moved >= int64(win.slots) {
		clear(ring)
	} else {
		for i := mod(*newest, win.slots); moved > 0; moved-- { // the slots the window slid over
			if i++; i == len(ring) {
				i = 0
			}
			ring[i] = 0
		}
	}
	*newest = slot
	ring[mod(slot, win.slots)] += int32(n)
	return row
}

// tick moves the window's clock to now (unix nanoseconds), never back, and returns
// its slot.
func (w *window) tick(now int64) int64 {
	w.clock = max(w.clock, now/w.width)
	return w.clock
}

// cell returns window w's ring of counts in row, and the slot it was last counted in.
func (s *windowSet) cell(row int32, w int) (ring []int32, newest *int64) {
	p, i := &s.pages[row/pageRows], int(row%pageRows)
	win := s.windows[w]
	return p.counts[i*s.stride+win.offset:][:win.slots], &p.newest[i*len(s.windows)+w]
}

// newRow gives key a row whose counts are all zero.
func (s *windowSet) newRow(key uint64) int32 {
	var row int32
	if n := len(s.free); n > 0 {
		row, s.free = s.free[n-1], s.free[:n-1]
	} else {
		row = s.used
		s.used++
		if int(row/pageRows) == len(s.pages) {
			s.pages = append(s.pages, rowPage{
				counts: make([]int32, pageRows*s.stride),
				newest: make([]int64, pageRows*len(s.windows)),
			})
		}
	}
	s.rows[key] = row
	s.peak = max(s.peak, len(s.rows))
	return row
}

// sweep frees the rows of ids with no count left in any window, at most
// sweepsPerWindow times per longest window so the cost is spread thin.
func (s *windowSet) sweep(now int64) {
	if now < s.nextSweep {
		return
	}
	s.nextSweep = now + s.sweepEvery
	for w := range s.windows {
		s.windows[w].tick(now)
	}
	for key, row := range s.rows {
		if s.live(row) {
			continue
		}
		delete(s.rows, key)
		for w := range s.windows {
			ring, _ := s.cell(row, w)
			clear(ring)
		}
		s.free = append(s.free, row)
	}
	// Go maps keep their size after deletes: rebuild once it is mostly empty.
	if s.peak > 1024 && len(s.rows) < s.peak/4 {
		rebuilt := make(map[uint64]int32, len(s.rows))
		for key, row := range s.rows {
			rebuilt[key] = row
		}
		s.rows, s.peak = rebuilt, len(rebuilt)
	}
}

// live reports whether the id in row still has a count in some window.
func (s *windowSet) live(row int32) bool {
	for w, win := range s.windows {
		if _, newest := s.cell(row, w); win.clock-*newest < int64(win.slots) {
			return true
		}
	}
	return false
}

// mod is slot's place in a ring of slots (slots count from 1970: never negative).
func mod(slot int64, slots int) int { return int(slot % int64(slots)) }
