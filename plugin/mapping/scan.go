package mapping

import "github.com/connect-amplitude/connect-amplitude/internal/jsonscan"

// The raw path reads events with jsonscan: one pass validates the event and
// finds its fields.

// valueOf reduces a scanned value to what the checks look at, as
// objectValue does for the object path.
func valueOf(v jsonscan.Value) value { return value{kind: kinds[v.Kind], text: v.Text()} }

// kinds maps the scanner's kinds to the checks': arrays and booleans are
// all "other" to them. A table keeps valueOf inlined.
var kinds = [...]kind{
	jsonscan.Absent: absent, jsonscan.Null: null, jsonscan.String: str, jsonscan.Number: num,
	jsonscan.Object: obj, jsonscan.Array: other, jsonscan.Bool: other,
}
