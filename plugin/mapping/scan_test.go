package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// The raw path must reduce each kind of value to what the object path makes
// of the same JSON, or the two would run the checks on different values.
func TestScannedValuesReduceLikeTheObjectPath(t *testing.T) {
	for _, raw := range []string{`"text"`, `"\u00e9\n"`, `""`, `12`, `-1.5e3`, `null`, `{"a":1}`, `[1]`, `true`, `false`} {
		sc := jsonscan.New(raw)
		got := valueOf(sc.Value())
		if sc.End(); sc.Bad() {
			t.Fatalf("%s rejected", raw)
		}
		// Benthos keeps numbers as json.Number.
		dec := json.NewDecoder(strings.NewReader(`{"k":` + raw + `}`))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if want := objectValue(m, "k"); got != want {
			t.Errorf("%s: raw path %+v, object path %+v", raw, got, want)
		}
	}
	if got := valueOf(jsonscan.Value{}); got != objectValue(map[string]any{}, "k") {
		t.Errorf("absent: %+v", got)
	}
}
