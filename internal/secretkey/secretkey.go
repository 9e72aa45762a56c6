// Package secretkey yields an API key kept in a file that is read again
// when it changes (through secretfile, so a file being rewritten keeps the
// key read last), or else a literal from the config. The file takes
// precedence, so that a config can default the literal to a key for a
// local emulator and still take a key file from its environment.
package secretkey

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/intervallog"
	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
)

// Key is an API key's source.
type Key struct {
	literal string
	file    *secretfile.File[string]
}

// ErrNone is returned by New when neither a literal nor a file is given.
var ErrNone = errors.New("no key set")

// New returns the key source; an error about the file names the path,
// never its content, and the caller adds its field name.
func New(literal, path string, now func() time.Time) (*Key, error) {
	k := &Key{literal: strings.TrimSpace(literal)}
	if k.literal == "" && path == "" {
		return nil, ErrNone
	}
	if path != "" {
		var err error
		if k.file, err = secretfile.Open(path, now, strings.Clone); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// FromConfig reads a component's two key fields, the literal and the
// file's path, and returns their key source. Its errors and Get's name the
// fields.
func FromConfig(conf *service.ParsedConfig, literalField, fileField string, now func() time.Time) (*Key, error) {
	literal, err := conf.FieldString(literalField)
	if err != nil {
		return nil, err
	}
	path, err := conf.FieldString(fileField)
	if err != nil {
		return nil, err
	}
	k, err := New(literal, path, now)
	switch {
	case errors.Is(err, ErrNone):
		return nil, fmt.Errorf("one of %s and %s must be set", literalField, fileField)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", fileField, err)
	}
	if k.file != nil {
		k.file.Named(fileField)
	}
	return k, nil
}

// Get returns the current key. When the file cannot be read again it
// returns the key read last and the reason, which never contains the key.
func (k *Key) Get() (string, error) {
	if k.file == nil {
		return k.literal, nil
	}
	return k.file.Get()
}

// FromFile says whether the key comes from a file.
func (k *Key) FromFile() bool { return k.file != nil }

// ReloadLog is the log of a key file that cannot be read again (Get's
// errors): a line per interval at most, as the key read before stays in use.
func ReloadLog(interval time.Duration, log *service.Logger) *intervallog.Log {
	return intervallog.New(interval, func(_ int, cause string) {
		log.Errorf("Cannot read the API key again (%s): the key read before stays in use", cause)
	})
}
