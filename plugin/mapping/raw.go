package mapping

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// MapRaw appends the Amplitude event for the Currents event JSON in event to
// dst. Values are copied as the JSON text they arrived in: nothing is decoded
// that the mapping does not look at. It returns ErrExcluded for events the
// options leave out, and a *FieldError for events that cannot be mapped; dst
// is returned unchanged in both cases.
func (m *Mapper) MapRaw(dst, event []byte) ([]byte, error) {
	out, err := m.mapRaw(dst, event)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			// The id points into event, which the caller may reuse.
			fe.EventID = strings.Clone(fe.EventID)
		}
		return dst, err
	}
	return out, nil
}

// rawProperties is what the properties loop captures besides writing.
type rawProperties struct {
	timeMS, name, productID, price, custom, purchase gjson.Result
	adID, adIDType, currency                         gjson.Result
	device                                           [len(deviceFields)]gjson.Result
}

func (m *Mapper) mapRaw(dst, event []byte) ([]byte, error) {
	if len(event) == 0 {
		return dst, &FieldError{Problem: "empty message, expected a JSON object"}
	}
	if !utf8.Valid(event) {
		// Amplitude would reject the whole request over one bad byte.
		event = replaceInvalidUTF8(event)
	}
	// No copy: every string kept past this call is copied into dst or cloned.
	doc := unsafe.String(&event[0], len(event))
	if !gjson.Valid(doc) {
		return dst, &FieldError{Problem: "not valid JSON"}
	}
	root := gjson.Parse(doc)
	if !root.IsObject() {
		return dst, &FieldError{Problem: "not a JSON object"}
	}

	var id, eventType, tm, user, props, external, device, timezone gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "event_type":
			eventType = v
		case "time":
			tm = v
		case "user":
			user = v
		case "properties":
			props = v
		}
		return true
	})
	if user.IsObject() {
		user.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "external_user_id":
				external = v
			case "device_id":
				device = v
			case "timezone":
				timezone = v
			}
			return true
		})
	}
	h := head{
		id: valueOf(id), eventType: valueOf(eventType), time: valueOf(tm),
		user: valueOf(user), properties: valueOf(props),
		externalUserID: valueOf(external), deviceID: valueOf(device),
	}
	p, ms, err := m.checkHead(&h)
	if err != nil {
		return dst, err
	}

	start := len(dst)
	dst = append(dst, `{"event_properties":{`...)
	n := 0
	if timezone.Exists() {
		dst = appendMember(dst, &n, `"timezone"`, timezone.Raw)
	}
	var c rawProperties
	props.ForEach(func(k, v gjson.Result) bool {
		if m.captureRaw(p, &c, k.Str, v) {
			return true
		}
		dst = m.appendProperty(dst, &n, k, v)
		return true
	})
	ms, err = checkCaptured(p, id.Str, ms, &captured{
		timeMS: valueOf(c.timeMS), name: valueOf(c.name), productID: valueOf(c.productID),
		price: valueOf(c.price), custom: valueOf(c.custom), purchase: valueOf(c.purchase),
	})
	if err != nil {
		return dst[:start], err
	}
	dst = appendPrefixed(dst, &n, m.customPropertyPrefix, c.custom)
	dst = appendPrefixed(dst, &n, m.purchasePropertyPrefix, c.purchase)
	dst = append(dst, `},"event_type":`...)
	switch {
	case !p.custom:
		dst = append(dst, p.eventTypeJSON...)
	case m.opts.Profile == ProfileCurrents:
		dst = append(dst, c.name.Raw...)
	default:
		dst = append(dst, '"')
		dst = append(dst, m.customEventTypePrefix...)
		dst = append(dst, c.name.Raw[1:]...)
	}
	dst = append(dst, `,"insert_id":`...)
	dst = append(dst, id.Raw...)
	dst = append(dst, `,"library":"`+Library+`","time":`...)
	dst = strconv.AppendInt(dst, ms, 10)
	if h.externalUserID.text != "" {
		dst = append(dst, `,"user_id":`...)
		dst = append(dst, external.Raw...)
	}
	if h.deviceID.text != "" {
		dst = append(dst, `,"device_id":`...)
		dst = append(dst, device.Raw...)
	}
	dst = m.appendTopLevel(dst, p, &c)
	return append(dst, '}'), nil
}

