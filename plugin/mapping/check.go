package mapping

// Both paths reduce the fields they read to a value and run the same checks,
// in the same order, so they fail alike on the same event.

type kind uint8

const (
	absent kind = iota
	null
	str
	num
	obj
	other // arrays and booleans
)

type value struct {
	kind kind
	text string // the string's content, or the number's literal
}

func (v value) present() bool { return v.kind != absent && v.kind != null }

// head holds the fields read before the properties.
type head struct {
	id, eventType, time, user, properties value
	externalUserID, deviceID              value
}

// checkHead validates the event's envelope and identity. It returns
// ErrExcluded for events the options leave out.
func (m *Mapper) checkHead(h *head) (*plan, int64, error) {
	id := h.id.text
	if err := requireString(h.id, "", "id"); err != nil {
		return nil, 0, err
	}
	if err := requireString(h.eventType, id, "event_type"); err != nil {
		return nil, 0, err
	}
	p := m.planFor(h.eventType.text)
	if !p.selected {
		return nil, 0, ErrExcluded
	}
	ms, err := timeOf(h.time, id)
	if err != nil {
		return nil, 0, err
	}
	if err := requireObject(h.user, id, "user"); err != nil {
		return nil, 0, err
	}
	if err := optionalString(h.externalUserID, id, "user.external_user_id"); err != nil {
		return nil, 0, err
	}
	if err := optionalString(h.deviceID, id, "user.device_id"); err != nil {
		return nil, 0, err
	}
	switch {
	case h.externalUserID.text == "" && h.deviceID.text == "":
		return nil, 0, &FieldError{EventID: id, Field: "user", Problem: "has neither external_user_id nor device_id; Amplitude needs one"}
	case h.externalUserID.text == "" && !m.opts.Anonymous:
		return nil, 0, ErrExcluded
	}
	if err := requireObject(h.properties, id, "properties"); err != nil {
		return nil, 0, err
	}
	return p, ms, nil
}

// captured holds the properties that feed top-level fields or get flattened.
type captured struct {
	timeMS, name, productID, price, custom, purchase value
}

// checkCaptured validates the captured properties and returns the event's
// time, which time_ms overrides when present.
func checkCaptured(p *plan, id string, ms int64, c *captured) (int64, error) {
	if c.timeMS.present() {
		v, ok := int64(0), c.timeMS.kind == num
		if ok {
			v, ok = millis(c.timeMS.text)
		}
		if !ok || v <= 0 {
			return 0, &FieldError{EventID: id, Field: "properties.time_ms", Problem: "expected a positive number of milliseconds"}
		}
		ms = v
	}
	if p.custom {
		if err := requireString(c.name, id, "properties.name"); err != nil {
			return 0, err
		}
	}
	if p.row.productID && c.productID.present() && c.productID.kind != str {
		return 0, &FieldError{EventID: id, Field: "properties.product_id", Problem: "expected a string"}
	}
	if p.row.price && c.price.present() && c.price.kind != num {
		return 0, &FieldError{EventID: id, Field: "properties.price", Problem: "expected a number"}
	}
	if err := requireObject(c.custom, id, "properties.custom_properties"); err != nil {
		return 0, err
	}
	if err := requireObject(c.purchase, id, "properties.purchase_properties"); err != nil {
		return 0, err
	}
	return ms, nil
}

func timeOf(v value, id string) (int64, error) {
	if !v.present() {
		return 0, &FieldError{EventID: id, Field: "time", Problem: "missing"}
	}
	ms, ok := int64(0), v.kind == num
	if ok {
		ms, ok = secondsToMillis(v.text)
	}
	if !ok || ms <= 0 {
		return 0, &FieldError{EventID: id, Field: "time", Problem: "expected a positive UNIX time in seconds"}
	}
	return ms, nil
}

func requireString(v value, id, field string) error {
	switch {
	case !v.present():
		return &FieldError{EventID: id, Field: field, Problem: "missing"}
	case v.kind != str:
		return &FieldError{EventID: id, Field: field, Problem: "expected a string"}
	case v.text == "":
		return &FieldError{EventID: id, Field: field, Problem: "empty"}
	}
	return nil
}

func optionalString(v value, id, field string) error {
	if v.present() && v.kind != str {
		return &FieldError{EventID: id, Field: field, Problem: "expected a string"}
	}
	return nil
}

// requireObject accepts an object or nothing.
func requireObject(v value, id, field string) error {
	if v.present() && v.kind != obj {
		return &FieldError{EventID: id, Field: field, Problem: "expected an object"}
	}
	return nil
}
