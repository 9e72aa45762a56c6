package pushserver

import (
	"fmt"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// The fields of a push input's config that are its server's.
const (
	FieldAddress       = "address"
	FieldPath          = "path"
	FieldMaxBodyBytes  = "max_body_bytes"
	FieldMaxConcurrent = "max_concurrent_requests"
	FieldTLS           = "tls"
	fieldTLSCertFile   = "cert_file"
	fieldTLSKeyFile    = "key_file"
)

// Config is what a push input's config says of its server.
type Config struct {
	Address, Path     string
	MaxBody           int64
	MaxConcurrent     int
	CertFile, KeyFile string // both or neither: TLS when set
}

// AddressField is the address field, with its default.
func AddressField(def string) *service.ConfigField {
	return service.NewStringField(FieldAddress).Default(def).Description("The address to listen on, host:port.")
}

// TLSField is the tls field; desc follows "Serve HTTPS when both files are
// set." and says where TLS may end instead.
func TLSField(desc string) *service.ConfigField {
	return service.NewObjectField(FieldTLS,
		service.NewStringField(fieldTLSCertFile).Default("").Description("PEM certificate (chain) file."),
		service.NewStringField(fieldTLSKeyFile).Default("").Description("PEM private key file."),
	).Description("Serve HTTPS when both files are set. " + desc)
}

// ParseConfig reads the server's fields; an error names the field.
func ParseConfig(conf *service.ParsedConfig) (Config, error) {
	var c Config
	var err error
	if c.Address, err = conf.FieldString(FieldAddress); err != nil {
		return c, err
	}
	if c.Path, err = conf.FieldString(FieldPath); err != nil {
		return c, err
	}
	if c.Path == "" || c.Path[0] != '/' {
		return c, fmt.Errorf("%s: must start with /", FieldPath)
	}
	maxBody, err := conf.FieldInt(FieldMaxBodyBytes)
	if err != nil {
		return c, err
	}
	if maxBody < 1 {
		return c, fmt.Errorf("%s: must be positive", FieldMaxBodyBytes)
	}
	c.MaxBody = int64(maxBody)
	if c.MaxConcurrent, err = conf.FieldInt(FieldMaxConcurrent); err != nil {
		return c, err
	}
	if c.MaxConcurrent < 1 {
		return c, fmt.Errorf("%s: must be at least 1", FieldMaxConcurrent)
	}
	if c.CertFile, err = conf.FieldString(FieldTLS, fieldTLSCertFile); err != nil {
		return c, err
	}
	if c.KeyFile, err = conf.FieldString(FieldTLS, fieldTLSKeyFile); err != nil {
		return c, err
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return c, fmt.Errorf("%s: set both %s and %s, or neither", FieldTLS, fieldTLSCertFile, fieldTLSKeyFile)
	}
	return c, nil
}
