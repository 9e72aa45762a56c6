package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	fieldTopics            = "topics"
	fieldConsumerGroup     = "consumer_group"
	fieldStartOffset       = "start_offset"
	fieldCheckpointLimit   = "checkpoint_limit"
	fieldCommitPeriod      = "commit_period"
	fieldBatching          = "batching"
	fieldSessionTimeout    = "session_timeout"
	fieldRebalanceTimeout  = "rebalance_timeout"
	fieldHeartbeatInterval = "heartbeat_interval"
	fieldFetchMaxBytes     = "fetch_max_bytes"
	fieldFetchMaxPartBytes = "fetch_max_partition_bytes"
	fieldFetchMaxWait      = "fetch_max_wait"
)

const (
	startEarliest  = "earliest"
	startLatest    = "latest"
	startCommitted = "committed"
)

// Waits between replays of a nacked batch: the first replay is at once, a
// batch that keeps failing waits longer each time, up to maxReplayWait.
// minCommitPeriod is the shortest commit_period the client accepts.
const minCommitPeriod = 100 * time.Millisecond

const (
	firstReplayWait = 10 * time.Millisecond
	maxReplayWait   = 5 * time.Second
)

func inputSpec() *service.ConfigSpec {
	fields := append(connectionFields(),
		service.NewStringListField(fieldTopics).
			Description("Topics to consume. An item may hold several topics separated by commas. The partitions of the topics are shared among the members of the consumer group.").
			Example([]string{"amplitude-events"}).
			Example([]string{"foo", "bar"}).
			Example([]string{"foo,bar"}),
		service.NewStringField(fieldConsumerGroup).
			Description("The consumer group to consume as. Instances with the same group share the partitions of the topics, and the group's committed offsets say where a partition resumes when it moves or an instance restarts. Required by this binary, which consumes in groups only."),
		service.NewIntField(fieldCheckpointLimit).
			Description("How many messages of one partition may be in flight at once (handed out and not yet acknowledged). Messages of a partition are handed out without waiting for earlier ones to be acknowledged, so that an output holding one key's messages (the amplitude output waiting on a device's rate) does not stop the partition's other keys. A partition's offset is committed only up to the first message not yet acknowledged: after a crash everything from there is read again, so a higher limit means more messages sent twice. At the limit, fetching from the partition pauses until messages are acknowledged.").
			Default(1024).
			Advanced(),
		service.NewDurationField(fieldCommitPeriod).
			Description("How often acknowledged offsets are committed, at least every 100ms. Offsets are also committed when a partition is taken away by a rebalance and when the input closes.").
			Default("5s").
			Advanced(),
		service.NewBatchPolicyField(fieldBatching).
			Description("Batches messages of one partition together before they are handed out. The batches of different partitions are separate, and a partition's batch holds consecutive messages; a batch's offsets are committed once the whole batch is acknowledged.").
			Advanced(),
		service.NewStringAnnotatedEnumField(fieldStartOffset, map[string]string{
			startEarliest:  "Start from the partition's earliest offset (Kafka's `auto.offset.reset=earliest`).",
			startLatest:    "Start from the partition's latest offset (Kafka's `auto.offset.reset=latest`): only messages written after the group first consumes it.",
			startCommitted: "Consume only partitions that have a committed offset (Kafka's `auto.offset.reset=none`).",
		}).
			Description("Where a partition without a committed offset for the group starts, and where a partition restarts when its committed offset no longer exists.").
			Default(startEarliest).
			Advanced(),
		service.NewDurationField(fieldSessionTimeout).
			Description("How long the group waits for a member's heartbeat before it takes the member's partitions away and gives them to the others. An instance that died without leaving the group keeps its partitions this long.").
			Default("1m").
			Advanced(),
		service.NewDurationField(fieldRebalanceTimeout).
			Description("How long the members may take to finish a rebalance. A partition taken away by a rebalance is given up once every message of it in flight was acknowledged or nacked, and its offset committed; this waits at most `rebalance_timeout` less `heartbeat_interval` (the time the rebalance may have taken to be noticed). Past that the partition is given up anyway, with a warning: its last messages may then be sent by the new owner too, possibly at the same time. Keep it above the longest time an output may hold a message (the amplitude output's `limits.max_hold` plus its request `timeout`).").
			Default("45s").
			Advanced(),
		service.NewDurationField(fieldHeartbeatInterval).
			Description("How often a member heartbeats to the group, at most a third of `session_timeout`. A rebalance is noticed at the next heartbeat.").
			Default("3s").
			Advanced(),
		service.NewStringField(fieldFetchMaxBytes).
			Description("The most bytes a broker returns for one fetch (Kafka's `fetch.max.bytes`); a single larger batch is still returned.").
			Default("50MiB").
			Advanced(),
		service.NewStringField(fieldFetchMaxPartBytes).
			Description("The most bytes a broker returns for one partition in one fetch (Kafka's `max.partition.fetch.bytes`); a single larger batch is still returned.").
			Default("1MiB").
			Advanced(),
		service.NewDurationField(fieldFetchMaxWait).
			Description("How long a broker may wait for data before answering a fetch (Kafka's `fetch.max.wait.ms`, whose 500ms default this follows rather than franz-go's 5s). A partition resumed after reaching `checkpoint_limit` is fetched again only once the broker answers the fetch in progress, which takes this long when the partitions it asks for have nothing new: a backlog whose partitions keep reaching `checkpoint_limit` waits that long at each resume (in `make bench`'s Kafka case, 5s moved 30,000 events/s, 500ms 68,000).").
			Default("500ms").
			Advanced(),
		service.NewAutoRetryNacksToggleField().
			Description("Whether nacked messages (those the output rejected) are handed out again, with a growing wait between attempts, for as long as their partition stays with this instance; only the messages of a batch that failed are. While a message waits to be replayed its partition's offset is not committed past it. Set to `false` to drop nacked messages instead: their offsets are committed as if they had been acknowledged, and they are not read again. A nacked message of a partition that was taken away is never replayed here: the new owner reads it again from the committed offset."),
	)
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Consumes Kafka topics in a consumer group with the franz-go client, committing a partition's offset only past messages that were all acknowledged.").
		Description(`The fields, defaults and metadata are those of Redpanda Connect's `+"`kafka_franz`"+` input (a subset of them), so a config runs unchanged there.

Several instances with the same `+"`consumer_group`"+` share the partitions. Within a partition, messages are handed out without waiting for earlier ones to be acknowledged (up to `+"`checkpoint_limit`"+`), and acknowledged in any order; the committed offset is the lowest one not yet acknowledged, so a crash never skips a message and replays at most the messages in flight.

When a rebalance takes a partition away, the input stops handing out its messages, waits (bounded by `+"`rebalance_timeout`"+`) until those in flight were acknowledged or nacked, commits, and only then lets the group give the partition to another instance: two instances never process one partition's messages at once, so a key's messages are sent by one instance at a time. While it waits, fetching for the other partitions pauses too. A partition lost without a clean rebalance (the instance missed its session timeout) commits nothing more: its new owner reads again from the last committed offset.

== Metadata

Each message gets:

`+"```text"+`
- kafka_key
- kafka_topic
- kafka_partition
- kafka_offset
- kafka_timestamp_unix
- kafka_timestamp_ms
- kafka_tombstone_message
- every record header, by its key
`+"```"+`
`).
		Fields(fields...).
		LintRule(`root = [
  if this.consumer_group.or("") == "" { "consumer_group: a consumer group is required" },
  if this.topics.or([]).any(t -> t.contains(":")) { "topics: explicit partitions (topic:partition) are not supported, list topic names only" },
  if this.topics.or([]).length() == 0 { "topics: at least one topic is required" },
]`).
		Example("Send stage", "Amplitude events from a keyed topic, in a group of instances, to the amplitude output.", `
input:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
    topics: [ amplitude-events ]
    consumer_group: connect-amplitude-send
    batching:
      count: 100
      period: 50ms
output:
  amplitude:
    api_key_file: ./amplitude-api-key
`)
}

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s/%d", tp.topic, tp.partition) }

