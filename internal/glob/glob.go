// Package glob matches Currents event types against the patterns users write
// for them ("users.messages.email.*"), for the mapping's include and exclude
// options and the archive input's event_types.
package glob

import "strings"

// Match matches s against a pattern where * is any run of characters and ?
// is one character. Unlike path.Match, * crosses dots, so "users.messages.*"
// covers every message event.
func Match(pattern, s string) bool {
	star, starS := -1, 0
	p, i := 0, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, starS = p, i
			p++
		case star >= 0:
			starS++
			p, i = star+1, starS
		default:
			return false
		}
	}
	return strings.Trim(pattern[p:], "*") == ""
}

// MatchAny reports whether s matches one of the patterns.
func MatchAny(patterns []string, s string) bool {
	for _, g := range patterns {
		if Match(g, s) {
			return true
		}
	}
	return false
}
