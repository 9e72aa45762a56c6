package brazehttp

import (
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/sharedsecret"
)

// tokenSource is the accepted bearer tokens: bearer_token, or the lines of
// bearer_token_file, read again when it changes (see sharedsecret).
type tokenSource struct{ secrets *sharedsecret.Secrets }

func newTokenSource(literal, path string, now func() time.Time) (*tokenSource, error) {
	s, err := sharedsecret.Named(fieldBearerToken, fieldBearerFile, "Braze's requests", literal, path, now)
	if err != nil {
		return nil, err
	}
	return &tokenSource{secrets: s}, nil
}

// accepts says whether an Authorization header's value carries an accepted
// token. A token file that cannot be read again keeps the tokens read last;
// the error, which never contains a token, is for a log line.
func (t *tokenSource) accepts(authorization string) (bool, error) {
	return t.secrets.Accepts(sharedsecret.FromHeader("Authorization", authorization))
}