// partitionState is where a partition of the reader is in its life.
type partitionState int

const (
	// owned: its messages are handed out and its offsets committed.
	owned partitionState = iota
	// revoking: a rebalance takes it away; nothing more is handed out, but
	// messages in flight are still waited for and their offsets committed.
	revoking
	// gone: given up or lost; nothing of it is handed out or committed.
	gone
)

// partition is one assigned partition's state. Guarded by reader.mu.
type partition struct {
	tp       topicPartition
	state    partitionState
	cp       checkpoint
	batcher  *service.Batcher // nil without a batching policy
	open     int              // records in the batcher
	openLast *kgo.Record      // the last of them
	queue    []*delivery      // read, to hand out in order
	replays  []*delivery      // nacked and due again: handed out first
	inFlight int              // batches handed out and not yet answered
	handed   int              // their messages
	paused   bool             // fetching paused at checkpoint_limit
}

// next returns the partition's next batch to hand out, if checkpoint_limit
// lets it out: a batch goes when its messages fit under the limit, or
// alone.
func (p *partition) next(limit int) *delivery {
	q := &p.queue
	if len(p.replays) > 0 {
		q = &p.replays
	}
	if len(*q) == 0 {
		return nil
	}
	d := (*q)[0]
	if p.handed > 0 && p.handed+len(d.msgs) > limit {
		return nil
	}
	(*q)[0] = nil
	*q = (*q)[1:]
	return d
}

