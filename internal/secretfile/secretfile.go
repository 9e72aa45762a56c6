// Package secretfile holds a secret kept in a file (an API key, bearer
// tokens) and reads the file again when it changes, so a secret is rotated
// without a restart.
//
// Policy: a file that can no longer be read, or that turns empty, keeps the
// secret read last, and the reader reports why for a log line. A file being
// rewritten in place (truncated, then written), or a mounted secret going
// away for a moment, must not stop a running pipeline; a secret that is
// really revoked is refused by the service it is sent to, which is the
// signal that counts. Only the first read has no secret to fall back on, so
// Open fails and the caller names its field.
package secretfile

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Recheck bounds how often the file is looked at.
const Recheck = time.Second

// File is a secret read from a file, in the form its parse function gives.
// It is safe for concurrent use.
type File[T any] struct {
	path  string
	now   func() time.Time
	parse func(string) T

	field string // names the file in Get's errors, when set

	mu      sync.Mutex
	loaded  bool
	secret  T
	modTime time.Time // of the content secret was parsed from
	size    int64
	checked time.Time
}

// Open reads the secret at path. parse turns the file's content, trimmed of
// surrounding white space and never empty, into the secret. An error names
// the path, never the content.
func Open[T any](path string, now func() time.Time, parse func(content string) T) (*File[T], error) {
	f := &File[T]{path: path, now: now, parse: parse}
	if err := f.read(now()); err != nil {
		return nil, err
	}
	return f, nil
}

// Named makes Get's errors start with the config field holding the path.
func (f *File[T]) Named(field string) *File[T] {
	f.field = field
	return f
}

// Get returns the current secret. It looks at the file at most once per
// Recheck and reads it again only when its modification time or size
// changed. When the file cannot be read or is empty, Get returns the secret
// read last with the reason; only a call that looked at the file returns an
// error, so logging every error logs at most once per Recheck.
func (f *File[T]) Get() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.checked) < Recheck {
		return f.secret, nil
	}
	err := f.read(now)
	if err != nil && f.field != "" {
		err = fmt.Errorf("%s: %w", f.field, err)
	}
	return f.secret, err
}

// read replaces the secret when the file changed; the caller holds mu or is
// Open.
func (f *File[T]) read(now time.Time) error {
	f.checked = now
	info, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	if f.loaded && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	content := strings.TrimSpace(string(data))
	if content == "" {
		return fmt.Errorf("%s is empty", f.path)
	}
	f.loaded, f.secret, f.modTime, f.size = true, f.parse(content), info.ModTime(), info.Size()
	return nil
}
