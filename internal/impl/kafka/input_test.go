package kafka

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka/kafkatest"
)

// produceN writes n records m<i> to a partition of topic, with keys k<i>.
func produceN(t *testing.T, c *kafkatest.Cluster, topic string, partition int32, prefix string, n int) {
	t.Helper()
	cl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition,
			Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("%s%d", prefix, i))})
	}
	c.Produce(t, cl, recs...)
}

// byContent indexes held single-message batches by their content.
func byContent(hs []*held) map[string]*held {
	out := map[string]*held{}
	for _, h := range hs {
		out[h.content(0)] = h
	}
	return out
}

// Messages of one partition are handed out together and acknowledged in any
// order; the committed offset never passes a message not yet acknowledged.
func TestInputCommitsAPartitionOnlyPastMessagesAllAcknowledged(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 1), kafkatest.Name(t, "group")
	produceN(t, c, topic, 0, "m", 6)
	env, batches := newEnv(t)
	startStream(t, env, inputYAML(c, topic, group, "    commit_period: 100ms\noutput:\n  test_hold: {}"))

	// All six at once: none waits for an earlier one's acknowledgement.
	got := byContent(receive(t, batches, 6))
	acked := make([]bool, 6)
	// lowestUnacked is the highest offset the group may have committed.
	lowestUnacked := func() int64 {
		return int64(slices.Index(append(slices.Clone(acked), false), false))
	}
	var mu sync.Mutex
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			committed, ok := c.Committed(t, group, topic)[0]
			mu.Lock()
			limit := lowestUnacked()
			mu.Unlock()
			if ok && committed > limit {
				t.Errorf("committed offset %d, but offset %d is not acknowledged", committed, limit)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	steps := []struct {
		ack  []int
		want int64 // the committed offset that follows, -1 for none yet
	}{
		{ack: []int{4, 1, 2}, want: -1},
		{ack: []int{0}, want: 3},
		{ack: []int{5}, want: 3},
		{ack: []int{3}, want: 6},
	}
	for _, s := range steps {
		mu.Lock()
		for _, i := range s.ack {
			acked[i] = true
			got[fmt.Sprintf("m%d", i)].ack()
		}
		mu.Unlock()
		if s.want < 0 {
			// Many commit periods pass without a commit.
			time.Sleep(500 * time.Millisecond)
			if committed, ok := c.Committed(t, group, topic)[0]; ok && committed > 0 {
				t.Fatalf("after acknowledging %v: committed %d, want nothing", s.ack, committed)
			}
			continue
		}
		eventually(t, fmt.Sprintf("offset %d is committed", s.want), func() bool {
			return c.Committed(t, group, topic)[0] == s.want
		})
	}
	close(stop)
	<-watched
}

// At checkpoint_limit a partition hands out nothing more until a message is
// answered.
func TestInputHandsOutAtMostCheckpointLimitMessagesOfAPartition(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 1), kafkatest.Name(t, "group")
	produceN(t, c, topic, 0, "m", 10)
	env, batches := newEnv(t)
	startStream(t, env, inputYAML(c, topic, group, "    checkpoint_limit: 3\noutput:\n  test_hold: {}"))

	first := receive(t, batches, 3)
	receiveNone(t, batches, 500*time.Millisecond)
	first[1].ack()
	more := receive(t, batches, 1)
	receiveNone(t, batches, 500*time.Millisecond)
	contents := []string{first[0].content(0), first[1].content(0), first[2].content(0), more[0].content(0)}
	first[0].ack()
	first[2].ack()
	more[0].ack()
	// The rest, three at most at a time.
	for len(contents) < 10 {
		n := min(3, 10-len(contents))
		for _, h := range receive(t, batches, n) {
			contents = append(contents, h.content(0))
			h.ack()
		}
	}
	for i := range 10 {
		if !slices.Contains(contents, fmt.Sprintf("m%d", i)) {
			t.Errorf("m%d never handed out; got %q", i, contents)
		}
	}
}