// delivery is one batch of a partition on its way through the pipeline.
type delivery struct {
	part     *partition
	mark     *mark
	msgs     service.MessageBatch // as read: what a replay hands out again
	attempts int
}

// reader is the kafka_franz input.
type reader struct {
	conn             connection
	topics           []string
	group            string
	start            kgo.Offset
	checkpointLimit  int
	commitPeriod     time.Duration
	batchPolicy      service.BatchPolicy
	rebalanceWait    time.Duration
	autoReplay       bool
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	heartbeat        time.Duration
	fetchMaxBytes    int32
	fetchMaxPart     int32
	fetchMaxWait     time.Duration

	res *service.Resources
	log *service.Logger

	mu       sync.Mutex
	client   *kgo.Client
	parts    map[topicPartition]*partition
	order    []*partition  // the same, in the order ReadBatch visits them
	turn     int           // where ReadBatch looks first, so partitions take turns
	wake     chan struct{} // signalled when a batch may be handed out
	settled  chan struct{} // closed and replaced when a batch is answered
	closing  bool
	stopPoll context.CancelFunc
	pollDone chan struct{}
}

func newReader(conf *service.ParsedConfig, mgr *service.Resources) (*reader, error) {
	r := &reader{res: mgr, log: mgr.Logger(), parts: map[topicPartition]*partition{},
		wake: make(chan struct{}, 1), settled: make(chan struct{})}
	var err error
	if r.conn, err = parseConnection(conf, mgr.Logger()); err != nil {
		return nil, err
	}
	if r.topics, err = commaList(conf, fieldTopics); err != nil {
		return nil, err
	}
	for _, t := range r.topics {
		if strings.Contains(t, ":") {
			return nil, fmt.Errorf("%s: %q: explicit partitions are not supported, list topic names only", fieldTopics, t)
		}
	}
	if len(r.topics) == 0 {
		return nil, fmt.Errorf("%s: at least one topic is required", fieldTopics)
	}
	if r.group, err = conf.FieldString(fieldConsumerGroup); err != nil {
		return nil, err
	}
	if r.group == "" {
		return nil, fmt.Errorf("%s: a consumer group is required", fieldConsumerGroup)
	}
	start, err := conf.FieldString(fieldStartOffset)
	if err != nil {
		return nil, err
	}
	switch start {
	case startEarliest:
		r.start = kgo.NewOffset().AtStart()
	case startLatest:
		r.start = kgo.NewOffset().AtEnd()
	case startCommitted:
		r.start = kgo.NewOffset().AtCommitted()
	default:
		return nil, fmt.Errorf("%s: unknown value %q (earliest, latest, committed)", fieldStartOffset, start)
	}
	if r.checkpointLimit, err = conf.FieldInt(fieldCheckpointLimit); err != nil {
		return nil, err
	}
	if r.checkpointLimit < 1 {
		return nil, fmt.Errorf("%s: must be at least 1, got %d", fieldCheckpointLimit, r.checkpointLimit)
	}
	if r.commitPeriod, err = conf.FieldDuration(fieldCommitPeriod); err != nil {
		return nil, err
	}
	if r.commitPeriod < minCommitPeriod {
		// franz-go refuses shorter autocommit intervals.
		return nil, fmt.Errorf("%s: must be at least %s, got %s", fieldCommitPeriod, minCommitPeriod, r.commitPeriod)
	}
	if r.batchPolicy, err = conf.FieldBatchPolicy(fieldBatching); err != nil {
		return nil, err
	}
	if !r.batchPolicy.IsNoop() {
		// Built once here so that a bad policy fails the config, not a partition.
		b, err := r.batchPolicy.NewBatcher(mgr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldBatching, err)
		}
		_ = b.Close(context.Background())
	}
	if r.sessionTimeout, err = positiveDuration(conf, fieldSessionTimeout); err != nil {
		return nil, err
	}
	if r.rebalanceTimeout, err = positiveDuration(conf, fieldRebalanceTimeout); err != nil {
		return nil, err
	}
	if r.heartbeat, err = positiveDuration(conf, fieldHeartbeatInterval); err != nil {
		return nil, err
	}
	if r.heartbeat >= r.sessionTimeout {
		return nil, fmt.Errorf("%s: %s must be shorter than %s %s", fieldHeartbeatInterval, r.heartbeat, fieldSessionTimeout, r.sessionTimeout)
	}
	r.rebalanceWait = max(0, r.rebalanceTimeout-r.heartbeat)
	if r.fetchMaxBytes, err = byteSize(conf, fieldFetchMaxBytes); err != nil {
		return nil, err
	}
	if r.fetchMaxPart, err = byteSize(conf, fieldFetchMaxPartBytes); err != nil {
		return nil, err
	}
	if r.fetchMaxWait, err = positiveDuration(conf, fieldFetchMaxWait); err != nil {
		return nil, err
	}
	if r.autoReplay, err = conf.FieldBool(service.AutoRetryNacksToggleFieldName); err != nil {
		return nil, err
	}
	return r, nil
}

