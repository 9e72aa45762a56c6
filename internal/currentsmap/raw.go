package currentsmap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// MapRaw appends the Amplitude event for the Currents event JSON in event to
// dst. Values are copied as the JSON text they arrived in: nothing is decoded
// that the mapping does not look at. It returns ErrExcluded for events the
// options leave out, and a *FieldError for events that cannot be mapped; dst
// is returned unchanged in both cases, though its spare capacity may have
// been written to.
func (m *Mapper) MapRaw(dst, event []byte) ([]byte, error) {
	// No copy: the event is only read, and every string kept past this call
	// is copied into dst or cloned.
	return m.mapString(dst, unsafe.String(unsafe.SliceData(event), len(event)), nil)
}

// mapString is MapRaw on the event's text. When written is not nil, it
// receives the top-level fields Amplitude checks as views of the output
// (see package handoff), which the caller must then never change.
func (m *Mapper) mapString(dst []byte, doc string, written *ampapi.Fields) ([]byte, error) {
	if doc == "" {
		return dst, &FieldError{Problem: "empty message, expected a JSON object"}
	}
	if !utf8.ValidString(doc) {
		// Amplitude would reject the whole request over one bad byte, and
		// replacing it would merge different ids into one: refuse instead.
		return dst, invalidUTF8(doc)
	}
	out, err := m.mapRaw(dst, doc, written)
	return ownedResult(dst, out, err)
}

// ownedResult returns the output, or dst unchanged with an error whose
// event id no longer points into the event, which the caller may reuse.
func ownedResult(dst, out []byte, err error) ([]byte, error) {
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.EventID = strings.Clone(fe.EventID)
		}
		return dst, err
	}
	return out, nil
}

// rawEvent is what one pass over a Currents event finds besides the plain
// properties, which it writes.
type rawEvent struct {
	id, eventType, time, user, properties jsonscan.Value
	externalUserID, deviceID, timezone    jsonscan.Value
	captured                              [numRoles]jsonscan.Value // the last property of each role
}

// propertyWriter writes event_properties' members into the output while
// the event is read: plain properties are written as they come, and those
// with a role once the event type has said whether its plan consumes them.
type propertyWriter struct {
	dst   []byte
	start int // where the members begin, to start over at a duplicate "properties"
	n     int // members written
}

func (m *Mapper) mapRaw(dst []byte, doc string, written *ampapi.Fields) ([]byte, error) {
	w := propertyWriter{dst: append(dst, `{"event_properties":{`...)}
	w.start = len(w.dst)
	var ev rawEvent
	if err := m.scanEvent(doc, &ev, &w); err != nil {
		return dst, err
	}
	return m.finish(dst, &ev, &w, written)
}

