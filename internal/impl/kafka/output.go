package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	fieldTopic           = "topic"
	fieldKey             = "key"
	fieldPartition       = "partition"
	fieldPartitioner     = "partitioner"
	fieldIdempotentWrite = "idempotent_write"
	fieldCompression     = "compression"
	fieldAutoTopic       = "allow_auto_topic_creation"
	fieldTimeout         = "timeout"
	fieldMaxMessageBytes = "max_message_bytes"
	fieldMaxInFlight     = "max_in_flight"
)

const (
	partitionerMurmur2    = "murmur2_hash"
	partitionerRoundRobin = "round_robin"
	partitionerLeastBack  = "least_backup"
	partitionerManual     = "manual"
)

func outputSpec() *service.ConfigSpec {
	fields := append(connectionFields(),
		service.NewInterpolatedStringField(fieldTopic).
			Description("The topic to write to, interpolated per message.").
			Example("amplitude-events"),
		service.NewInterpolatedStringField(fieldKey).
			Description("The record key, interpolated per message. With the default partitioner, records with one key go to one partition. Unset: records have no key and are spread over partitions.").
			Example(`${! json("user_id").or(json("device_id")) }`).
			Optional(),
		service.NewStringAnnotatedEnumField(fieldPartitioner, map[string]string{
			partitionerMurmur2:    "The partition is the murmur2 hash of the key, as Kafka's Java client computes it, so the same key lands on the same partition whichever client wrote it. Records without a key go to one partition per batch, in turn.",
			partitionerRoundRobin: "Records go to every partition in turn, whatever their key.",
			partitionerLeastBack:  "Records go to the partition with the fewest records waiting to be sent, whatever their key.",
			partitionerManual:     "Records go to the partition `partition` says.",
		}).
			Description("How a record's partition is chosen. Unset: `murmur2_hash`.").
			Optional().
			Advanced(),
		service.NewInterpolatedStringField(fieldPartition).
			Description("The partition to write to, interpolated per message to a number. Only with the `manual` partitioner.").
			Example(`${! meta("partition") }`).
			Optional().
			Advanced(),
		service.NewBoolField(fieldIdempotentWrite).
			Description("Write idempotently: the broker drops a record the client sends again after a lost answer, so retries never duplicate records within a partition. Needs the `IDEMPOTENT_WRITE` permission on the cluster where ACLs are used. Records are always acknowledged by all in-sync replicas (acks=all) before a message is acknowledged.").
			Default(true).
			Advanced(),
		service.NewStringEnumField(fieldCompression, "lz4", "snappy", "gzip", "none", "zstd").
			Description("The compression of record batches. Unset: snappy where the broker supports it, else none.").
			Optional().
			Advanced(),
		service.NewBoolField(fieldAutoTopic).
			Description("Let the broker create a topic that does not exist when it is first written to (if the broker allows it), with the broker's default partition count.").
			Default(true).
			Advanced(),
		service.NewDurationField(fieldTimeout).
			Description("How long a produce request may take before it is abandoned and sent again.").
			Default("10s").
			Advanced(),
		service.NewStringField(fieldMaxMessageBytes).
			Description("The largest record batch sent (Kafka's `max.message.bytes`); a message larger than this alone fails with an error naming it. Keep it within the topic's `max.message.bytes`.").
			Default("1MiB").
			Example("100MB").
			Advanced(),
		service.NewOutputMaxInFlightField().
			Description("How many batches may be written at once.").
			Default(10),
		service.NewBatchPolicyField(fieldBatching),
	)
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Writes messages to Kafka with the franz-go client, and acknowledges a message only once all in-sync replicas have it.").
		Description(`The fields and defaults are those of Redpanda Connect's `+"`kafka_franz`"+` output (a subset of them), so a config runs unchanged there.

A message is acknowledged only once its record was acknowledged by all in-sync replicas (acks=all); a message that fails is reported alone, so that an upstream HTTP request is answered with an error (and sent again) and a `+"`fallback`"+` sees which messages failed. Records are written idempotently by default. Keyed records go to the partition Kafka's Java client would choose (murmur2 of the key).`).
		Fields(fields...).
		LintRule(`root = match {
  this.partitioner.or("") == "manual" && this.partition.or("") == "" => "partition: a partition is required with the manual partitioner"
  this.partitioner.or("") != "manual" && this.partition.or("") != "" => "partition: only the manual partitioner uses a partition"
}`).
		Example("Receive stage", "Amplitude events keyed by their user, else their device, so that one id's events stay on one partition.", `
output:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
    topic: amplitude-events
    key: ${! json("user_id").or(json("device_id")) }
`)
}

// writer is the kafka_franz output.
type writer struct {
	opts      []kgo.Opt
	topic     *service.InterpolatedString
	key       *service.InterpolatedString
	partition *service.InterpolatedString

	mu     sync.Mutex
	client *kgo.Client
}