func positiveDuration(conf *service.ParsedConfig, field string) (time.Duration, error) {
	d, err := conf.FieldDuration(field)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: must be positive, got %s", field, d)
	}
	return d, nil
}

func (r *reader) Connect(ctx context.Context) error {
	r.mu.Lock()
	connected := r.client != nil
	r.mu.Unlock()
	if connected {
		return nil
	}
	opts := append(slices.Clone(r.conn.opts),
		kgo.ConsumerGroup(r.group),
		kgo.ConsumeTopics(r.topics...),
		kgo.ConsumeResetOffset(r.start),
		kgo.SessionTimeout(r.sessionTimeout),
		kgo.RebalanceTimeout(r.rebalanceTimeout),
		kgo.HeartbeatInterval(r.heartbeat),
		kgo.FetchMaxBytes(r.fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(r.fetchMaxPart),
		kgo.FetchMaxWait(r.fetchMaxWait),
		// Offsets are marked as batches settle and committed by the client
		// every commit_period; OnPartitionsRevoked commits at once.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(r.commitPeriod),
		// Rebalance callbacks never run while a poll's records are being
		// sorted into partitions, so no record of a revoked partition slips
		// into its tracker after the callback (see poll).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
	)
	cl, err := newClient(ctx, opts)
	if err != nil {
		return err
	}
	pollCtx, stop := context.WithCancel(context.Background())
	r.mu.Lock()
	r.client, r.stopPoll, r.pollDone = cl, stop, make(chan struct{})
	r.mu.Unlock()
	go r.poll(pollCtx, cl)
	return nil
}

// poll fetches records and sorts them into their partitions' batches until
// ctx ends.
func (r *reader) poll(ctx context.Context, cl *kgo.Client) {
	defer close(r.pollDone)
	wait := firstReplayWait
	for {
		pctx, cancel := context.WithTimeout(ctx, r.untilFlush())
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return
		}
		failed := false
		fetches.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			failed = true
			r.log.Errorf("kafka_franz: fetching %s/%d: %v", topic, part, err)
		})
		r.mu.Lock()
		fetches.EachRecord(r.addLocked)
		r.flushDueLocked()
		r.pauseFullLocked(cl)
		r.mu.Unlock()
		cl.AllowRebalance()
		if failed && fetches.NumRecords() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, maxReplayWait)
		} else {
			wait = firstReplayWait
		}
	}
}