// finish checks the event read into ev and w and writes the rest of the
// Amplitude event after the plain properties w holds.
func (m *Mapper) finish(dst []byte, ev *rawEvent, w *propertyWriter, written *ampapi.Fields) ([]byte, error) {
	p, ms, err := m.checkEvent(ev)
	if err != nil {
		return dst, err
	}

	// Where members share a name, readers keep the last (encoding/json
	// does, so MapObject does): a timezone property overrides user.timezone,
	// and prefixed custom and purchase properties override any property.
	c := &ev.captured
	dst, n := w.dst, w.n
	if ev.timezone.Kind != jsonscan.Absent {
		dst = appendMember(dst, &n, `"timezone"`, ev.timezone.Raw)
	}
	for r := plain + 1; r < numRoles; r++ {
		if c[r].Kind != jsonscan.Absent && !p.consumes[r] {
			dst = m.appendProperty(dst, &n, roleKeys[r], c[r], m.pii != nil && m.pii[roleNames[r]])
		}
	}
	dst = appendPrefixed(dst, &n, m.customPropertyPrefix, c[roleCustom])
	dst = appendPrefixed(dst, &n, m.purchasePropertyPrefix, c[rolePurchase])
	dst = append(dst, `},"event_type":`...)
	eventType := len(dst)
	switch name := c[roleName].Raw; {
	case !p.custom:
		dst = append(dst, p.eventTypeJSON...)
	case m.opts.Profile == ProfileCurrents:
		dst = append(dst, name...)
	default:
		dst = append(dst, '"')
		dst = append(dst, m.customEventTypePrefix...)
		dst = append(dst, name[1:]...)
	}
	eventTypeEnd := len(dst)
	dst = append(dst, `,"insert_id":`...)
	dst = append(dst, ev.id.Raw...)
	dst = append(dst, `,"library":"`+Library+`","time":`...)
	tm := len(dst)
	dst = strconv.AppendInt(dst, ms, 10)
	tmEnd := len(dst)
	var userID, deviceID span
	if nonEmptyString(ev.externalUserID) {
		dst = append(dst, `,"user_id":`...)
		dst, userID = appendSpan(dst, ev.externalUserID)
	}
	if nonEmptyString(ev.deviceID) {
		dst = append(dst, `,"device_id":`...)
		dst, deviceID = appendSpan(dst, ev.deviceID)
	}
	dst = m.appendTopLevel(dst, p, c)
	dst = append(dst, '}')
	if written != nil {
		out := unsafe.String(unsafe.SliceData(dst), len(dst))
		*written = ampapi.Fields{
			UserID:    userID.in(out),
			DeviceID:  deviceID.in(out),
			EventType: jsonscan.Value{Raw: out[eventType:eventTypeEnd], Kind: jsonscan.String},
			Time:      jsonscan.Value{Raw: out[tm:tmEnd], Kind: jsonscan.Number},
		}
	}
	return dst, nil
}

// span is where a value was written in the output: the output may still
// move as it grows, so its place is kept rather than a view.
type span struct {
	start, end int
	v          jsonscan.Value // as read
}

func appendSpan(dst []byte, v jsonscan.Value) ([]byte, span) {
	start := len(dst)
	dst = append(dst, v.Raw...)
	return dst, span{start: start, end: len(dst), v: v}
}

// in is the value as written in out; the zero Value if none was.
func (s span) in(out string) jsonscan.Value {
	if s.v.Kind == jsonscan.Absent {
		return jsonscan.Value{}
	}
	return jsonscan.Value{Raw: out[s.start:s.end], Kind: s.v.Kind, Escaped: s.v.Escaped}
}

// scanEvent validates the whole document while it collects the event's
// fields and writes its plain properties. Like encoding/json, it lets the
// last of duplicate keys win.
func (m *Mapper) scanEvent(doc string, ev *rawEvent, w *propertyWriter) error {
	sc := jsonscan.New(doc)
	if sc.Peek() != '{' {
		sc.Value()
		if sc.End(); sc.Bad() {
			return &FieldError{Problem: "not valid JSON"}
		}
		return &FieldError{Problem: "not a JSON object"}
	}
	it := sc.Object()
	for it.Next(&sc) {
		switch name := it.Name(); name {
		case "event_type":
			ev.eventType = sc.Value()
		case "user":
			scanUser(&sc, ev)
		case "properties":
			m.scanProperties(&sc, doc, ev, w)
		default:
			ev.setTop(name, sc.Value())
		}
	}
	if sc.End(); sc.Bad() {
		return &FieldError{Problem: "not valid JSON"}
	}
	return nil
}

func scanUser(sc *jsonscan.Scanner, ev *rawEvent) {
	ev.externalUserID, ev.deviceID, ev.timezone = jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}
	if sc.Peek() != '{' {
		ev.user = sc.Value()
		return
	}
	start := sc.Pos()
	it := sc.Object()
	for it.Next(sc) {
		ev.setUser(it.Name(), sc.Value())
	}
	ev.user = jsonscan.Value{Raw: sc.Slice(start), Kind: jsonscan.Object}
}

// setTop keeps a top-level member the mapping reads besides event_type,
// user and properties: id or time; others are not read.
func (ev *rawEvent) setTop(name string, v jsonscan.Value) {
	switch name {
	case "id":
		ev.id = v
	case "time":
		ev.time = v
	}
}

