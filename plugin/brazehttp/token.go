package brazehttp

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// tokenSource holds the accepted bearer tokens: a literal from the config, or
// the lines of a file that is read again when it changes. A file may list
// several tokens, so a rotation can accept the old and the new one until
// Braze has the new one.
type tokenSource struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	digests [][sha256.Size]byte
	modTime time.Time
	size    int64
	checked time.Time
}

// tokenRecheck bounds how often the token file is looked at.
const tokenRecheck = time.Second

func newTokenSource(literal, path string, now func() time.Time) (*tokenSource, error) {
	literal = strings.TrimSpace(literal)
	switch {
	case literal == "" && path == "":
		return nil, errors.New("one of bearer_token and bearer_token_file must be set: Braze's requests must be authenticated")
	case literal != "" && path != "":
		return nil, errors.New("bearer_token and bearer_token_file are exclusive")
	}
	t := &tokenSource{path: path, now: now}
	if path == "" {
		t.digests = [][sha256.Size]byte{sha256.Sum256([]byte(literal))}
		return t, nil
	}
	if err := t.reload(now()); err != nil {
		return nil, err
	}
	return t, nil
}

// accepts says whether the Authorization header value carries an accepted
// token. It compares digests in constant time and looks at every accepted
// token, so its duration tells nothing about how much of a guess was right.
// A token file that became unreadable keeps the tokens last read; the error
// is returned for logging and never contains a token.
func (t *tokenSource) accepts(header string) (bool, error) {
	var reloadErr error
	if t.path != "" {
		reloadErr = t.reload(t.now())
	}
	given, ok := bearer(header)
	if !ok {
		return false, reloadErr
	}
	digest := sha256.Sum256([]byte(given))
	t.mu.Lock()
	digests := t.digests
	t.mu.Unlock()
	match := 0
	for i := range digests {
		match |= subtle.ConstantTimeCompare(digest[:], digests[i][:])
	}
	return match == 1, reloadErr
}

// bearer takes the token out of "Bearer <token>" (the scheme is
// case-insensitive, RFC 6750).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// reload reads the token file when it changed, at most once per tokenRecheck.
func (t *tokenSource) reload(now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.digests != nil && now.Sub(t.checked) < tokenRecheck {
		return nil
	}
	t.checked = now
	info, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("bearer_token_file: %w", err)
	}
	if t.digests != nil && info.ModTime().Equal(t.modTime) && info.Size() == t.size {
		return nil
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("bearer_token_file: %w", err)
	}
	var digests [][sha256.Size]byte
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		if tok := strings.TrimSpace(lines.Text()); tok != "" {
			digests = append(digests, sha256.Sum256([]byte(tok)))
		}
	}
	if err := lines.Err(); err != nil {
		return fmt.Errorf("bearer_token_file: %w", err)
	}
	if len(digests) == 0 {
		return fmt.Errorf("bearer_token_file: %s holds no token", t.path)
	}
	t.digests, t.modTime, t.size = digests, info.ModTime(), info.Size()
	return nil
}