// commit_period paces commits while the input runs; closing commits the
// rest whatever the period.
func TestInputCommitsEveryCommitPeriodAndOnClose(t *testing.T) {
	tests := []struct {
		period          string
		committedInRun  bool
		committedAtStop bool
	}{
		{period: "100ms", committedInRun: true, committedAtStop: true},
		{period: "1h", committedInRun: false, committedAtStop: true},
	}
	for _, tt := range tests {
		t.Run(tt.period, func(t *testing.T) {
			c := kafkatest.New(t)
			topic, group := c.Topic(t, 1), kafkatest.Name(t, "group")
			produceN(t, c, topic, 0, "m", 4)
			env, batches := newEnv(t)
			s := startStream(t, env, inputYAML(c, topic, group, "    commit_period: "+tt.period+"\noutput:\n  test_hold: {}"))
			for _, h := range receive(t, batches, 4) {
				h.ack()
			}
			if tt.committedInRun {
				eventually(t, "the acknowledged offsets are committed", func() bool { return c.Committed(t, group, topic)[0] == 4 })
			} else {
				time.Sleep(time.Second)
				if got, ok := c.Committed(t, group, topic)[0]; ok {
					t.Fatalf("committed %d within a second, with commit_period %s", got, tt.period)
				}
			}
			s.stop(t)
			if got := c.Committed(t, group, topic)[0]; got != 4 {
				t.Errorf("after closing: committed %d, want 4", got)
			}
		})
	}
}

// A nacked message is handed out again as it was read (the pipeline's
// changes undone), and the partition commits past it only once it is
// acknowledged; with auto_replay_nacks false it is dropped and committed.
func TestInputReplaysNackedMessagesUnlessToldNotTo(t *testing.T) {
	tests := []struct {
		autoReplay bool
		replayed   bool
	}{
		{autoReplay: true, replayed: true},
		{autoReplay: false, replayed: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("auto_replay_nacks=%t", tt.autoReplay), func(t *testing.T) {
			c := kafkatest.New(t)
			topic, group := c.Topic(t, 1), kafkatest.Name(t, "group")
			produceN(t, c, topic, 0, "m", 3)
			env, batches := newEnv(t)
			s := startStream(t, env, inputYAML(c, topic, group, fmt.Sprintf(`    commit_period: 100ms
    auto_replay_nacks: %t
pipeline:
  processors:
    - mapping: 'root = content().string() + "+"'
output:
  test_hold: {}`, tt.autoReplay)))

			got := byContent(receive(t, batches, 3))
			got["m1+"].ack()
			got["m2+"].ack()
			got["m0+"].nack(errors.New("refused"))
			if !tt.replayed {
				receiveNone(t, batches, 500*time.Millisecond)
				eventually(t, "the dropped message is committed past", func() bool { return c.Committed(t, group, topic)[0] == 3 })
				if !strings.Contains(s.log.String(), "dropping 1 nacked messages") {
					t.Errorf("the drop was not logged:\n%s", s.log.String())
				}
				return
			}
			again := receive(t, batches, 1)[0]
			if again.content(0) != "m0+" || again.meta(0, "kafka_offset") != "0" {
				t.Fatalf("replayed %q at offset %s, want m0+ at offset 0", again.content(0), again.meta(0, "kafka_offset"))
			}
			time.Sleep(300 * time.Millisecond)
			if got, ok := c.Committed(t, group, topic)[0]; ok && got > 0 {
				t.Fatalf("committed %d while the nacked message waits", got)
			}
			again.ack()
			eventually(t, "the replayed message is committed", func() bool { return c.Committed(t, group, topic)[0] == 3 })
		})
	}
}

