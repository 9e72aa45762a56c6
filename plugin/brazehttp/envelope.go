package brazehttp

import (
	"errors"

	"github.com/tidwall/gjson"
)

// Errors of a body that is not a Custom HTTP connector envelope. Their text is
// what the 400 answer says.
var (
	ErrNotJSON     = errors.New("body is not valid JSON")
	ErrNotEnvelope = errors.New(`body is not a Braze Currents envelope: expected a JSON object with an "events" array`)
)

// SplitEnvelope returns the events of a body {"events":[ev, ...]}, each as its
// own copy of the raw JSON. The events themselves are not checked: one that
// cannot be mapped fails later with a reason, instead of costing the whole
// request a 400 (Braze would then split the batch and drop that event).
// Other top-level keys are ignored, as Braze may add some.
func SplitEnvelope(body []byte) ([][]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, ErrNotJSON
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, ErrNotEnvelope
	}
	list := root.Get("events")
	if !list.IsArray() {
		return nil, ErrNotEnvelope
	}
	var events [][]byte
	list.ForEach(func(_, ev gjson.Result) bool {
		events = append(events, []byte(ev.Raw))
		return true
	})
	return events, nil
}
