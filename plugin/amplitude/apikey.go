package amplitude

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// keySource yields the Amplitude API key: a literal from the config, or the
// content of a file that is read again whenever it changes, so a rotated key
// is picked up without a restart.
type keySource struct {
	literal string
	path    string
	now     func() time.Time

	mu      sync.Mutex
	key     string
	modTime time.Time
	size    int64
	checked time.Time
}

// keyRecheck bounds how often the key file is looked at.
const keyRecheck = time.Second

func newKeySource(literal, path string, now func() time.Time) (*keySource, error) {
	switch {
	case literal == "" && path == "":
		return nil, errors.New("one of api_key and api_key_file must be set")
	case literal != "" && path != "":
		return nil, errors.New("api_key and api_key_file are exclusive")
	}
	k := &keySource{literal: strings.TrimSpace(literal), path: path, now: now}
	if path != "" {
		if _, err := k.get(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// get returns the current key. Its errors never contain the key.
func (k *keySource) get() (string, error) {
	if k.path == "" {
		return k.literal, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.key != "" && now.Sub(k.checked) < keyRecheck {
		return k.key, nil
	}
	k.checked = now
	info, err := os.Stat(k.path)
	if err != nil {
		return "", fmt.Errorf("api_key_file: %w", err)
	}
	if k.key != "" && info.ModTime().Equal(k.modTime) && info.Size() == k.size {
		return k.key, nil
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return "", fmt.Errorf("api_key_file: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if key == "" {
		return "", fmt.Errorf("api_key_file: %s is empty", k.path)
	}
	k.key, k.modTime, k.size = key, info.ModTime(), info.Size()
	return key, nil
}