// Of a nacked batch, only the messages the output says failed come again.
func TestInputReplaysOnlyTheFailedMessagesOfABatch(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 1), kafkatest.Name(t, "group")
	produceN(t, c, topic, 0, "m", 3)
	env, batches := newEnv(t)
	startStream(t, env, inputYAML(c, topic, group, `    batching:
      count: 3
output:
  test_hold: {}`))

	h := receive(t, batches, 1)[0]
	if len(h.batch) != 3 {
		t.Fatalf("a batch of %d messages, want 3", len(h.batch))
	}
	h.nack(service.NewBatchError(h.batch, errors.New("one failed")).Failed(1, errors.New("refused")))
	again := receive(t, batches, 1)[0]
	if len(again.batch) != 1 || again.content(0) != "m1" {
		var got []string
		for i := range again.batch {
			got = append(got, again.content(i))
		}
		t.Fatalf("replayed %q, want only m1", got)
	}
	again.ack()
}

// A partition's batch is handed out when its count is reached or its
// period ends, whichever comes first.
func TestInputHandsOutABatchAtItsCountOrAtTheEndOfItsPeriod(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 2), kafkatest.Name(t, "group")
	produceN(t, c, topic, 0, "p0-", 25)
	produceN(t, c, topic, 1, "p1-", 7)
	env, batches := newEnv(t)
	startStream(t, env, inputYAML(c, topic, group, `    batching:
      count: 10
      period: 50ms
output:
  test_hold: {}`))

	got := map[string][]int{}
	timeout := time.After(30 * time.Second)
	for n := 0; n < 32; {
		select {
		case h := <-batches:
			p := h.meta(0, "kafka_partition")
			for i := range h.batch {
				if h.meta(i, "kafka_partition") != p {
					t.Fatalf("a batch mixes partitions %s and %s", p, h.meta(i, "kafka_partition"))
				}
			}
			got[p] = append(got[p], len(h.batch))
			n += len(h.batch)
			h.ack()
		case <-timeout:
			t.Fatalf("batches so far %v: the rest never came", got)
		}
	}
	for p, sizes := range got {
		for _, size := range sizes {
			if size > 10 {
				t.Errorf("partition %s: a batch of %d, over the count", p, size)
			}
		}
	}
}

