package wait

import (
	"context"
	"testing"
	"time"
)

func TestForPassesUnlessTheContextEnds(t *testing.T) {
	if !For(context.Background(), time.Millisecond) || !For(context.Background(), 0) {
		t.Fatal("a wait with a live context did not pass")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if For(ctx, time.Hour) || For(ctx, 0) {
		t.Fatal("a wait with an ended context passed")
	}
}
