package brazesim

import (
	"strings"
	"testing"
)

func TestReadEvents(t *testing.T) {
	got, err := ReadEvents(strings.NewReader("{\"id\":\"a\"}\n\n  {\"id\":\"b\"}  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != `{"id":"a"}` || string(got[1]) != `{"id":"b"}` {
		t.Fatalf("got %q", got)
	}
	if _, err := ReadEvents(strings.NewReader("{\"id\":\"a\"}\n{oops\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a bad line: %v", err)
	}
}