// The metadata Redpanda Connect's kafka_franz gives a message.
func TestInputSetsTheRecordsMetadata(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 2), kafkatest.Name(t, "group")
	cl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	at := time.UnixMilli(1_700_000_000_123)
	c.Produce(t, cl, &kgo.Record{Topic: topic, Partition: 1, Key: []byte("user-42"), Value: []byte(`{"a":1}`), Timestamp: at,
		Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("braze")}}})
	env, batches := newEnv(t)
	startStream(t, env, inputYAML(c, topic, group, "output:\n  test_hold: {}"))

	h := receive(t, batches, 1)[0]
	defer h.ack()
	want := map[string]string{
		"kafka_key": "user-42", "kafka_topic": topic, "kafka_partition": "1", "kafka_offset": "0",
		"kafka_timestamp_ms": "1700000000123", "kafka_timestamp_unix": "1700000000", "kafka_tombstone_message": "false",
		"source": "braze",
	}
	for k, v := range want {
		if got := h.meta(0, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// A rebalance that moves a partition waits until the old owner's messages
// of it were acknowledged, and commits them: the new owner gets none of
// them and none of the partition's messages while the old owner still
// holds some.
func TestInputGivesUpARevokedPartitionOnlyOnceItsMessagesSettled(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 4), kafkatest.Name(t, "group")
	for p := range int32(4) {
		produceN(t, c, topic, p, fmt.Sprintf("old-p%d-", p), 2)
	}
	envA, batchesA := newEnv(t)
	a := startStream(t, envA, inputYAML(c, topic, group, "    rebalance_timeout: 30s\noutput:\n  test_hold: {}"))
	held := receive(t, batchesA, 8)

	envB, batchesB := newEnv(t)
	startStream(t, envB, inputYAML(c, topic, group, "output:\n  test_hold: {}"))
	// B joins, A notices at a heartbeat and starts giving up partitions,
	// which waits for A's messages: new messages of them reach nobody.
	eventually(t, "A starts giving up partitions", func() bool { return strings.Contains(a.log.String(), "a rebalance takes") })
	for p := range int32(4) {
		produceN(t, c, topic, p, fmt.Sprintf("new-p%d-", p), 1)
	}
	receiveNone(t, batchesB, 2*time.Second)
	acked := time.Now()
	for _, h := range held {
		h.ack()
	}

	// Each new message reaches one instance, once; B's come after the acks.
	seen := map[string]string{}
	var bParts []string
	timeout := time.After(30 * time.Second)
	for len(seen) < 4 {
		select {
		case h := <-batchesA:
			if !strings.HasPrefix(h.content(0), "new-") {
				t.Fatalf("A received %q again", h.content(0))
			}
			seen[h.content(0)] += "A"
			h.ack()
		case h := <-batchesB:
			if !strings.HasPrefix(h.content(0), "new-") {
				t.Fatalf("B received %q, which A had acknowledged", h.content(0))
			}
			if time.Now().Before(acked) {
				t.Fatalf("B received %q before A's messages settled", h.content(0))
			}
			seen[h.content(0)] += "B"
			bParts = append(bParts, h.meta(0, "kafka_partition"))
			h.ack()
		case <-timeout:
			t.Fatalf("new messages received: %v, want 4", seen)
		}
	}
	for m, who := range seen {
		if len(who) != 1 {
			t.Errorf("%s received by %s", m, who)
		}
	}
	if len(bParts) == 0 {
		t.Errorf("B got no partition: no rebalance happened (new messages: %v)", seen)
	}
	if strings.Contains(a.log.String(), "giving up revoked partitions") {
		t.Errorf("A gave partitions up before their messages settled:\n%s", a.log.String())
	}
}

// The wait is bounded: past rebalance_timeout the partition is given up
// with a warning, and its new owner reads again what was not acknowledged.
func TestInputGivesUpARevokedPartitionAfterRebalanceTimeout(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 2), kafkatest.Name(t, "group")
	produceN(t, c, topic, 0, "p0-", 1)
	produceN(t, c, topic, 1, "p1-", 1)
	envA, batchesA := newEnv(t)
	a := startStream(t, envA, inputYAML(c, topic, group, "    rebalance_timeout: 2s\noutput:\n  test_hold: {}"))
	holding := receive(t, batchesA, 2)
	defer func() {
		for _, h := range holding {
			h.ack()
		}
	}()

	envB, batchesB := newEnv(t)
	startStream(t, envB, inputYAML(c, topic, group, "output:\n  test_hold: {}"))
	again := receive(t, batchesB, 1)[0]
	defer again.ack()
	if !slices.ContainsFunc(holding, func(h *held) bool { return h.content(0) == again.content(0) }) {
		t.Fatalf("B received %q, want one of A's unacknowledged messages", again.content(0))
	}
	if !strings.Contains(a.log.String(), "giving up revoked partitions with messages still in flight") {
		t.Errorf("A did not warn:\n%s", a.log.String())
	}
}

// A partition lost without a clean rebalance (here the broker forgets the
// member) commits nothing more, even for messages acknowledged afterwards:
// they are read again.
func TestInputCommitsNothingForALostPartition(t *testing.T) {
	c := kafkatest.New(t)
	c.RequireFake(t, "it makes the broker answer a heartbeat with UNKNOWN_MEMBER_ID")
	topic, group := c.Topic(t, 1), kafkatest.Name(t, "group")
	produceN(t, c, topic, 0, "m", 3)
	env, batches := newEnv(t)
	s := startStream(t, env, inputYAML(c, topic, group, "    commit_period: 100ms\noutput:\n  test_hold: {}"))
	first := byContent(receive(t, batches, 3))
	first["m0"].ack()
	eventually(t, "the first message is committed", func() bool { return c.Committed(t, group, topic)[0] == 1 })

	var once sync.Once
	lost := make(chan struct{})
	c.Fake.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.Group != group {
			return nil, nil, false
		}
		c.Fake.KeepControl()
		handled := false
		once.Do(func() { handled = true })
		if !handled {
			return nil, nil, false
		}
		close(lost)
		resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	<-lost
	eventually(t, "the input reports the loss", func() bool { return strings.Contains(s.log.String(), "partitions lost without a rebalance") })
	first["m1"].ack()
	first["m2"].ack()
	// Whatever the group does next, offsets 1 and 2 come again.
	again := receive(t, batches, 2)
	if got := c.Committed(t, group, topic)[0]; got != 1 {
		t.Errorf("committed %d after acknowledging messages of a lost partition, want 1", got)
	}
	var offsets []string
	for _, h := range again {
		offsets = append(offsets, h.meta(0, "kafka_offset"))
		h.ack()
	}
	slices.Sort(offsets)
	if !slices.Equal(offsets, []string{"1", "2"}) {
		t.Errorf("read again offsets %v, want [1 2]", offsets)
	}
	eventually(t, "the replayed messages are committed", func() bool { return c.Committed(t, group, topic)[0] == 3 })
}