// captureRaw records the properties the top level or the flattening needs,
// and reports whether the property is consumed (kept out of event_properties
// under its own name).
func (m *Mapper) captureRaw(p *plan, c *rawProperties, key string, v gjson.Result) bool {
	switch key {
	case "custom_properties":
		c.custom = v
		return true
	case "purchase_properties":
		c.purchase = v
		return true
	case "name":
		c.name = v
		return p.custom
	case "product_id":
		c.productID = v
		return p.row.productID
	case "price":
		c.price = v
		return p.row.price
	case "time_ms":
		c.timeMS = v
	case "ad_id":
		c.adID = v
	case "ad_id_type":
		c.adIDType = v
	case "currency":
		c.currency = v
	case deviceFields[0]:
		c.device[0] = v
	case deviceFields[1]:
		c.device[1] = v
	case deviceFields[2]:
		c.device[2] = v
	}
	return false
}

// appendProperty writes one event property, hashing or dropping PII.
func (m *Mapper) appendProperty(dst []byte, n *int, k, v gjson.Result) []byte {
	if m.pii == nil || !m.pii[k.Str] {
		return appendMember(dst, n, k.Raw, v.Raw)
	}
	if m.opts.PII == PIIDrop {
		return dst
	}
	switch v.Type {
	case gjson.String:
		return appendHash(appendMember(dst, n, k.Raw, ""), v.Str)
	case gjson.Number:
		return appendHash(appendMember(dst, n, k.Raw, ""), v.Raw)
	case gjson.Null:
		return appendMember(dst, n, k.Raw, v.Raw)
	}
	return dst // booleans, objects and arrays cannot be hashed meaningfully
}

// appendTopLevel writes the Amplitude fields that come from properties.
func (m *Mapper) appendTopLevel(dst []byte, p *plan, c *rawProperties) []byte {
	if p.row.adIDs && c.adID.Type == gjson.String && c.adID.Str != "" {
		if field := adIDField(c.adIDType.Str); field != "" && c.adIDType.Type == gjson.String {
			switch {
			case !m.pii["ad_id"]:
				dst = appendField(dst, field, c.adID.Raw)
			case m.opts.PII == PIIHash:
				dst = appendHash(appendField(dst, field, ""), c.adID.Str)
			}
		}
	}
	if p.row.productID && c.productID.Type == gjson.String && c.productID.Str != "" {
		dst = appendField(dst, "productId", c.productID.Raw)
	}
	hasPrice := p.row.price && c.price.Type == gjson.Number
	if hasPrice {
		dst = appendField(dst, "price", c.price.Raw)
	}
	if m.opts.DeviceFields {
		for i, f := range deviceFields {
			if c.device[i].Type == gjson.String && c.device[i].Str != "" {
				dst = appendField(dst, f, c.device[i].Raw)
			}
		}
	}
	if m.opts.Revenue && hasPrice {
		dst = appendField(dst, "revenue", c.price.Raw)
		dst = append(dst, `,"quantity":1,"revenueType":"purchase"`...)
		if c.currency.Type == gjson.String && c.currency.Str != "" {
			dst = appendField(dst, "currency", c.currency.Raw)
		}
	}
	return dst
}

// appendPrefixed flattens an object of custom or purchase properties.
func appendPrefixed(dst []byte, n *int, prefix string, obj gjson.Result) []byte {
	if !obj.IsObject() {
		return dst
	}
	obj.ForEach(func(k, v gjson.Result) bool {
		if *n > 0 {
			dst = append(dst, ',')
		}
		*n++
		dst = append(dst, '"')
		dst = append(dst, prefix...)
		dst = append(dst, k.Raw[1:]...)
		dst = append(dst, ':')
		dst = append(dst, v.Raw...)
		return true
	})
	return dst
}

// appendMember writes `,key:raw` inside an object, the comma after the first.
func appendMember(dst []byte, n *int, key, raw string) []byte {
	if *n > 0 {
		dst = append(dst, ',')
	}
	*n++
	dst = append(dst, key...)
	dst = append(dst, ':')
	return append(dst, raw...)
}

// appendField writes `,"name":raw` after earlier top-level fields.
func appendField(dst []byte, name, raw string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return append(dst, raw...)
}

// replaceInvalidUTF8 turns each invalid byte into U+FFFD, as encoding/json
// does when Benthos parses the same bytes for the object path.
func replaceInvalidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

func valueOf(r gjson.Result) value {
	switch r.Type {
	case gjson.String:
		return value{kind: str, text: r.Str}
	case gjson.Number:
		return value{kind: num, text: r.Raw}
	case gjson.Null:
		if r.Exists() {
			return value{kind: null}
		}
		return value{kind: absent}
	case gjson.JSON:
		if r.IsObject() {
			return value{kind: obj}
		}
	}
	return value{kind: other}
}