// untilFlush is how long a poll may wait: until the earliest batch of the
// batching policy is due, and at most a second.
func (r *reader) untilFlush() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	wait := time.Second
	for _, p := range r.parts {
		if p.batcher == nil || p.open == 0 {
			continue
		}
		if d, ok := p.batcher.UntilNext(); ok {
			wait = min(wait, max(d, time.Millisecond))
		}
	}
	return wait
}

func (r *reader) addLocked(rec *kgo.Record) {
	p := r.parts[topicPartition{rec.Topic, rec.Partition}]
	if p == nil || p.state != owned {
		return // not ours (any more): its owner reads it from the committed offset
	}
	msg := recordMessage(rec)
	if p.batcher == nil {
		r.enqueueLocked(p, service.MessageBatch{msg}, rec, 1)
		return
	}
	p.open++
	p.openLast = rec
	if p.batcher.Add(msg) {
		r.flushLocked(p)
	}
}

func (r *reader) flushDueLocked() {
	for _, p := range r.parts {
		if p.batcher == nil || p.open == 0 || p.state != owned {
			continue
		}
		// A batch that is due reports 1ns, never zero.
		if d, ok := p.batcher.UntilNext(); ok && d <= time.Nanosecond {
			r.flushLocked(p)
		}
	}
}

func (r *reader) flushLocked(p *partition) {
	batch, err := p.batcher.Flush(context.Background())
	if err != nil {
		r.log.Errorf("kafka_franz: batching %s: %v", p.tp, err)
	}
	n, last := p.open, p.openLast
	p.open, p.openLast = 0, nil
	if len(batch) > 0 {
		r.enqueueLocked(p, batch, last, n)
	} else if n > 0 {
		// The policy's processors dropped the whole batch: it is done.
		r.settleLocked(p, p.cp.track(last.Offset+1, last.LeaderEpoch, n))
	}
}

// enqueueLocked tracks a batch of n records ending with last and queues it.
func (r *reader) enqueueLocked(p *partition, msgs service.MessageBatch, last *kgo.Record, n int) {
	d := &delivery{part: p, mark: p.cp.track(last.Offset+1, last.LeaderEpoch, n), msgs: msgs}
	p.queue = append(p.queue, d)
	r.signalLocked()
}

func (r *reader) signalLocked() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pauseFullLocked pauses fetching from partitions at checkpoint_limit.
func (r *reader) pauseFullLocked(cl *kgo.Client) {
	var full map[string][]int32
	for _, p := range r.parts {
		if !p.paused && p.state == owned && p.cp.unsettled()+p.open >= r.checkpointLimit {
			if full == nil {
				full = map[string][]int32{}
			}
			full[p.tp.topic] = append(full[p.tp.topic], p.tp.partition)
			p.paused = true
		}
	}
	if full != nil {
		cl.PauseFetchPartitions(full)
	}
}

