package pushserver

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func testSpec() *service.ConfigSpec {
	return service.NewConfigSpec().Fields(
		AddressField("127.0.0.1:0"),
		service.NewStringField(FieldPath).Default("/in"),
		service.NewIntField(FieldMaxBodyBytes).Default(100),
		service.NewIntField(FieldMaxConcurrent).Default(2),
		TLSField("Or in a proxy."),
	)
}

func TestParseConfigNamesTheFieldAtFault(t *testing.T) {
	for yaml, want := range map[string]string{
		"path: in":                        "path: must start with /",
		"path: ''":                        "path: must start with /",
		"max_body_bytes: 0":               "max_body_bytes: must be positive",
		"max_concurrent_requests: 0":      "max_concurrent_requests: must be at least 1",
		"tls: {cert_file: c.pem}":         "tls: set both cert_file and key_file, or neither",
		"tls: {key_file: k.pem}":          "tls: set both cert_file and key_file, or neither",
		"max_concurrent_requests: twenty": "max_concurrent_requests",
	} {
		conf, err := testSpec().ParseYAML(yaml, nil)
		if err == nil {
			_, err = ParseConfig(conf)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
	conf, err := testSpec().ParseYAML("tls: {cert_file: c.pem, key_file: k.pem}", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Address: "127.0.0.1:0", Path: "/in", MaxBody: 100, MaxConcurrent: 2, CertFile: "c.pem", KeyFile: "k.pem"}
	if c, err := ParseConfig(conf); err != nil || c != want {
		t.Fatalf("%+v, %v; want %+v", c, err, want)
	}
}
