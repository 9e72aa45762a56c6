package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka/kafkatest"
)

// startWriter runs a stream of the given output YAML fed by the test. send
// sends one batch through it and returns the error the batch met; batches
// are those of the test_hold output, if the YAML uses one.
func startWriter(t *testing.T, outputYAML string) (send func(...*service.Message) error, batches chan *held) {
	t.Helper()
	env, batches := newEnv(t)
	b := env.NewStreamBuilder()
	produce, err := b.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddOutputYAML(outputYAML); err != nil {
		t.Fatalf("output config: %v\n%s", err, outputYAML)
	}
	_ = b.SetLoggerYAML("level: warn")
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = s.Run(ctx) }()
	t.Cleanup(func() {
		_ = s.StopWithin(10 * time.Second)
		cancel()
	})
	return func(msgs ...*service.Message) error {
		sendCtx, sendCancel := context.WithTimeout(ctx, 30*time.Second)
		defer sendCancel()
		return produce(sendCtx, msgs)
	}, batches
}

// writeThrough sends one batch through a stream of the output YAML.
func writeThrough(t *testing.T, outputYAML string, msgs ...*service.Message) error {
	t.Helper()
	send, _ := startWriter(t, outputYAML)
	return send(msgs...)
}

func message(content string, meta ...string) *service.Message {
	m := service.NewMessage([]byte(content))
	for i := 0; i+1 < len(meta); i += 2 {
		m.MetaSetMut(meta[i], meta[i+1])
	}
	return m
}

func outputYAML(c *kafkatest.Cluster, fields string) string {
	return fmt.Sprintf("kafka_franz:\n  seed_brokers: [ %q ]\n%s", strings.Join(c.Brokers, ","), indent(fields, "  "))
}

// Keys land on the partition Kafka's Java client picks: murmur2 of the key,
// sign bit cleared, modulo the partition count. The hashes are the vectors
// of Kafka's own UtilsTest.testMurmur2.
func TestOutputPartitionsKeysAsKafkasJavaClient(t *testing.T) {
	javaMurmur2 := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	c := kafkatest.New(t)
	const partitions = 12
	topic := c.Topic(t, partitions)
	var msgs []*service.Message
	for key := range javaMurmur2 {
		msgs = append(msgs, message(`{"k":"`+key+`"}`))
	}
	if err := writeThrough(t, outputYAML(c, fmt.Sprintf("topic: %s\nkey: ${! json(\"k\") }", topic)), msgs...); err != nil {
		t.Fatal(err)
	}
	records := c.ReadAll(t, topic)
	if len(records) != len(javaMurmur2) {
		t.Fatalf("read %d records, want %d", len(records), len(javaMurmur2))
	}
	spread := map[int32]bool{}
	for _, r := range records {
		want := int32(uint32(javaMurmur2[string(r.Key)])&0x7fffffff) % partitions
		if r.Partition != want {
			t.Errorf("key %q on partition %d, the Java client's is %d", r.Key, r.Partition, want)
		}
		spread[r.Partition] = true
	}
	if len(spread) < 3 {
		t.Errorf("the vectors cover only partitions %v: the test proves little", spread)
	}
}

// topic and key are interpolated per message; without a key a record has
// none.
func TestOutputWritesToTheInterpolatedTopicWithTheInterpolatedKey(t *testing.T) {
	c := kafkatest.New(t)
	topicA, topicB := c.Topic(t, 3), c.Topic(t, 3)
	err := writeThrough(t, outputYAML(c, `topic: ${! json("t") }
key: ${! json("user_id").or(json("device_id")) }`),
		message(`{"t":"`+topicA+`","user_id":"user-1","device_id":"device-1"}`),
		message(`{"t":"`+topicB+`","device_id":"device-2"}`),
	)
	if err != nil {
		t.Fatal(err)
	}
	for topic, key := range map[string]string{topicA: "user-1", topicB: "device-2"} {
		records := c.ReadAll(t, topic)
		if len(records) != 1 || string(records[0].Key) != key {
			t.Errorf("%s: %d records, want one keyed %q", topic, len(records), key)
		}
	}
}

// partitioner: manual writes where partition says.
func TestOutputWritesToTheManualPartition(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 4)
	err := writeThrough(t, outputYAML(c, "topic: "+topic+"\npartitioner: manual\npartition: ${! meta(\"p\") }"),
		message("a", "p", "3"), message("b", "p", "1"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int32{}
	for _, r := range c.ReadAll(t, topic) {
		got[string(r.Value)] = r.Partition
	}
	if got["a"] != 3 || got["b"] != 1 {
		t.Errorf("partitions %v, want a on 3 and b on 1", got)
	}
}

// A message over max_message_bytes fails alone, with the broker's reason;
// the others of its batch are written.
func TestOutputFailsOnlyTheMessageOverMaxMessageBytes(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 1)
	yaml := "fallback:\n  - " + indent(outputYAML(c, "topic: "+topic+"\nmax_message_bytes: 1KiB"), "    ")[4:] + "\n  - test_hold: {}"
	large := strings.Repeat("x", 2048)
	send, batches := startWriter(t, yaml)
	errc := make(chan error, 1)
	go func() { errc <- send(message("small"), message(large), message("small too")) }()
	// The fallback's test_hold gets the large message alone.
	failed := receive(t, batches, 1)[0]
	failed.ack()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(failed.batch) != 1 || failed.content(0) != large {
		t.Fatalf("the fallback got %d messages, want the large one alone", len(failed.batch))
	}
	if reason := failed.meta(0, "fallback_error"); !strings.Contains(reason, "MESSAGE_TOO_LARGE") {
		t.Errorf("fallback_error %q, want it to name MESSAGE_TOO_LARGE", reason)
	}
	var written []string
	for _, r := range c.ReadAll(t, topic) {
		written = append(written, string(r.Value))
	}
	slices.Sort(written)
	if !slices.Equal(written, []string{"small", "small too"}) {
		t.Errorf("written %q, want the two small messages", written)
	}
}