func (r *reader) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	for {
		r.mu.Lock()
		if r.client == nil {
			r.mu.Unlock()
			return nil, nil, service.ErrNotConnected
		}
		if d := r.nextLocked(); d != nil {
			d.part.inFlight++
			d.part.handed += len(d.msgs)
			r.mu.Unlock()
			msgs := d.msgs
			if r.autoReplay {
				// The pipeline may change what it is handed; a replay needs
				// the messages as read.
				msgs = msgs.Copy()
			}
			index := msgs.Index()
			return msgs, func(_ context.Context, err error) error {
				r.answer(d, index, err)
				return nil
			}, nil
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// nextLocked takes the next batch to hand out, the partitions taking turns.
func (r *reader) nextLocked() *delivery {
	for i := range r.order {
		p := r.order[(r.turn+i)%len(r.order)]
		if p.state != owned {
			continue
		}
		if d := p.next(r.checkpointLimit); d != nil {
			r.turn = (r.turn + i + 1) % len(r.order)
			return d
		}
	}
	return nil
}

// answer handles the pipeline's acknowledgement (err nil) or nack of d.
func (r *reader) answer(d *delivery, index *service.Indexer, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := d.part
	p.inFlight--
	p.handed -= len(d.msgs)
	defer r.broadcastSettledLocked()
	// A partition under checkpoint_limit again may hand out more.
	defer r.signalLocked()
	if err != nil && r.autoReplay {
		if p.state != owned {
			return // the next owner reads it again from the committed offset
		}
		d.msgs = failedMessages(d.msgs, index, err)
		d.attempts++
		wait := min(firstReplayWait<<min(d.attempts-1, 20), maxReplayWait)
		if d.attempts == 1 {
			wait = 0
		}
		r.log.Debugf("kafka_franz: %s: %d messages nacked (%v), replaying in %s", p.tp, len(d.msgs), err, wait)
		time.AfterFunc(wait, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			p.replays = append(p.replays, d)
			r.signalLocked()
		})
		return
	}
	if err != nil {
		r.log.Warnf("kafka_franz: %s: dropping %d nacked messages (auto_replay_nacks is false): %v", p.tp, len(d.msgs), err)
	}
	r.settleLocked(p, d.mark)
}

// settleLocked settles a batch and marks the partition's offset for commit
// when it moved, unless the partition was given up.
func (r *reader) settleLocked(p *partition, m *mark) {
	next, epoch, moved := p.cp.settle(m)
	if moved && p.state != gone {
		r.client.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{
			p.tp.topic: {p.tp.partition: {Epoch: epoch, Offset: next}},
		})
	}
	if p.paused && p.state == owned && p.cp.unsettled()+p.open < r.checkpointLimit {
		p.paused = false
		r.client.ResumeFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.partition}})
	}
}

func (r *reader) broadcastSettledLocked() {
	close(r.settled)
	r.settled = make(chan struct{})
}

// failedMessages returns the messages of a nacked batch that failed, by the
// output's batch error; all of them when it does not say.
func failedMessages(msgs service.MessageBatch, index *service.Indexer, err error) service.MessageBatch {
	var bErr *service.BatchError
	if !errors.As(err, &bErr) || bErr.IndexedErrors() == 0 {
		return msgs
	}
	failed := make([]bool, len(msgs))
	bErr.WalkMessagesIndexedBy(index, func(i int, _ *service.Message, merr error) bool {
		if merr != nil && i >= 0 && i < len(msgs) {
			failed[i] = true
		}
		return true
	})
	var out service.MessageBatch
	for i, f := range failed {
		if f {
			out = append(out, msgs[i])
		}
	}
	if len(out) == 0 {
		return msgs
	}
	return out
}

func (r *reader) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range assigned {
		for _, n := range parts {
			tp := topicPartition{topic, n}
			p := &partition{tp: tp}
			if !r.batchPolicy.IsNoop() {
				var err error
				if p.batcher, err = r.batchPolicy.NewBatcher(r.res); err != nil {
					r.log.Errorf("kafka_franz: %s: batching: %v; handing out messages one by one", tp, err)
				}
			}
			r.parts[tp] = p
			r.order = append(r.order, p)
		}
	}
}

