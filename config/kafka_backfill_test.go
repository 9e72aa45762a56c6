package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka/kafkatest"
)

// TestKafkaBackfillWritesEveryRecordKeyedOrDeadLettersIt runs
// config/kafka-backfill.yaml as it is over the archive of
// TestAvroBackfillSendsEveryRecordOnceOrDeadLettersIt, into a topic of 12
// partitions: every readable record the mapping accepts is in the topic
// once, keyed by its user_id, else its device_id; the others are in the
// dead-letter file with the mapping's reason. Amplitude's own refusals
// (short ids, silenced devices) are the send stage's to meet.
func TestKafkaBackfillWritesEveryRecordKeyedOrDeadLettersIt(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 12)
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "currents")
	records := writeSampleArchive(t, archive)
	records = append(records, writeDamagedFile(t, archive)...)
	deadLetter := filepath.Join(tmp, "dead-letter.jsonl")

	logs := runUntilDone(t, "kafka-backfill.yaml", map[string]string{
		"CURRENTS_ARCHIVE":   archive,
		"CURRENTS_ANONYMOUS": "true",
		"KAFKA_BROKERS":      strings.Join(c.Brokers, ","),
		"KAFKA_TOPIC":        topic,
		"DEAD_LETTER_FILE":   deadLetter,
	})

	written := map[string]int{}
	partitions := map[int32]bool{}
	for _, r := range c.ReadAll(t, topic) {
		ev := gjson.ParseBytes(r.Value)
		id := ev.Get("insert_id").String()
		written[id]++
		partitions[r.Partition] = true
		want := ev.Get("user_id").String()
		if want == "" {
			want = ev.Get("device_id").String()
		}
		if string(r.Key) != want {
			t.Errorf("%s: key %q, want %q (its user_id, else its device_id)", id, r.Key, want)
		}
	}
	dead := readDeadLetters(t, deadLetter)
	counts := map[string]int{}
	for _, r := range records {
		mappingFails := r.wantReason != "" && !strings.HasPrefix(r.wantReason, "amplitude: ")
		switch {
		case r.unreadable:
			counts["unreadable"]++
			if written[r.id] != 0 || len(dead[r.id]) != 0 {
				t.Errorf("%s: a record of a damaged block was emitted", r.id)
			}
		case mappingFails:
			counts["dead-lettered"]++
			if written[r.id] != 0 || len(dead[r.id]) != 1 || !strings.Contains(dead[r.id][0].Reason, r.wantReason) {
				t.Errorf("%s: in Kafka %d times, dead letters %+v; want one with reason %q", r.id, written[r.id], dead[r.id], r.wantReason)
			}
		default:
			counts["written"]++
			if r.anonymous {
				counts["anonymous"]++
			}
			if written[r.id] != 1 || len(dead[r.id]) != 0 {
				t.Errorf("%s (%s): in Kafka %d times, dead-lettered %d times; want once in Kafka", r.id, r.path, written[r.id], len(dead[r.id]))
			}
		}
	}
	known := map[string]bool{}
	for _, r := range records {
		known[r.id] = true
	}
	for id := range written {
		if !known[id] {
			t.Errorf("Kafka holds %q, which no record holds", id)
		}
	}
	if counts["written"] < 90 || counts["anonymous"] == 0 || counts["dead-lettered"] == 0 || counts["unreadable"] == 0 || len(partitions) < 6 {
		t.Errorf("records by outcome %v over %d partitions: the archive does not exercise every route", counts, len(partitions))
	}
	if !strings.Contains(logs, "damaged+0+0000000000.avro: block 3") {
		t.Errorf("the log does not name the damaged file and block:\n%s", logs)
	}
}
