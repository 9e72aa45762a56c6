package amplitude

import "testing"

func TestAFreeListKeepsUpToItsSizeAndGivesThemBack(t *testing.T) {
	f := newFreeList[int](2)
	if _, ok := f.get(); ok {
		t.Fatal("an empty list gave a value")
	}
	for v := range 3 {
		f.put(v) // the third is dropped
	}
	for _, want := range []int{0, 1} {
		if v, ok := f.get(); !ok || v != want {
			t.Errorf("get = %d, %v; want %d", v, ok, want)
		}
	}
	if v, ok := f.get(); ok {
		t.Errorf("a value past the list's size was kept: %d", v)
	}
}
