package glob

import "testing"

func TestMatchStarCrossesDotsAndQuestionMarkIsOneCharacter(t *testing.T) {
	cases := []struct {
		pattern, s string
		match      bool
	}{
		{"*", "users.messages.email.Open", true},
		{"users.messages.*", "users.messages.email.Open", true},
		{"users.*.Open", "users.messages.email.Open", true},
		{"users.*.Open", "users.messages.email.OpenX", false},
		{"*Open*", "users.messages.email.Open", true},
		{"users.messages.email.?pen", "users.messages.email.Open", true},
		{"users.messages.email", "users.messages.email.Open", false},
		{"a**b", "ab", true},
		{"", "", true},
		{"", "a", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.s); got != c.match {
			t.Errorf("Match(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func TestMatchAnyNeedsOneMatchingPattern(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		match    bool
	}{
		{nil, false},
		{[]string{"users.behaviors.*"}, false},
		{[]string{"users.behaviors.*", "users.messages.*"}, true},
	} {
		if got := MatchAny(c.patterns, "users.messages.email.Open"); got != c.match {
			t.Errorf("MatchAny(%q) = %v", c.patterns, got)
		}
	}
}