func newWriter(conf *service.ParsedConfig, mgr *service.Resources) (*writer, service.BatchPolicy, int, error) {
	var policy service.BatchPolicy
	conn, err := parseConnection(conf, mgr.Logger())
	if err != nil {
		return nil, policy, 0, err
	}
	w := &writer{opts: slices.Clone(conn.opts)}
	if w.topic, err = conf.FieldInterpolatedString(fieldTopic); err != nil {
		return nil, policy, 0, err
	}
	if conf.Contains(fieldKey) {
		if w.key, err = conf.FieldInterpolatedString(fieldKey); err != nil {
			return nil, policy, 0, err
		}
	}
	partitioner := partitionerMurmur2
	if conf.Contains(fieldPartitioner) {
		if partitioner, err = conf.FieldString(fieldPartitioner); err != nil {
			return nil, policy, 0, err
		}
	}
	if conf.Contains(fieldPartition) {
		if w.partition, err = conf.FieldInterpolatedString(fieldPartition); err != nil {
			return nil, policy, 0, err
		}
	}
	switch {
	case partitioner == partitionerManual && w.partition == nil:
		return nil, policy, 0, fmt.Errorf("%s: a partition is required with the manual partitioner", fieldPartition)
	case partitioner != partitionerManual && w.partition != nil:
		return nil, policy, 0, fmt.Errorf("%s: only the manual partitioner uses a partition", fieldPartition)
	}
	switch partitioner {
	case partitionerMurmur2:
		// A nil hasher is Kafka's: murmur2, sign bit masked, modulo the
		// partition count, as the Java client's default partitioner.
		w.opts = append(w.opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	case partitionerRoundRobin:
		w.opts = append(w.opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	case partitionerLeastBack:
		w.opts = append(w.opts, kgo.RecordPartitioner(kgo.LeastBackupPartitioner()))
	case partitionerManual:
		w.opts = append(w.opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	default:
		return nil, policy, 0, fmt.Errorf("%s: unknown partitioner %q", fieldPartitioner, partitioner)
	}
	idempotent, err := conf.FieldBool(fieldIdempotentWrite)
	if err != nil {
		return nil, policy, 0, err
	}
	w.opts = append(w.opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	if !idempotent {
		w.opts = append(w.opts, kgo.DisableIdempotentWrite())
	}
	if conf.Contains(fieldCompression) {
		name, err := conf.FieldString(fieldCompression)
		if err != nil {
			return nil, policy, 0, err
		}
		codec, ok := map[string]kgo.CompressionCodec{
			"lz4": kgo.Lz4Compression(), "snappy": kgo.SnappyCompression(), "gzip": kgo.GzipCompression(),
			"none": kgo.NoCompression(), "zstd": kgo.ZstdCompression(),
		}[name]
		if !ok {
			return nil, policy, 0, fmt.Errorf("%s: unknown codec %q", fieldCompression, name)
		}
		w.opts = append(w.opts, kgo.ProducerBatchCompression(codec))
	}
	autoTopic, err := conf.FieldBool(fieldAutoTopic)
	if err != nil {
		return nil, policy, 0, err
	}
	if autoTopic {
		w.opts = append(w.opts, kgo.AllowAutoTopicCreation())
	}
	timeout, err := positiveDuration(conf, fieldTimeout)
	if err != nil {
		return nil, policy, 0, err
	}
	maxBytes, err := byteSize(conf, fieldMaxMessageBytes)
	if err != nil {
		return nil, policy, 0, err
	}
	w.opts = append(w.opts, kgo.ProduceRequestTimeout(timeout), kgo.ProducerBatchMaxBytes(maxBytes))
	inFlight, err := conf.FieldMaxInFlight()
	if err != nil {
		return nil, policy, 0, err
	}
	if policy, err = conf.FieldBatchPolicy(fieldBatching); err != nil {
		return nil, policy, 0, err
	}
	return w, policy, inFlight, nil
}

func (w *writer) Connect(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client != nil {
		return nil
	}
	cl, err := newClient(ctx, w.opts)
	if err != nil {
		return err
	}
	w.client = cl
	return nil
}

// WriteBatch writes every message and waits for each record's
// acknowledgement; the messages that failed are reported one by one.
func (w *writer) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	w.mu.Lock()
	cl := w.client
	w.mu.Unlock()
	if cl == nil {
		return service.ErrNotConnected
	}
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for i, msg := range batch {
		rec, err := w.record(msg)
		if err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				errs[i] = fmt.Errorf("writing to %s: %w", rec.Topic, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	var bErr *service.BatchError
	for i, err := range errs {
		if err == nil {
			continue
		}
		if bErr == nil {
			bErr = service.NewBatchError(batch, fmt.Errorf("kafka_franz: %w", err))
		}
		bErr.Failed(i, err)
	}
	if bErr != nil {
		return bErr
	}
	return nil
}

func (w *writer) record(msg *service.Message) (*kgo.Record, error) {
	value, err := msg.AsBytes()
	if err != nil {
		return nil, err
	}
	rec := &kgo.Record{Value: value, Context: msg.Context()}
	if rec.Topic, err = w.topic.TryString(msg); err != nil {
		return nil, fmt.Errorf("%s: %w", fieldTopic, err)
	}
	if rec.Topic == "" {
		return nil, fmt.Errorf("%s: interpolated to an empty topic", fieldTopic)
	}
	if w.key != nil {
		if rec.Key, err = w.key.TryBytes(msg); err != nil {
			return nil, fmt.Errorf("%s: %w", fieldKey, err)
		}
	}
	if w.partition != nil {
		s, err := w.partition.TryString(msg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldPartition, err)
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a partition number", fieldPartition, s)
		}
		rec.Partition = int32(n)
	}
	return rec, nil
}

func (w *writer) Close(context.Context) error {
	w.mu.Lock()
	cl := w.client
	w.client = nil
	w.mu.Unlock()
	if cl != nil {
		// WriteBatch waited for its records: there is nothing to flush.
		cl.Close()
	}
	return nil
}
