package currentsmap

import (
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// checkEvent validates the fields scanEvent found, in an order that decides
// which error an event with several faults gets. It returns the event's plan
// and its time in milliseconds (time_ms, when present, overrides time), and
// ErrExcluded for events the options leave out.
func (m *Mapper) checkEvent(ev *rawEvent) (*plan, int64, error) {
	if err := requireString(ev.id, "", "id"); err != nil {
		return nil, 0, err
	}
	id := ev.id.Text()
	if err := requireString(ev.eventType, id, "event_type"); err != nil {
		return nil, 0, err
	}
	p := m.planFor(ev.eventType.Text())
	if !p.selected {
		return nil, 0, ErrExcluded
	}
	ms, err := timeOf(ev.time, id)
	if err != nil {
		return nil, 0, err
	}
	if err := optionalObject(ev.user, id, "user"); err != nil {
		return nil, 0, err
	}
	if err := optionalString(ev.externalUserID, id, "user.external_user_id"); err != nil {
		return nil, 0, err
	}
	if err := optionalString(ev.deviceID, id, "user.device_id"); err != nil {
		return nil, 0, err
	}
	switch hasUserID := nonEmptyString(ev.externalUserID); {
	case !hasUserID && !nonEmptyString(ev.deviceID):
		return nil, 0, &FieldError{EventID: id, Field: "user", Problem: "has neither external_user_id nor device_id; Amplitude needs one"}
	case !hasUserID && !m.opts.Anonymous:
		return nil, 0, ErrExcluded
	}
	if err := optionalObject(ev.properties, id, "properties"); err != nil {
		return nil, 0, err
	}

	c := &ev.captured
	if timeMS := c[roleTimeMS]; present(timeMS) {
		v, ok := int64(0), timeMS.Kind == jsonscan.Number
		if ok {
			v, ok = millis(timeMS.Raw)
		}
		if !ok || v <= 0 {
			return nil, 0, &FieldError{EventID: id, Field: "properties.time_ms", Problem: "expected a positive number of milliseconds"}
		}
		if v > ampapi.MaxTimeMillis {
			return nil, 0, &FieldError{EventID: id, Field: "properties.time_ms", Problem: "milliseconds past the year 9999, the latest Amplitude holds: microseconds sent as milliseconds?"}
		}
		ms = v
	}
	if p.custom {
		if err := requireString(c[roleName], id, "properties.name"); err != nil {
			return nil, 0, err
		}
	}
	if p.row.productID && present(c[roleProductID]) && c[roleProductID].Kind != jsonscan.String {
		return nil, 0, &FieldError{EventID: id, Field: "properties.product_id", Problem: "expected a string"}
	}
	if p.row.price && present(c[rolePrice]) && c[rolePrice].Kind != jsonscan.Number {
		return nil, 0, &FieldError{EventID: id, Field: "properties.price", Problem: "expected a number"}
	}
	if err := optionalObject(c[roleCustom], id, "properties.custom_properties"); err != nil {
		return nil, 0, err
	}
	if err := optionalObject(c[rolePurchase], id, "properties.purchase_properties"); err != nil {
		return nil, 0, err
	}
	return p, ms, nil
}

// nonEmptyString needs no unescaping: any escape decodes to a character.
func nonEmptyString(v jsonscan.Value) bool { return v.Kind == jsonscan.String && len(v.Raw) > 2 }

// present is true for any value but null.
func present(v jsonscan.Value) bool { return v.Kind != jsonscan.Absent && v.Kind != jsonscan.Null }

func timeOf(v jsonscan.Value, id string) (int64, error) {
	if !present(v) {
		return 0, &FieldError{EventID: id, Field: "time", Problem: "missing"}
	}
	ms, ok := int64(0), v.Kind == jsonscan.Number
	if ok {
		ms, ok = secondsToMillis(v.Raw)
	}
	if !ok || ms <= 0 {
		return 0, &FieldError{EventID: id, Field: "time", Problem: "expected a positive UNIX time in seconds"}
	}
	if ms > ampapi.MaxTimeMillis {
		// 1700000000123 seconds is the year 55,800: milliseconds, most likely.
		return 0, &FieldError{EventID: id, Field: "time", Problem: "a UNIX time in seconds past the year 9999, the latest Amplitude holds: milliseconds sent as seconds?"}
	}
	return ms, nil
}

func requireString(v jsonscan.Value, id, field string) error {
	switch {
	case !present(v):
		return &FieldError{EventID: id, Field: field, Problem: "missing"}
	case v.Kind != jsonscan.String:
		return &FieldError{EventID: id, Field: field, Problem: "expected a string"}
	case !nonEmptyString(v):
		return &FieldError{EventID: id, Field: field, Problem: "empty"}
	}
	return nil
}

func optionalString(v jsonscan.Value, id, field string) error {
	if present(v) && v.Kind != jsonscan.String {
		return &FieldError{EventID: id, Field: field, Problem: "expected a string"}
	}
	return nil
}

// optionalObject accepts an object, null or nothing.
func optionalObject(v jsonscan.Value, id, field string) error {
	if present(v) && v.Kind != jsonscan.Object {
		return &FieldError{EventID: id, Field: field, Problem: "expected an object"}
	}
	return nil
}