// onRevoked gives up partitions a rebalance takes away: it stops handing
// out their messages, waits (bounded) for those in flight to be answered,
// and commits, so that the next owner starts where this instance stopped.
func (r *reader) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	r.mu.Lock()
	var parts []*partition
	for topic, ns := range revoked {
		for _, n := range ns {
			if p := r.parts[topicPartition{topic, n}]; p != nil {
				p.state = revoking
				parts = append(parts, p)
			}
		}
	}
	// Closing, the pipeline already had its time to answer.
	wait := r.rebalanceWait
	if r.closing {
		wait = 0
	} else if len(parts) > 0 {
		r.log.Infof("kafka_franz: a rebalance takes %d partitions away; waiting up to %s for their messages in flight", len(parts), wait)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		var inFlight []string
		for _, p := range parts {
			if p.inFlight > 0 {
				inFlight = append(inFlight, fmt.Sprintf("%s (%d batches)", p.tp, p.inFlight))
			}
		}
		if len(inFlight) == 0 {
			break
		}
		settled := r.settled
		r.mu.Unlock()
		select {
		case <-settled:
			r.mu.Lock()
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		r.mu.Lock()
		if !r.closing {
			r.log.Warnf("kafka_franz: giving up revoked partitions with messages still in flight after %s: %s; their new owner may send them again", wait, strings.Join(inFlight, ", "))
		}
		break
	}
	r.dropLocked(cl, parts)
	r.mu.Unlock()
	if err := cl.CommitMarkedOffsets(ctx); err != nil && !r.isClosing() {
		r.log.Errorf("kafka_franz: committing offsets of revoked partitions: %v", err)
	}
}

// onLost forgets partitions taken away without a clean rebalance: their new
// owner may already be reading them, so nothing more is committed for them.
func (r *reader) onLost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []*partition
	for topic, ns := range lost {
		for _, n := range ns {
			if p := r.parts[topicPartition{topic, n}]; p != nil {
				parts = append(parts, p)
			}
		}
	}
	if len(parts) > 0 && !r.closing {
		r.log.Warnf("kafka_franz: %d partitions lost without a rebalance: their messages in flight are not committed and will be read again by their new owner", len(parts))
	}
	r.dropLocked(cl, parts)
}

func (r *reader) dropLocked(cl *kgo.Client, parts []*partition) {
	resume := map[string][]int32{}
	for _, p := range parts {
		p.state = gone
		p.queue, p.replays = nil, nil
		delete(r.parts, p.tp)
		r.order = slices.DeleteFunc(r.order, func(q *partition) bool { return q == p })
		if p.batcher != nil {
			_ = p.batcher.Close(context.Background())
		}
		if p.paused {
			// A pause outlives the assignment: undo it for when the
			// partition comes back.
			resume[p.tp.topic] = append(resume[p.tp.topic], p.tp.partition)
		}
	}
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(resume)
	}
}

func (r *reader) isClosing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

// Close commits what was acknowledged and leaves the group. Benthos calls it
// once the messages handed out were answered, or it stopped waiting.
func (r *reader) Close(ctx context.Context) error {
	r.mu.Lock()
	cl, stop, done := r.client, r.stopPoll, r.pollDone
	r.closing = true
	r.mu.Unlock()
	if cl == nil {
		return nil
	}
	stop()
	select {
	case <-done:
	case <-ctx.Done():
	}
	err := cl.CommitMarkedOffsets(ctx)
	if err != nil {
		err = fmt.Errorf("kafka_franz: committing offsets: %w", err)
	}
	// Leaving the group runs onRevoked for every partition, at once.
	cl.Close()
	return err
}

// recordMessage is a record as a message, with the metadata Redpanda
// Connect's kafka_franz gives it.
func recordMessage(rec *kgo.Record) *service.Message {
	msg := service.NewMessage(rec.Value)
	msg.MetaSetMut("kafka_key", string(rec.Key))
	msg.MetaSetMut("kafka_topic", rec.Topic)
	msg.MetaSetMut("kafka_partition", int(rec.Partition))
	msg.MetaSetMut("kafka_offset", int(rec.Offset))
	msg.MetaSetMut("kafka_timestamp_unix", rec.Timestamp.Unix())
	msg.MetaSetMut("kafka_timestamp_ms", rec.Timestamp.UnixMilli())
	msg.MetaSetMut("kafka_tombstone_message", rec.Value == nil)
	for _, h := range rec.Headers {
		msg.MetaSetMut(h.Key, string(h.Value))
	}
	return msg
}
