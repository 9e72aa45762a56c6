package avroscan

import (
	"errors"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// errJSONRoute says a record must be mapped from its Currents JSON: one of
// its strings holds bytes that are not UTF-8, which only MapRaw's reading of
// the whole event refuses naming the field, as for events received over
// HTTP.
var errJSONRoute = errors.New("map from the event's JSON")

// mapEvent decodes one record from r and maps it to the Amplitude event,
// appended to dst, with the same result as mapping the Currents event
// appendEvent writes: it hands the mapping each member's JSON text rather
// than writing the whole event and reading it again. Decoding errors are
// left in r.err; propsErr is as for appendEvent; err is the mapping's, or
// errJSONRoute.
func (n *normaliser) mapEvent(m *currentsmap.Mapper, dst []byte, r *decoder, written *ampapi.Fields) (out []byte, propsErr, err error) {
	d := &n.decoded
	r.invalidUTF8 = false
	m.Begin(d, dst, n.eventType)
	if n.plainFor != m {
		n.plainFor = m
		for i := range n.columns {
			c := &n.columns[i]
			c.plain = c.dest == toProperties && !c.embeddedObject && m.Plain(c.name)
		}
	}
	// Member texts are views of vals until End; vals only grows meanwhile,
	// and an array it outgrows stays alive through those views.
	vals := n.vals[:0]
	for i := range n.columns {
		c := &n.columns[i]
		w, present := c.writer(r)
		if !present {
			continue
		}
		if c.plain {
			d.Appended(w(d.PlainValue(c.propKey()), r))
			continue
		}
		start := len(vals)
		if c.embeddedObject {
			s := r.readString()
			if !hasEmbeddedObject(s) {
				continue
			}
			vals, propsErr = appendEmbeddedValue(vals, c.key, s, &r.invalidUTF8)
		} else {
			vals = w(vals, r)
		}
		raw := vals[start:]
		v := jsonscan.ValueOf(unsafe.String(unsafe.SliceData(raw), len(raw)))
		switch c.dest {
		case toTop:
			d.Top(c.name, v)
		case toUser:
			d.User(c.name, v)
		default:
			d.Property(c.propKey(), c.name, v)
		}
	}
	n.vals = vals
	if r.err != nil {
		return dst, nil, nil
	}
	if r.invalidUTF8 {
		return dst, propsErr, errJSONRoute
	}
	out, err = d.End(written)
	return out, propsErr, err
}

// propKey is the column's member name as a JSON string.
func (c *column) propKey() string {
	key := c.key[:len(c.key)-1]
	return unsafe.String(unsafe.SliceData(key), len(key))
}
