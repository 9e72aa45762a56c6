package backfill

import (
	"fmt"
	"hash/fnv"
)

// Share is the part of an archive's files one of N workers reads: a file
// belongs to the worker its path hashes to, so the shares are disjoint,
// cover the archive, and stay the same whatever range each run selects.
type Share struct {
	Worker, Workers int // Worker from 0 to Workers-1
}

// Validate names the setting out of range.
func (s Share) Validate() error {
	switch {
	case s.Workers < 1:
		return fmt.Errorf("workers must be at least 1, got %d", s.Workers)
	case s.Worker < 0 || s.Worker >= s.Workers:
		return fmt.Errorf("worker must be from 0 to %d (workers - 1), got %d", s.Workers-1, s.Worker)
	}
	return nil
}

// Owns reports whether the file is in this worker's share.
func (s Share) Owns(f File) bool {
	if s.Workers <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(f.ShareKey()))
	return h.Sum64()%uint64(s.Workers) == uint64(s.Worker)
}
