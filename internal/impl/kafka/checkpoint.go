package kafka

// checkpoint tracks the batches of one partition that were read but not yet
// settled, in offset order, and says how far the partition's committed
// offset may move: to the end of the longest run of settled batches at the
// front. Batches settle in any order; an offset is committable only once
// every batch below it settled, so a crash replays nothing acknowledged
// before the committed offset and loses nothing after it.
//
// It is pure bookkeeping, not safe for concurrent use: the input holds its
// lock around it.
type checkpoint struct {
	queue   []*mark // unsettled front first; settled ones wait behind an unsettled one
	pending int     // messages of the batches in queue
}

// A mark is one tracked batch: the offset after its last record and the
// leader epoch that record was read at (a commit carries both).
type mark struct {
	next    int64
	epoch   int32
	size    int
	settled bool
}

// track adds a batch of size messages ending before offset next (its last
// record's offset + 1). Batches must be tracked in offset order.
func (c *checkpoint) track(next int64, epoch int32, size int) *mark {
	m := &mark{next: next, epoch: epoch, size: size}
	c.queue = append(c.queue, m)
	c.pending += size
	return m
}

// settle marks m settled (acknowledged, or given up for good) and returns
// the offset the partition may now commit, with its epoch; ok is false when
// the committable offset did not move (an earlier batch is still unsettled).
func (c *checkpoint) settle(m *mark) (next int64, epoch int32, ok bool) {
	if m.settled {
		return 0, 0, false
	}
	m.settled = true
	c.pending -= m.size
	for len(c.queue) > 0 && c.queue[0].settled {
		next, epoch, ok = c.queue[0].next, c.queue[0].epoch, true
		c.queue[0] = nil
		c.queue = c.queue[1:]
	}
	return next, epoch, ok
}

// unsettled returns how many messages are tracked and not yet settled: the
// partition's share of checkpoint_limit.
func (c *checkpoint) unsettled() int { return c.pending }