// What the broker sees of the producer: every produce request asks for all
// in-sync replicas' acknowledgement; record batches carry a producer id
// unless idempotent_write is false, and the configured compression.
func TestOutputProducesWithAcksAllIdempotenceAndCompression(t *testing.T) {
	tests := []struct {
		fields     string
		idempotent bool
		codec      int8 // the record batch attribute's low bits
	}{
		{fields: "", idempotent: true, codec: 2}, // snappy is preferred
		{fields: "idempotent_write: false", idempotent: false, codec: 2},
		{fields: "compression: none", idempotent: true, codec: 0},
		{fields: "compression: gzip", idempotent: true, codec: 1},
		{fields: "compression: lz4", idempotent: true, codec: 3},
		{fields: "compression: zstd", idempotent: true, codec: 4},
	}
	for _, tt := range tests {
		name := strings.ReplaceAll(tt.fields, ": ", "=")
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			c := kafkatest.New(t)
			c.RequireFake(t, "it inspects produce requests at the broker")
			topic := c.Topic(t, 1)
			type seen struct {
				acks       int16
				producerID int64
				codec      int8
			}
			var mu sync.Mutex
			var requests []seen
			c.Fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.Fake.KeepControl()
				pr := req.(*kmsg.ProduceRequest)
				for _, tp := range pr.Topics {
					for _, p := range tp.Partitions {
						var rb kmsg.RecordBatch
						if err := rb.ReadFrom(p.Records); err != nil {
							t.Errorf("reading a record batch: %v", err)
							continue
						}
						mu.Lock()
						requests = append(requests, seen{pr.Acks, rb.ProducerID, int8(rb.Attributes & 0x07)})
						mu.Unlock()
					}
				}
				return nil, nil, false
			})
			fields := "topic: " + topic + "\n" + tt.fields
			value := strings.Repeat("compressible ", 50)
			if err := writeThrough(t, outputYAML(c, fields), message(value), message(value)); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(requests) == 0 {
				t.Fatal("the broker saw no produce request")
			}
			for _, r := range requests {
				if r.acks != -1 {
					t.Errorf("acks %d, want -1 (all)", r.acks)
				}
				if got := r.producerID >= 0; got != tt.idempotent {
					t.Errorf("producer id %d: idempotent %t, want %t", r.producerID, got, tt.idempotent)
				}
				if r.codec != tt.codec {
					t.Errorf("compression codec %d, want %d", r.codec, tt.codec)
				}
			}
			for _, r := range c.ReadAll(t, topic) {
				if string(r.Value) != value {
					t.Errorf("read %q back", r.Value)
				}
			}
		})
	}
}

// The input and the output authenticate with each SASL mechanism, and a
// wrong password fails Connect.
func TestClientsAuthenticateWithSASL(t *testing.T) {
	users := map[string][2]string{
		mechPlain:       {"plain-user", "plain-secret"},
		mechScramSHA256: {"scram256-user", "scram256-secret"},
		mechScramSHA512: {"scram512-user", "scram512-secret"},
	}
	opts := []kfake.Opt{kfake.EnableSASL()}
	for mech, u := range users {
		opts = append(opts, kfake.Superuser(mech, u[0], u[1]))
	}
	c := kafkatest.New(t, opts...)
	c.RequireFake(t, "it needs brokers with known SASL users")
	for mech, u := range users {
		for _, password := range []string{u[1], "wrong"} {
			t.Run(mech+"/"+password, func(t *testing.T) {
				sasl := fmt.Sprintf("sasl:\n  - mechanism: %s\n    username: %s\n    password: %s", mech, u[0], password)
				err := connectBoth(t, c, sasl)
				if password == "wrong" {
					if err == nil {
						t.Fatal("connected with a wrong password")
					}
					if strings.Contains(err.Error(), password) {
						t.Errorf("the error shows the password: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// The clients connect over TLS, trusting the given CA.
func TestClientsConnectOverTLS(t *testing.T) {
	certPEM, keyPEM := selfSignedCert(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := kafkatest.New(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	c.RequireFake(t, "it needs brokers with a certificate the test made")
	tlsFields := "tls:\n  enabled: true\n  root_cas: |\n" + indent(strings.TrimSpace(string(certPEM)), "    ")
	if err := connectBoth(t, c, tlsFields); err != nil {
		t.Fatal(err)
	}
	if err := connectBoth(t, c, ""); err == nil {
		t.Error("connected without TLS to brokers that speak TLS")
	}
}

// connectBoth builds an input and an output with the extra fields and
// connects them; the first error.
func connectBoth(t *testing.T, c *kafkatest.Cluster, extra string) error {
	t.Helper()
	env := service.NewEnvironment()
	brokers := fmt.Sprintf("seed_brokers: [ %q ]\n", strings.Join(c.Brokers, ","))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	oconf, err := outputSpec().ParseYAML(brokers+"topic: t\n"+extra, env)
	if err != nil {
		t.Fatal(err)
	}
	w, _, _, err := newWriter(oconf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if err := w.Connect(ctx); err != nil {
		return err
	}
	iconf, err := inputSpec().ParseYAML(brokers+"topics: [t]\nconsumer_group: g\n"+extra, env)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newReader(iconf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	return r.Connect(ctx)
}

func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           nil,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	tmpl.IPAddresses = append(tmpl.IPAddresses, []byte{127, 0, 0, 1})
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
