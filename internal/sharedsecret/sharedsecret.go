// Package sharedsecret checks a secret a sender presents (a token in a
// header) against the accepted ones: a literal from the config, or the
// lines of a file read again when it changes (through secretfile, so a
// file being rewritten keeps the secrets read last). A file may list
// several secrets, so a rotation accepts the old and the new one until the
// sender has the new one. Only SHA-256 digests are kept, and a check
// compares against every accepted digest in constant time, so its duration
// tells nothing about how much of a guess was right.
package sharedsecret

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
)

// Secrets are the accepted secrets.
type Secrets struct {
	literal [][sha256.Size]byte
	file    *secretfile.File[[][sha256.Size]byte]
}

// ErrNone is returned by New when neither a literal nor a file is given.
var ErrNone = errors.New("no secret set")

// ErrBoth is returned by New when both a literal and a file are given.
var ErrBoth = errors.New("a literal secret and a secret file are exclusive")

// New accepts the literal secret, or the secrets of the file at path, one
// per non-blank line. An error about the file names the path, never its
// content; the caller adds its field name.
func New(literal, path string, now func() time.Time) (*Secrets, error) {
	literal = strings.TrimSpace(literal)
	switch {
	case literal == "" && path == "":
		return nil, ErrNone
	case literal != "" && path != "":
		return nil, ErrBoth
	case path == "":
		return &Secrets{literal: digests(literal)}, nil
	}
	f, err := secretfile.Open(path, now, digests)
	if err != nil {
		return nil, err
	}
	return &Secrets{file: f}, nil
}

// Named is New for a component whose config names the literal
// literalField and the file's path fileField: its errors name the fields
// and say whose requests must be authenticated ("Braze's requests"), and
// Accepts' errors name fileField.
func Named(literalField, fileField, whose, literal, path string, now func() time.Time) (*Secrets, error) {
	s, err := New(literal, path, now)
	switch {
	case errors.Is(err, ErrNone):
		return nil, fmt.Errorf("one of %s and %s must be set: %s must be authenticated", literalField, fileField, whose)
	case errors.Is(err, ErrBoth):
		return nil, fmt.Errorf("%s and %s are exclusive", literalField, fileField)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", fileField, err)
	}
	if s.file != nil {
		s.file.Named(fileField)
	}
	return s, nil
}

func digests(content string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for line := range strings.Lines(content) {
		if s := strings.TrimSpace(line); s != "" {
			out = append(out, sha256.Sum256([]byte(s)))
		}
	}
	return out
}

// Accepts says whether presented is an accepted secret. An empty one never
// is. reloadErr says why the secret file could not be read again (the
// secrets read last stay accepted); it never contains a secret.
func (s *Secrets) Accepts(presented string) (ok bool, reloadErr error) {
	accepted := s.literal
	if s.file != nil {
		accepted, reloadErr = s.file.Get()
	}
	if presented == "" {
		return false, reloadErr
	}
	digest := sha256.Sum256([]byte(presented))
	match := 0
	for i := range accepted {
		match |= subtle.ConstantTimeCompare(digest[:], accepted[i][:])
	}
	return match == 1, reloadErr
}

// FromHeader takes the secret out of a header's value: for Authorization,
// the token of "Bearer <token>" (the scheme is case-insensitive, RFC 6750);
// for any other header, the whole value.
func FromHeader(name, value string) string {
	value = strings.TrimSpace(value)
	if !strings.EqualFold(name, "Authorization") {
		return value
	}
	scheme, token, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
