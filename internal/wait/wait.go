// Package wait waits for a while unless a context ends first.
package wait

import (
	"context"
	"time"
)

// For waits d, or until ctx ends; it reports whether the whole wait passed.
// A wait of zero or less passes at once unless ctx has ended.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
