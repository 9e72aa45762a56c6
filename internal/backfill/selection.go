package backfill

import (
	"fmt"
	"strings"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/glob"
)

// Selection is the part of an archive a backfill replays: event types and a
// range of hours, both bounds included. The zero Selection is everything.
type Selection struct {
	// EventTypes are globs (users.messages.email.*); empty selects all.
	EventTypes []string
	// From and To are the first and last hour replayed; zero is unbounded.
	From, To time.Time
}

// NewSelection parses the bounds as date= segments are written: an hour
// (2024-01-31-05) or a day (2024-01-31), which from starts at its first hour
// and to ends at its last. Empty bounds are open. An entry of eventTypes may
// hold several globs separated by commas, as an environment variable
// would.
func NewSelection(eventTypes []string, from, to string) (Selection, error) {
	var sel Selection
	for _, entry := range eventTypes {
		for _, g := range strings.Split(entry, ",") {
			if g = strings.TrimSpace(g); g == "" {
				return sel, fmt.Errorf("event_types: empty event type in %q", entry)
			}
			sel.EventTypes = append(sel.EventTypes, g)
		}
	}
	var err error
	if from != "" {
		if sel.From, _, err = ParseDate(from); err != nil {
			return sel, fmt.Errorf("from: %w", err)
		}
	}
	if to != "" {
		if _, sel.To, err = ParseDate(to); err != nil {
			return sel, fmt.Errorf("to: %w", err)
		}
	}
	if !sel.From.IsZero() && !sel.To.IsZero() && sel.To.Before(sel.From) {
		return sel, fmt.Errorf("to (%s) is before from (%s)", to, from)
	}
	return sel, nil
}

// SelectsType reports whether files of an event type are replayed.
func (s Selection) SelectsType(eventType string) bool {
	return len(s.EventTypes) == 0 || glob.MatchAny(s.EventTypes, eventType)
}

// SelectsHours reports whether the hours first..last overlap the range.
func (s Selection) SelectsHours(first, last time.Time) bool {
	return (s.From.IsZero() || !last.Before(s.From)) && (s.To.IsZero() || !first.After(s.To))
}
