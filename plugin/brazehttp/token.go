package brazehttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
)

// tokenSource holds the accepted bearer tokens: a literal from the config, or
// the lines of a file that is read again when it changes. A file may list
// several tokens, so a rotation can accept the old and the new one until
// Braze has the new one. Only the tokens' digests are kept.
type tokenSource struct {
	digests [][sha256.Size]byte // the literal's
	file    *secretfile.File[[][sha256.Size]byte]
}

func newTokenSource(literal, path string, now func() time.Time) (*tokenSource, error) {
	literal = strings.TrimSpace(literal)
	switch {
	case literal == "" && path == "":
		return nil, errors.New("one of bearer_token and bearer_token_file must be set: Braze's requests must be authenticated")
	case literal != "" && path != "":
		return nil, errors.New("bearer_token and bearer_token_file are exclusive")
	}
	if path == "" {
		return &tokenSource{digests: digests(literal)}, nil
	}
	file, err := secretfile.Open(path, now, digests)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fieldBearerFile, err)
	}
	return &tokenSource{file: file}, nil
}

// digests hashes the tokens of content, one per non-blank line.
func digests(content string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for line := range strings.Lines(content) {
		if tok := strings.TrimSpace(line); tok != "" {
			out = append(out, sha256.Sum256([]byte(tok)))
		}
	}
	return out
}

// accepts says whether the Authorization header value carries an accepted
// token. It compares digests in constant time and looks at every accepted
// token, so its duration tells nothing about how much of a guess was right.
// A token file that cannot be read again keeps the tokens read last (see
// secretfile); the error, which never contains a token, is for a log line.
func (t *tokenSource) accepts(header string) (bool, error) {
	accepted, reloadErr := t.digests, error(nil)
	if t.file != nil {
		accepted, reloadErr = t.file.Get()
		if reloadErr != nil {
			reloadErr = fmt.Errorf("%s: %w", fieldBearerFile, reloadErr)
		}
	}
	given, ok := bearer(header)
	if !ok {
		return false, reloadErr
	}
	digest := sha256.Sum256([]byte(given))
	match := 0
	for i := range accepted {
		match |= subtle.ConstantTimeCompare(digest[:], accepted[i][:])
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
