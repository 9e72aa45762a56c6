package cohorts

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestDedupHandsEachMessageOnOnce(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	d := NewDedup(time.Hour, 100, c.now)

	seen, f := d.Begin("m1")
	if seen != New {
		t.Fatalf("first delivery: %v", seen)
	}
	// A retry while the first is in flight waits for it.
	seen2, f2 := d.Begin("m1")
	if seen2 != InFlight || f2 != f {
		t.Fatalf("retry in flight: %v", seen2)
	}
	select {
	case <-f2.Done():
		t.Fatal("the flight is done before Finish")
	default:
	}
	d.Finish("m1", f, nil)
	<-f2.Done()
	if f2.Err() != nil {
		t.Fatalf("err %v", f2.Err())
	}
	// A later retry is acknowledged from memory.
	if seen, _ := d.Begin("m1"); seen != Delivered {
		t.Fatalf("retry after delivery: %v", seen)
	}
	// Finishing twice changes nothing.
	d.Finish("m1", f, errors.New("late"))
	if seen, _ := d.Begin("m1"); seen != Delivered {
		t.Fatalf("after a second Finish: %v", seen)
	}
}

func TestDedupForgetsAFailedDeliverySoItsRetryGoesAgain(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	d := NewDedup(time.Hour, 100, c.now)
	_, f := d.Begin("m1")
	_, waiter := d.Begin("m1")
	d.Finish("m1", f, errors.New("braze down"))
	<-waiter.Done()
	if waiter.Err() == nil {
		t.Fatal("the waiting retry did not see the failure")
	}
	if seen, _ := d.Begin("m1"); seen != New {
		t.Fatalf("retry after a failure: %v, want New", seen)
	}
}

func TestDedupHoldsIdsForTheTTLAndAtMostMax(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	d := NewDedup(time.Hour, 3, c.now)
	deliver := func(id string) {
		t.Helper()
		seen, f := d.Begin(id)
		if seen != New {
			t.Fatalf("%s: %v", id, seen)
		}
		d.Finish(id, f, nil)
	}
	deliver("a")
	c.t = c.t.Add(30 * time.Minute)
	deliver("b")
	c.t = c.t.Add(31 * time.Minute) // a is 61 minutes old
	if seen, _ := d.Begin("a"); seen != New {
		t.Fatalf("a past its TTL: %v", seen)
	}
	if seen, _ := d.Begin("b"); seen != Delivered {
		t.Fatalf("b within its TTL: %v", seen)
	}
	// At most 3: the oldest delivered ids go first; ids in flight stay.
	_, fa := d.Begin("a") // in flight since the lookup above
	_ = fa
	deliver("c")
	deliver("d")
	deliver("e")
	if delivered, inFlight := d.Len(); delivered != 3 || inFlight != 1 {
		t.Fatalf("Len = %d delivered, %d in flight; want 3, 1", delivered, inFlight)
	}
	if seen, _ := d.Begin("b"); seen != New {
		t.Fatalf("b, the oldest, was kept past Max: %v", seen)
	}
}

func TestDedupIsSafeForConcurrentRetries(t *testing.T) {
	d := NewDedup(time.Hour, 1000, time.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	handedOn := map[string]int{}
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := string(rune('a' + i%26))
				seen, f := d.Begin(id)
				switch seen {
				case New:
					mu.Lock()
					handedOn[id]++
					mu.Unlock()
					d.Finish(id, f, nil)
				case InFlight:
					<-f.Done()
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range handedOn {
		if n != 1 {
			t.Errorf("%s handed on %d times", id, n)
		}
	}
}