// setUser keeps a member of user the mapping reads: external_user_id,
// device_id or timezone; others are not read.
func (ev *rawEvent) setUser(name string, v jsonscan.Value) {
	switch name {
	case "external_user_id":
		ev.externalUserID = v
	case "device_id":
		ev.deviceID = v
	case "timezone":
		ev.timezone = v
	}
}

// scanProperties captures the properties that have a role and writes the
// others. Tight members (`"key":value`, as compact JSON has them) that follow
// each other in the event are copied as one run.
func (m *Mapper) scanProperties(sc *jsonscan.Scanner, doc string, ev *rawEvent, w *propertyWriter) {
	ev.captured = [numRoles]jsonscan.Value{}
	w.dst, w.n = w.dst[:w.start], 0
	if sc.Peek() != '{' {
		ev.properties = sc.Value()
		return
	}
	start := sc.Pos()
	runStart, runEnd := 0, 0 // doc[runStart:runEnd], members and their commas
	it := sc.Object()
	for {
		v, ok := it.NextValue(sc)
		if !ok {
			break
		}
		name, keyStart, key := it.Name(), it.KeyPos(), it.Key().Raw
		if r := roleOf(name); r != plain {
			ev.captured[r] = v
			continue
		}
		pii := m.pii != nil && m.pii[name]
		if valEnd := sc.Pos(); !pii && valEnd-len(v.Raw) == keyStart+len(key)+1 {
			if runEnd == 0 || keyStart != runEnd+1 { // no run, or not right after its comma
				w.dst = appendRun(w.dst, &w.n, doc[runStart:runEnd])
				runStart = keyStart
			}
			runEnd = valEnd
			continue
		}
		w.dst = appendRun(w.dst, &w.n, doc[runStart:runEnd])
		runStart, runEnd = 0, 0
		w.dst = m.appendProperty(w.dst, &w.n, key, v, pii)
	}
	w.dst = appendRun(w.dst, &w.n, doc[runStart:runEnd])
	ev.properties = jsonscan.Value{Raw: sc.Slice(start), Kind: jsonscan.Object}
}

// appendRun writes members copied as they are, after a comma if need be.
func appendRun(dst []byte, n *int, members string) []byte {
	if members == "" {
		return dst
	}
	return append(appendSeparator(dst, n), members...)
}

// appendProperty writes one event property, hashing or dropping PII.
func (m *Mapper) appendProperty(dst []byte, n *int, key string, val jsonscan.Value, pii bool) []byte {
	if !pii {
		return appendMember(dst, n, key, val.Raw)
	}
	if m.opts.PII == PIIDrop {
		return dst
	}
	switch val.Kind {
	case jsonscan.String, jsonscan.Number:
		return appendHash(appendMember(dst, n, key, ""), val.Text())
	case jsonscan.Null:
		return appendMember(dst, n, key, val.Raw)
	}
	return dst // booleans, objects and arrays cannot be hashed meaningfully
}

// appendTopLevel writes the Amplitude fields that come from properties.
func (m *Mapper) appendTopLevel(dst []byte, p *plan, c *[numRoles]jsonscan.Value) []byte {
	if adID := c[roleAdID]; p.row.adIDs && nonEmptyString(adID) {
		if field := adIDField(c[roleAdIDType].Text()); field != "" {
			switch {
			case !m.pii["ad_id"]:
				dst = appendField(dst, field, adID.Raw)
			case m.opts.PII == PIIHash:
				dst = appendHash(appendField(dst, field, ""), adID.Text())
			}
		}
	}
	if p.row.productID && nonEmptyString(c[roleProductID]) {
		dst = appendField(dst, "productId", c[roleProductID].Raw)
	}
	price := c[rolePrice]
	hasPrice := p.row.price && price.Kind == jsonscan.Number
	if hasPrice {
		dst = appendField(dst, "price", price.Raw)
	}
	if m.opts.DeviceFields {
		for i, f := range deviceFields {
			if v := c[roleDevice+role(i)]; nonEmptyString(v) {
				dst = appendField(dst, f, v.Raw)
			}
		}
	}
	if m.opts.Revenue && hasPrice {
		dst = appendField(dst, "revenue", price.Raw)
		dst = append(dst, `,"quantity":1,"revenueType":"purchase"`...)
		if nonEmptyString(c[roleCurrency]) {
			dst = appendField(dst, "currency", c[roleCurrency].Raw)
		}
	}
	return dst
}

