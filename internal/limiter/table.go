package limiter

import (
	"math"
	"sync"
)

const (
	numShards  = 256 // a growing table rehashes one shard: 1/256 of the ids
	shardShift = 64 - 8
	minSlots   = 8
	sweepSlots = 2 // slots the sweep examines per decision in each shard the decision touches
	capProbe   = 8 // ids compared to choose whom to forget at the cap
)

// entry is one id's state besides its rare pause and hourly counts.
type entry struct {
	tat  int64  // GCRA theoretical arrival time (ns); at or before now means a full bucket
	prev uint32 // compact daily count: events on the day before cur's day
	cur  uint32 // compact daily count: events on the day of the id's last event
}

type slot struct {
	key uint64 // hash of kind and id; 0 marks an empty slot
	entry
}

// shard holds the ids whose key starts with its index: an open-addressing table with linear
// probing, so an id costs one 24-byte slot and no allocation, plus a sweep hand that walks the
// slots in order to evict a little on every call.
type shard struct {
	mu     sync.Mutex
	slots  []slot               // length a power of two, at most 3/4 full
	n      int                  // occupied slots
	hand   int                  // next slot the sweep examines
	paused map[uint64]int64     // key -> end of its pause (ns)
	rings  map[uint64]*hourRing // key -> hourly counts, for ids with many events

	evictions, capEvictions uint64

	_ [64]byte // keeps the next shard's lock off this shard's cache lines
}

func (s *shard) init() {
	s.slots = make([]slot, minSlots)
	s.paused = map[uint64]int64{}
	s.rings = map[uint64]*hourRing{}
}

func (s *shard) mask() int { return len(s.slots) - 1 }

// find returns the index of key's slot, or -1.
func (s *shard) find(key uint64) int {
	for i := int(key) & s.mask(); ; i = (i + 1) & s.mask() {
		switch s.slots[i].key {
		case key:
			return i
		case 0:
			return -1
		}
	}
}

// get returns key's state; an untracked id's is the zero entry, a new id's.
func (s *shard) get(key uint64) entry {
	if i := s.find(key); i >= 0 {
		return s.slots[i].entry
	}
	return entry{}
}

// emptyFor returns the first empty slot in key's probe sequence.
func (s *shard) emptyFor(key uint64) int {
	i := int(key) & s.mask()
	for s.slots[i].key != 0 {
		i = (i + 1) & s.mask()
	}
	return i
}

// insert adds key, which must be absent, with a new id's state and returns its index.
func (s *shard) insert(key uint64) int {
	if 4*(s.n+1) > 3*len(s.slots) {
		s.resize(2 * len(s.slots))
	}
	i := s.emptyFor(key)
	s.slots[i].key = key
	s.n++
	return i
}

// remove forgets the id in slot i. Later slots of the same probe run shift back into the hole
// (unless that would put them before their home slot), so lookups need no tombstones.
func (s *shard) remove(i int) {
	delete(s.paused, s.slots[i].key)
	delete(s.rings, s.slots[i].key)
	m := s.mask()
	for j := (i + 1) & m; s.slots[j].key != 0; j = (j + 1) & m {
		if home := int(s.slots[j].key) & m; (j-home)&m >= (j-i)&m {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = slot{}
	s.n--
}

func (s *shard) resize(size int) {
	old := s.slots
	s.slots = make([]slot, size)
	s.hand = 0
	for _, sl := range old {
		if sl.key != 0 {
			s.slots[s.emptyFor(sl.key)] = sl
		}
	}
}

// sweep examines the next sweepSlots slots of s and forgets ids whose state has expired, then
// halves a table that has become mostly empty. Each call does O(1) work, amortised.
func (l *Limiter) sweep(s *shard, t int64) {
	if s == nil {
		return
	}
	for range sweepSlots {
		if sl := &s.slots[s.hand]; sl.key != 0 && l.freeAt(s, sl) <= t {
			s.remove(s.hand) // a later slot may shift into the hand; the next lap will see it
			s.evictions++
		}
		s.hand = (s.hand + 1) & s.mask()
	}
	if len(s.slots) > minSlots && 4*s.n < len(s.slots) {
		s.resize(len(s.slots) / 2)
	}
}

// slotFor returns key's state in s, adding it if absent. At the cap, the id among the next
// capProbe after the hand (other than keep) whose state would expire soonest makes room.
func (l *Limiter) slotFor(s *shard, key uint64, t int64, keep uint64) *entry {
	if i := s.find(key); i >= 0 {
		return &s.slots[i].entry
	}
	if s.n >= l.shardCap {
		victim, victimFree := -1, int64(math.MaxInt64)
		step, seen := 0, 0
		for ; step < len(s.slots) && seen < capProbe; step++ {
			j := (s.hand + step) & s.mask()
			if s.slots[j].key == 0 || s.slots[j].key == keep {
				continue
			}
			seen++
			if free := l.freeAt(s, &s.slots[j]); free < victimFree {
				victim, victimFree = j, free
			}
		}
		s.hand = (s.hand + step) & s.mask()
		s.remove(victim)
		if victimFree <= t {
			s.evictions++
		} else {
			s.capEvictions++
		}
	}
	return &s.slots[s.insert(key)].entry
}
