package backfill

import (
	"fmt"
	"testing"
)

func TestSharesAreDisjointCoverTheArchiveAndDoNotDependOnTheRoot(t *testing.T) {
	const workers = 4
	counts := make([]int, workers)
	for i := range 1000 {
		f := File{Path: fmt.Sprintf("bucket/dataexport.p.S3.integration.1/event_type=users.behaviors.Purchase/date=2024-01-01-00/%d.avro", i)}
		moved := File{Path: "elsewhere/deeper/" + f.Path[len("bucket/"):]}
		owners := 0
		for w := range workers {
			s := Share{Worker: w, Workers: workers}
			if s.Owns(f) {
				owners++
				counts[w]++
			}
			if s.Owns(f) != s.Owns(moved) {
				t.Fatalf("%s and %s, the same file under another root, have different owners", f.Path, moved.Path)
			}
		}
		if owners != 1 {
			t.Fatalf("%s is owned by %d workers", f.Path, owners)
		}
	}
	for w, n := range counts {
		if n < 200 || n > 300 {
			t.Errorf("worker %d owns %d of 1000 files: the shares are uneven %v", w, n, counts)
		}
	}
}

func TestShareValidateNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		s    Share
		want string
	}{
		{Share{Worker: 0, Workers: 0}, "workers must be at least 1"},
		{Share{Worker: 3, Workers: 3}, "worker must be from 0 to 2"},
		{Share{Worker: -1, Workers: 3}, "worker must be from 0 to 2"},
	} {
		if err := tc.s.Validate(); err == nil || err.Error()[:len(tc.want)] != tc.want {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
	if err := (Share{Worker: 2, Workers: 3}).Validate(); err != nil {
		t.Error(err)
	}
}