// appendPrefixed flattens an object of custom or purchase properties.
func appendPrefixed(dst []byte, n *int, prefix string, object jsonscan.Value) []byte {
	if object.Kind != jsonscan.Object {
		return dst
	}
	sc := jsonscan.New(object.Raw) // validated with the event
	it := sc.Object()
	for it.Next(&sc) {
		dst = append(appendSeparator(dst, n), '"')
		dst = append(dst, prefix...)
		dst = append(dst, it.Key().Raw[1:]...)
		dst = append(dst, ':')
		dst = append(dst, sc.Value().Raw...)
	}
	return dst
}

// appendMember writes `,key:raw` inside an object, the comma after the first.
func appendMember(dst []byte, n *int, key, raw string) []byte {
	dst = append(appendSeparator(dst, n), key...)
	dst = append(dst, ':')
	return append(dst, raw...)
}

// appendSeparator writes the comma before each of an object's members but
// the first, and counts the member.
func appendSeparator(dst []byte, n *int) []byte {
	if *n > 0 {
		dst = append(dst, ',')
	}
	*n++
	return dst
}

// appendField writes `,"name":raw` after earlier top-level fields.
func appendField(dst []byte, name, raw string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return append(dst, raw...)
}

// invalidUTF8 is the refusal of an event holding bytes that are not UTF-8,
// naming the field where the first such byte is.
func invalidUTF8(doc string) *FieldError {
	at := 0
	for at < len(doc) {
		r, size := utf8.DecodeRuneInString(doc[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	fe := &FieldError{Problem: fmt.Sprintf("not valid UTF-8 (byte %d); Amplitude needs UTF-8 text, and the event is refused rather than rewritten", at)}
	sc := jsonscan.New(doc)
	if sc.Peek() == '{' {
		// The whole object is walked, for the id wherever it is.
		var id jsonscan.Value
		it := sc.Object()
		for it.Next(&sc) {
			switch {
			case it.Name() == "id":
				start := sc.Pos()
				id = sc.Value()
				if start <= at && at < sc.Pos() {
					fe.Field = "id"
				}
			case fe.Field != "":
				sc.Value()
			case it.KeyPos() <= at && at < sc.Pos():
				fe.Field = "(a member name)"
				sc.Value()
			default:
				fe.Field = fieldAt(&sc, at, it.Name())
			}
		}
		if id.Kind == jsonscan.String && utf8.ValidString(id.Raw) {
			fe.EventID = strings.Clone(id.Text())
		}
	}
	return fe
}

// fieldAt reads the value at the scanner and, when the byte at offset at
// lies inside it, returns its dotted path under name.
func fieldAt(sc *jsonscan.Scanner, at int, name string) string {
	start := sc.Pos()
	switch sc.Peek() {
	case '{':
		it := sc.Object()
		for it.Next(sc) {
			if it.KeyPos() <= at && at < sc.Pos() {
				return name + " (a member name)"
			}
			if field := fieldAt(sc, at, name+"."+it.Name()); field != "" {
				return field
			}
		}
	case '[':
		it := sc.Array()
		for i := 0; it.Next(sc); i++ {
			if field := fieldAt(sc, at, fmt.Sprintf("%s[%d]", name, i)); field != "" {
				return field
			}
		}
	default:
		sc.Value()
	}
	if start <= at && at < sc.Pos() {
		return name
	}
	return ""
}
