package amplitude

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
)

// keySource yields the Amplitude API key: the content of a file that is read
// again whenever it changes, so a rotated key is picked up without a restart,
// or else a literal from the config. The file takes precedence, so that a
// config can default api_key to a key for the local emulator and still take
// a key file from its environment.
type keySource struct {
	literal string
	file    *secretfile.File[string]
}

func newKeySource(literal, path string, now func() time.Time) (*keySource, error) {
	literal = strings.TrimSpace(literal)
	if literal == "" && path == "" {
		return nil, errors.New("one of api_key and api_key_file must be set")
	}
	k := &keySource{literal: literal}
	if path != "" {
		var err error
		if k.file, err = secretfile.Open(path, now, func(key string) string { return key }); err != nil {
			return nil, fmt.Errorf("%s: %w", fieldAPIKeyFile, err)
		}
	}
	return k, nil
}

// get returns the current key. A key file that cannot be read again keeps
// the key read last (see secretfile); the error, which never contains the
// key, is for a log line.
func (k *keySource) get() (string, error) {
	if k.file == nil {
		return k.literal, nil
	}
	key, err := k.file.Get()
	if err != nil {
		return key, fmt.Errorf("%s: %w", fieldAPIKeyFile, err)
	}
	return key, nil
}
