package kafka

import "testing"

// The committable offset is the end of the longest settled run of batches
// at the front, whatever order they settle in.
func TestCheckpointCommitsOnlyPastBatchesAllSettled(t *testing.T) {
	type batch struct {
		next int64 // offset after its last record
		size int
	}
	// Offsets 0-9 in batches of varied size, with a gap (a compacted or
	// transaction-marker offset) between 6 and 8.
	batches := []batch{{2, 2}, {3, 1}, {6, 3}, {9, 2}, {10, 1}}
	tests := []struct {
		name   string
		order  []int   // batches settled, in this order
		commit []int64 // the committable offset after each, -1: unchanged
	}{
		{name: "in order", order: []int{0, 1, 2, 3, 4}, commit: []int64{2, 3, 6, 9, 10}},
		{name: "reversed", order: []int{4, 3, 2, 1, 0}, commit: []int64{-1, -1, -1, -1, 10}},
		{name: "interleaved", order: []int{1, 3, 0, 4, 2}, commit: []int64{-1, -1, 3, -1, 10}},
		{name: "settled twice", order: []int{0, 0, 1}, commit: []int64{2, -1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c checkpoint
			marks := make([]*mark, len(batches))
			total := 0
			for i, b := range batches {
				marks[i] = c.track(b.next, 7, b.size)
				total += b.size
			}
			if c.unsettled() != total {
				t.Fatalf("unsettled %d, want %d", c.unsettled(), total)
			}
			settled := map[int]bool{}
			for step, i := range tt.order {
				next, epoch, ok := c.settle(marks[i])
				if !settled[i] {
					total -= batches[i].size
					settled[i] = true
				}
				switch want := tt.commit[step]; {
				case want < 0 && ok:
					t.Errorf("settling batch %d: committable %d, want no change", i, next)
				case want >= 0 && (!ok || next != want || epoch != 7):
					t.Errorf("settling batch %d: committable %d (epoch %d, moved %t), want %d (epoch 7)", i, next, epoch, ok, want)
				}
				if c.unsettled() != total {
					t.Errorf("after settling batch %d: unsettled %d, want %d", i, c.unsettled(), total)
				}
			}
		})
	}
}
