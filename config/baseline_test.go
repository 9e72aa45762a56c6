package config_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// The pure-Bloblang baseline of `make bench` must do the method's job on
// every sample event the method maps, or the comparison would be unfair.
func TestTheBaselineMappingDoesTheMethodsJob(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("baseline", "currents_to_amplitude.blobl"))
	if err != nil {
		t.Fatal(err)
	}
	baseline, err := bloblang.Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	method, err := bloblang.Parse("root = content().currents_to_amplitude()")
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, s := range samples.CustomHTTP(t) {
		want, err := service.NewMessage(s.Data).BloblangQuery(method)
		if err != nil {
			continue // refused by the method: the baseline does not validate
		}
		if structured, err := want.AsStructured(); err == nil && structured == nil {
			continue // left out by the method's options
		}
		got, err := service.NewMessage(s.Data).BloblangQuery(baseline)
		if err != nil {
			t.Errorf("%s: the baseline fails: %v", s.Name, err)
			continue
		}
		wb, _ := want.AsBytes()
		gb, _ := got.AsBytes()
		if w, g := decodeJSON(t, wb), decodeJSON(t, gb); !reflect.DeepEqual(w, g) {
			t.Errorf("%s:\nbaseline %v\nmethod   %v", s.Name, g, w)
		}
		compared++
	}
	if compared < 80 {
		t.Fatalf("only %d sample events compared", compared)
	}
}

func decodeJSON(t *testing.T, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return out
}