// Settings that cannot work fail the config with the field's name.
func TestComponentsRejectBadConfigNamingTheField(t *testing.T) {
	tests := []struct {
		kind, name, fields, want string
	}{
		{"input", "no group", `topics: [t]`, "consumer_group"},
		{"input", "explicit partitions", "topics: [ \"t:0\" ]\nconsumer_group: g", "topics"},
		{"input", "no topics", "topics: []\nconsumer_group: g", "topics"},
		{"input", "no brokers", "seed_brokers: [ \"\" ]\ntopics: [t]\nconsumer_group: g", "seed_brokers"},
		{"input", "checkpoint limit", "topics: [t]\nconsumer_group: g\ncheckpoint_limit: 0", "checkpoint_limit"},
		{"input", "fetch size", "topics: [t]\nconsumer_group: g\nfetch_max_bytes: lots", "fetch_max_bytes"},
		{"input", "heartbeat", "topics: [t]\nconsumer_group: g\nheartbeat_interval: 2m", "heartbeat_interval"},
		{"input", "commit period", "topics: [t]\nconsumer_group: g\ncommit_period: 10ms", "commit_period"},
		{"input", "sasl user", "topics: [t]\nconsumer_group: g\nsasl:\n  - mechanism: PLAIN", "sasl[0].username"},
		{"output", "no topic", "key: k", "topic"},
		{"output", "manual without partition", "topic: t\npartitioner: manual", "partition"},
		{"output", "partition without manual", "topic: t\npartition: '1'", "partition"},
		{"output", "max message bytes", "topic: t\nmax_message_bytes: huge", "max_message_bytes"},
		{"output", "timeout", "topic: t\ntimeout: 0s", "timeout"},
		{"output", "no brokers", "topic: t\nseed_brokers: [ \",\" ]", "seed_brokers"},
		{"output", "sasl user", "topic: t\nsasl:\n  - mechanism: SCRAM-SHA-256\n    password: p", "sasl[0].username"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.name, func(t *testing.T) {
			fields := tt.fields
			if !strings.Contains(fields, "seed_brokers") {
				fields = "seed_brokers: [ \"127.0.0.1:9\" ]\n" + fields
			}
			err := configError(t, tt.kind, fields)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// configError lints a component's fields, as a stream config, and then
// builds the component: the first error, if any.
func configError(t *testing.T, kind string, fields string) error {
	t.Helper()
	env := service.NewEnvironment()
	if err := Register(env); err != nil {
		t.Fatal(err)
	}
	yaml := kind + ":\n  kafka_franz:\n" + indent(fields, "    ")
	if kind == "input" {
		yaml += "\noutput:\n  drop: {}"
	} else {
		yaml = "input:\n  generate: {mapping: 'root = \"\"'}\n" + yaml
	}
	if err := env.NewStreamBuilder().SetYAML(yaml); err != nil {
		return err
	}
	if kind == "input" {
		conf, err := inputSpec().ParseYAML(fields, env)
		if err != nil {
			return err
		}
		_, err = newReader(conf, service.MockResources())
		return err
	}
	conf, err := outputSpec().ParseYAML(fields, env)
	if err != nil {
		return err
	}
	_, _, _, err = newWriter(conf, service.MockResources())
	return err
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
