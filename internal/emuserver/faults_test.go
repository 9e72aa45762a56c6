package emuserver

import (
	"testing"
	"time"
)

func plans(f Faults, ownDraw bool, n int) []Plan {
	var in Injector
	in.Set(f, ownDraw)
	out := make([]Plan, n)
	for i := range out {
		out[i] = in.Plan()
	}
	return out
}

// A seed gives the same plans again, and Set starts the draws again.
func TestASeedRepeatsItsPlans(t *testing.T) {
	f := Faults{Seed: 7, ErrorRate: 0.3, SlowRate: 0.3, SlowDelay: time.Second, ResetRate: 0.2}
	a, b := plans(f, true, 200), plans(f, true, 200)
	kinds := map[string]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("plan %d: %+v, then %+v with the same seed", i, a[i], b[i])
		}
		switch p := a[i]; {
		case p.Reset:
			kinds["reset"]++
			if p.Delay != 0 || p.ErrorCode != 0 {
				t.Errorf("plan %d resets and does more: %+v", i, p)
			}
		case p.ErrorCode != 0:
			kinds["error"]++
			if p.ErrorCode < 500 || p.ErrorCode > 504 || p.ErrorCode == 501 {
				t.Errorf("plan %d: code %d, not a default one", i, p.ErrorCode)
			}
		}
		if a[i].Delay != 0 {
			kinds["slow"]++
		}
	}
	for _, k := range []string{"reset", "error", "slow"} {
		if kinds[k] < 20 || kinds[k] > 100 {
			t.Errorf("%d plans of 200 are %s, far from their rate", kinds[k], k)
		}
	}
	if c := plans(Faults{Seed: 8, ErrorRate: 0.3, SlowRate: 0.3, SlowDelay: time.Second, ResetRate: 0.2}, true, 200); c[0] == a[0] && c[1] == a[1] && c[2] == a[2] {
		t.Error("another seed gives the same plans")
	}
}

// The rates change what is decided, not what is drawn: a request's plan
// under a zero rate is its plan under another rate minus that fault.
func TestRatesDoNotShiftTheDraws(t *testing.T) {
	withErrors := plans(Faults{Seed: 3, ErrorRate: 0.5, ErrorCodes: []int{503}, SlowRate: 0.5, SlowDelay: time.Second}, true, 100)
	without := plans(Faults{Seed: 3, SlowRate: 0.5, SlowDelay: time.Second}, true, 100)
	for i := range withErrors {
		if withErrors[i].Delay != without[i].Delay || withErrors[i].Own != without[i].Own {
			t.Fatalf("plan %d: %+v with errors, %+v without", i, withErrors[i], without[i])
		}
	}
	for _, p := range plans(Faults{Seed: 3}, false, 100) {
		if p != (Plan{}) {
			t.Fatalf("no faults, yet %+v", p)
		}
	}
}
