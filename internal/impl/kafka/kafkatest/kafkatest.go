// Package kafkatest gives tests a Kafka cluster: franz-go's kfake, a fake
// that speaks the Kafka protocol, in the test process; or, when
// KAFKA_BROKERS lists the brokers of a real cluster (host:port, separated by
// commas), that cluster. Each test gets topics and consumer groups of its
// own, so tests may share a real cluster.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers names the environment variable that points the tests at a real
// cluster.
const EnvBrokers = "KAFKA_BROKERS"

// Cluster is a Kafka cluster for one test.
type Cluster struct {
	Brokers []string
	// Fake is the in-process cluster; nil against real brokers.
	Fake  *kfake.Cluster
	admin *kadm.Client
}

// New starts a kfake cluster with opts for the test, or connects to the real
// brokers of KAFKA_BROKERS (opts are then ignored).
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c := &Cluster{}
	if env := os.Getenv(EnvBrokers); env != "" {
		c.Brokers = strings.Split(env, ",")
	} else {
		fake, err := kfake.NewCluster(opts...)
		if err != nil {
			t.Fatalf("starting kfake: %v", err)
		}
		t.Cleanup(fake.Close)
		c.Fake, c.Brokers = fake, fake.ListenAddrs()
	}
	c.admin = kadm.NewClient(c.Client(t))
	return c
}

// RequireFake stops a test that needs the fake's fault injection, saying so,
// when it runs against real brokers.
func (c *Cluster) RequireFake(t testing.TB, why string) {
	t.Helper()
	if c.Fake == nil {
		t.Skipf("needs kfake (%s), and %s points at real brokers", why, EnvBrokers)
	}
}

// Client is a client of the cluster with opts, closed when the test ends.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Name is a topic or group name unique to this test and run.
func Name(t testing.TB, kind string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	safe := regexp.MustCompile(`[^a-zA-Z0-9._-]+`).ReplaceAllString(t.Name(), "-")
	if len(safe) > 100 {
		safe = safe[:100]
	}
	return kind + "." + safe + "." + hex.EncodeToString(b)
}

// Topic creates a topic of the given partitions for the test and returns its
// name; it is deleted when the test ends.
func (c *Cluster) Topic(t testing.TB, partitions int32) string {
	t.Helper()
	name := Name(t, "topic")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.admin.CreateTopic(ctx, partitions, -1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.admin.DeleteTopic(ctx, name)
	})
	// Wait until every partition has a leader, as clients will ask.
	for {
		md, err := c.admin.ListTopics(ctx, name)
		if err == nil && md[name].Err == nil && len(md[name].Partitions) == int(partitions) {
			return name
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s never had %d partitions: %v", name, partitions, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Produce writes records synchronously, each to its Topic, failing the test
// on any error.
func (c *Cluster) Produce(t testing.TB, cl *kgo.Client, records ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// Committed returns a group's committed offset for each partition of a
// topic that has one.
func (c *Cluster) Committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := c.admin.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range offsets[topic] {
		if o.Err == nil {
			out[p] = o.At
		}
	}
	return out
}

// ReadAll reads every record of a topic written so far, without a group.
func (c *Cluster) ReadAll(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := c.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %d partitions not read to their end: %v", topic, len(want), want)
		}
		fetches.EachError(func(_ string, p int32, err error) { t.Logf("reading %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out
}
