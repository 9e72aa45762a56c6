package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
)

// The Kafka case measures the send stage (config/kafka-send.yaml): the
// input's Currents events are mapped, as the receive stage maps them, and
// written beforehand to a topic of a Kafka cluster in this process (kfake),
// keyed by user_id, else device_id. The command consumes the topic and never
// ends by itself: the run lasts until every event reached the emulator or
// the dead letter, and the command is then stopped.
const (
	kafkaTopic      = "amplitude-events"
	kafkaPartitions = 12
	kafkaGroup      = "bench-send"
)

// kafkaSource is a kfake cluster holding the mapped input.
type kafkaSource struct {
	cluster *kfake.Cluster
	events  int // records written
}

// loadKafka starts a cluster and writes the input's events to its topic.
func loadKafka(ctx context.Context, input string) (*kafkaSource, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kafkaPartitions, kafkaTopic))
	if err != nil {
		return nil, err
	}
	k := &kafkaSource{cluster: cluster}
	if err := k.load(ctx, input); err != nil {
		cluster.Close()
		return nil, err
	}
	return k, nil
}

func (k *kafkaSource) load(ctx context.Context, input string) error {
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	f, err := os.Open(input)
	if err != nil {
		return err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var produceErr error
	var once sync.Once
	failed := make(chan struct{})
	for line := 1; lines.Scan(); line++ {
		value, err := m.MapRaw(nil, lines.Bytes())
		if err != nil {
			return fmt.Errorf("%s: line %d: %w (the Kafka case needs events that all map)", input, line, err)
		}
		key := gjson.GetBytes(value, "user_id").String()
		if key == "" {
			key = gjson.GetBytes(value, "device_id").String()
		}
		cl.Produce(ctx, &kgo.Record{Topic: kafkaTopic, Key: []byte(key), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				once.Do(func() {
					produceErr = err
					close(failed)
				})
			}
		})
		k.events++
		select {
		case <-failed:
			return fmt.Errorf("writing the topic: %w", produceErr)
		default:
		}
	}
	if err := lines.Err(); err != nil {
		return err
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case <-failed:
		return fmt.Errorf("writing the topic: %w", produceErr)
	default:
	}
	return nil
}

func (k *kafkaSource) brokers() []string { return k.cluster.ListenAddrs() }

// env points config/kafka-send.yaml at the cluster, the emulator and the
// dead-letter file.
func (k *kafkaSource) env(endpoint, deadLetter string) []string {
	return []string{
		"KAFKA_BROKERS=" + strings.Join(k.brokers(), ","),
		"KAFKA_TOPIC=" + kafkaTopic,
		"KAFKA_CONSUMER_GROUP=" + kafkaGroup,
		"AMPLITUDE_ENDPOINT=" + endpoint,
		"DEAD_LETTER_FILE=" + deadLetter,
	}
}

// committed is the group's committed offsets summed over the partitions.
func (k *kafkaSource) committed(ctx context.Context) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers()...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	offsets, err := kadm.NewClient(cl).FetchOffsets(ctx, kafkaGroup)
	if err != nil {
		return 0, err
	}
	var n int64
	offsets.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n, nil
}

func (k *kafkaSource) close() { k.cluster.Close() }

// waitAccounted waits until every event of the run reached the emulator or
// the dead letter and its offset was committed, then stops the command with
// SIGTERM. It returns how long the command took to account for every
// event.
func waitAccounted(ctx context.Context, cmd *exec.Cmd, start time.Time, c runConfig, emu *emulatorProcess, k *kafkaSource) (time.Duration, error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return errors.New("did not stop within 30s of SIGTERM: killed")
		}
	}
	deadline := time.After(c.Timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var took time.Duration
	for took == 0 {
		select {
		case err := <-done:
			return time.Since(start), fmt.Errorf("exited before every event arrived: %v", err)
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			return time.Since(start), fmt.Errorf("still running after %s: killed", c.Timeout)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return time.Since(start), ctx.Err()
		case <-tick.C:
		}
		stats, err := emu.stats(ctx)
		if err != nil {
			continue
		}
		dead, _, err := countDeadLetters(c.DeadLetter)
		if err != nil || stats.EventsIngested+int64(dead) < int64(c.Events) {
			continue
		}
		took = time.Since(start)
	}
	// Accounted for: the rest is committing and shutting down.
	for {
		n, err := k.committed(ctx)
		if err == nil && n >= int64(k.events) {
			break
		}
		if time.Since(start) > c.Timeout {
			_ = stop()
			return took, fmt.Errorf("offsets not committed to the end within %s", c.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil && !isSIGTERMExit(err) {
		return took, err
	}
	return took, nil
}

// isSIGTERMExit tells the exit a SIGTERM asked for: Benthos exits 0, a
// process without a handler dies of the signal.
func isSIGTERMExit(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}
