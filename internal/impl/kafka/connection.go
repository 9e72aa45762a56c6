package kafka

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Fields shared by the input and the output.
const (
	fieldSeedBrokers  = "seed_brokers"
	fieldClientID     = "client_id"
	fieldTLS          = "tls"
	fieldSASL         = "sasl"
	fieldSASLMech     = "mechanism"
	fieldSASLUser     = "username"
	fieldSASLPassword = "password"
)

// SASL mechanisms: the ones Redpanda Connect's kafka_franz has that need no
// cloud account.
const (
	mechNone        = "none"
	mechPlain       = "PLAIN"
	mechScramSHA256 = "SCRAM-SHA-256"
	mechScramSHA512 = "SCRAM-SHA-512"
)

func connectionFields() []*service.ConfigField {
	return []*service.ConfigField{
		service.NewStringListField(fieldSeedBrokers).
			Description("Brokers to connect to first; the client learns the rest of the cluster from them. An item may hold several addresses separated by commas, so that one environment variable can list them all.").
			Example([]string{"localhost:9092"}).
			Example([]string{"foo:9092", "bar:9092"}).
			Example([]string{"foo:9092,bar:9092"}),
		service.NewStringField(fieldClientID).
			Description("The client id sent to the brokers, shown in their logs and quotas.").
			Default("redpanda-connect").
			Advanced(),
		service.NewTLSToggledField(fieldTLS),
		service.NewObjectListField(fieldSASL,
			service.NewStringAnnotatedEnumField(fieldSASLMech, map[string]string{
				mechNone:        "No SASL authentication.",
				mechPlain:       "Plain text user name and password (use it over TLS only).",
				mechScramSHA256: "SCRAM with SHA-256, as specified in RFC 5802.",
				mechScramSHA512: "SCRAM with SHA-512, as specified in RFC 5802.",
			}).Description("The SASL mechanism."),
			service.NewStringField(fieldSASLUser).
				Description("The user name for PLAIN or SCRAM authentication.").
				Default(""),
			service.NewStringField(fieldSASLPassword).
				Description("The password for PLAIN or SCRAM authentication. Use an environment variable: `${KAFKA_PASSWORD}`.").
				Default("").
				Secret(),
		).
			Description("SASL authentication, one or more mechanisms: a connection uses the first one the broker supports.").
			Optional().
			Advanced().
			Example([]any{map[string]any{"mechanism": mechScramSHA512, "username": "foo", "password": "bar"}}),
	}
}

// connection is what the connection fields say.
type connection struct {
	brokers []string
	opts    []kgo.Opt
}

func parseConnection(conf *service.ParsedConfig, log *service.Logger) (connection, error) {
	var c connection
	var err error
	if c.brokers, err = commaList(conf, fieldSeedBrokers); err != nil {
		return c, err
	}
	if len(c.brokers) == 0 {
		return c, fmt.Errorf("%s: at least one broker address is required", fieldSeedBrokers)
	}
	clientID, err := conf.FieldString(fieldClientID)
	if err != nil {
		return c, err
	}
	c.opts = append(c.opts, kgo.SeedBrokers(c.brokers...), kgo.ClientID(clientID), kgo.WithLogger(kgoLogger{log}))
	tlsConf, tlsOn, err := conf.FieldTLSToggled(fieldTLS)
	if err != nil {
		return c, err
	}
	if tlsOn {
		c.opts = append(c.opts, kgo.DialTLSConfig(tlsConf))
	}
	mechs, err := parseSASL(conf)
	if err != nil {
		return c, err
	}
	if len(mechs) > 0 {
		c.opts = append(c.opts, kgo.SASL(mechs...))
	}
	return c, nil
}

// commaList reads a string list field whose items may each hold several
// values separated by commas, as Redpanda Connect's seed_brokers and topics.
func commaList(conf *service.ParsedConfig, field string) ([]string, error) {
	list, err := conf.FieldStringList(field)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, item := range list {
		for v := range strings.SplitSeq(item, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func parseSASL(conf *service.ParsedConfig) ([]sasl.Mechanism, error) {
	if !conf.Contains(fieldSASL) {
		return nil, nil
	}
	list, err := conf.FieldObjectList(fieldSASL)
	if err != nil {
		return nil, err
	}
	var mechs []sasl.Mechanism
	for i, m := range list {
		name, err := m.FieldString(fieldSASLMech)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", fieldSASL, i, err)
		}
		user, err := m.FieldString(fieldSASLUser)
		if err != nil {
			return nil, err
		}
		pass, err := m.FieldString(fieldSASLPassword)
		if err != nil {
			return nil, err
		}
		if name != mechNone && name != "" && user == "" {
			return nil, fmt.Errorf("%s[%d].%s: %s needs a user name", fieldSASL, i, fieldSASLUser, name)
		}
		switch name {
		case mechNone, "":
		case mechPlain:
			mechs = append(mechs, plain.Auth{User: user, Pass: pass}.AsMechanism())
		case mechScramSHA256:
			mechs = append(mechs, scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())
		case mechScramSHA512:
			mechs = append(mechs, scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
		default:
			return nil, fmt.Errorf("%s[%d].%s: unknown mechanism %q (none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", fieldSASL, i, fieldSASLMech, name)
		}
	}
	return mechs, nil
}

// byteSize reads a field holding a size such as "1MiB" as an int32, as the
// Kafka protocol carries sizes.
func byteSize(conf *service.ParsedConfig, field string) (int32, error) {
	s, err := conf.FieldString(field)
	if err != nil {
		return 0, err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	if n < 1 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%s: %q is out of range (1B to 2GiB)", field, s)
	}
	return int32(n), nil
}

// newClient makes a client and checks that a broker answers, so that a wrong
// address or credentials fail Connect (which Benthos retries with backoff)
// rather than every later request.
func newClient(ctx context.Context, opts []kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("no broker answered: %w", err)
	}
	return cl, nil
}

// kgoLogger passes the client's warnings and errors to the component's
// logger; its info and debug lines are for debugging franz-go itself.
type kgoLogger struct{ log *service.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fmt.Fprintf(&b, " %v=%v", keyvals[i], keyvals[i+1])
	}
	switch level {
	case kgo.LogLevelError:
		l.log.Error(b.String())
	case kgo.LogLevelWarn:
		l.log.Warn(b.String())
	default:
		l.log.Debug(b.String())
	}
}
