package amplitude

// freeList keeps up to a fixed number of values for reuse. Unlike a
// sync.Pool it keeps them across garbage collections: it holds the senders'
// request bodies and gzip writers, large (up to megabytes) and few (one per
// sender), which a pool would drop and reallocate after every collection.
type freeList[T any] struct{ values chan T }

func newFreeList[T any](n int) freeList[T] { return freeList[T]{values: make(chan T, n)} }

// get returns a kept value, or ok false when none is free.
func (f freeList[T]) get() (v T, ok bool) {
	select {
	case v = <-f.values:
		return v, true
	default:
		return v, false
	}
}

// put keeps v for reuse, or drops it when the list is full.
func (f freeList[T]) put(v T) {
	select {
	case f.values <- v:
	default:
	}
}
