package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
)

// fakeSendStage stands in for config/kafka-send.yaml: it consumes the topic
// in the group, posts every event to AMPLITUDE_ENDPOINT in one request,
// commits, and runs until it is stopped.
func fakeSendStage() error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(os.Getenv("KAFKA_BROKERS"), ",")...),
		kgo.ConsumeTopics(os.Getenv("KAFKA_TOPIC")), kgo.ConsumerGroup(os.Getenv("KAFKA_CONSUMER_GROUP")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var events []string
	for len(events) < 40 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		fetches.EachRecord(func(r *kgo.Record) { events = append(events, string(r.Value)) })
	}
	body := `{"api_key":"bench-key","events":[` + strings.Join(events, ",") + `]}`
	resp, err := http.Post(os.Getenv("AMPLITUDE_ENDPOINT"), "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return err
	}
	time.Sleep(time.Hour) // until SIGTERM
	return nil
}

// currentsInput writes n generated Currents events of known users.
func currentsInput(t *testing.T, n int) string {
	t.Helper()
	gen, err := currentsgen.New(currentsgen.Config{Seed: 1, Users: 20, PerSecond: 1000, StartTime: 1_700_000_000})
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for range n {
		b = append(gen.Next(b), '\n')
	}
	path := filepath.Join(t.TempDir(), "currents.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTheKafkaCaseLoadsTheMappedInputKeyedByUser(t *testing.T) {
	k, err := loadKafka(context.Background(), currentsInput(t, 40))
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers()...), kgo.ConsumeTopics(kafkaTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	partitions := map[int32]bool{}
	for n := 0; n < 40; {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 40 records", n)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			partitions[r.Partition] = true
			if user := gjson.GetBytes(r.Value, "user_id").String(); user == "" || string(r.Key) != user {
				t.Errorf("record keyed %q holds user %q", r.Key, user)
			}
			if !gjson.GetBytes(r.Value, "insert_id").Exists() {
				t.Errorf("not an Amplitude event: %s", r.Value)
			}
		})
	}
	if k.events != 40 || len(partitions) < 3 {
		t.Errorf("%d events over partitions %v", k.events, partitions)
	}
}

func TestTheKafkaCaseRefusesInputThatDoesNotMap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(path, []byte(`{"not":"a currents event"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKafka(context.Background(), path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("error %v, want one naming line 1", err)
	}
}

// A Kafka run lasts until every event arrived and was committed; then the
// command is stopped, which is no failure.
func TestAKafkaRunStopsTheCommandOnceEveryEventArrived(t *testing.T) {
	c := setup(t, 40, fakeMode{Kafka: true})
	c.Input, c.Kafka = currentsInput(t, 40), true
	res, err := run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Emulator.EventsIngested != 40 || res.Seconds <= 0 || res.CPUSeconds <= 0 {
		t.Errorf("result: %+v", res)
	}
	c.Events = 41
	if _, err := run(context.Background(), c); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("holds 40 events, not -events %d", 41)) {
		t.Errorf("a wrong -events: %v", err)
	}
}
