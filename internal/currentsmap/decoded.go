package currentsmap

import (
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// Decoded is a Currents event handed to the mapping member by member, as the
// JSON texts of its values, by a reader of another format (the currents_avro
// scanner): the mapping of MapRaw, with the same output byte for byte as
// MapRaw of the event's JSON holding those members in that order, without
// writing that JSON and reading it again.
//
// Start it with Mapper.Begin, give each member once (the last of a name
// wins, as in JSON) and finish with End. Values must stay unchanged until
// End returns; they must be valid JSON in valid UTF-8, as the JSON route
// would have required. A Decoded is reused from event to event by one
// goroutine.
type Decoded struct {
	m  *Mapper
	ev rawEvent
	w  propertyWriter
	// dst as Begin received it, returned on errors.
	dst []byte
}

// The user and properties of a decoded event are always objects.
var objectValue = jsonscan.Value{Raw: "{}", Kind: jsonscan.Object}

// Begin starts mapping an event into dst; its type is a JSON string.
func (m *Mapper) Begin(d *Decoded, dst []byte, eventType jsonscan.Value) {
	d.m, d.dst = m, dst
	d.ev = rawEvent{eventType: eventType, user: objectValue, properties: objectValue}
	d.w = propertyWriter{dst: append(dst, `{"event_properties":{`...)}
	d.w.start = len(d.w.dst)
}

// Top gives a top-level member: id or time (others are not read).
func (d *Decoded) Top(name string, v jsonscan.Value) { d.ev.setTop(name, v) }

// User gives a member of user: external_user_id, device_id or timezone
// (others are not read).
func (d *Decoded) User(name string, v jsonscan.Value) { d.ev.setUser(name, v) }

// Property gives a member of properties; key is its name as a JSON string.
func (d *Decoded) Property(key, name string, v jsonscan.Value) {
	if r := roleOf(name); r != plain {
		d.ev.captured[r] = v
		return
	}
	m := d.m
	d.w.dst = m.appendProperty(d.w.dst, &d.w.n, key, v, m.pii != nil && m.pii[name])
}

// End maps the event, with the results of MapRaw; written is as for the
// currents_to_amplitude processor's hand-off to the amplitude output.
func (d *Decoded) End(written *ampapi.Fields) ([]byte, error) {
	out, err := d.m.finish(d.dst, &d.ev, &d.w, written)
	return ownedResult(d.dst, out, err)
}

// Plain reports whether a property of this name is copied to
// event_properties as it is: it has no role in the mapping and is not
// personal data to hash or drop. Such a property may be written with
// PlainValue rather than given to Property.
func (m *Mapper) Plain(name string) bool {
	return roleOf(name) == plain && (m.pii == nil || !m.pii[name])
}

// PlainValue starts the member of a plain property (see Plain), key being
// its name as a JSON string, and returns the output for the caller to
// append the value's JSON text to and hand back with Appended: the value is
// written once, where it ends up.
func (d *Decoded) PlainValue(key string) []byte {
	return append(append(appendSeparator(d.w.dst, &d.w.n), key...), ':')
}

// Appended takes back the output PlainValue returned, with the value.
func (d *Decoded) Appended(dst []byte) { d.w.dst = dst }
