package mapping

import (
	"encoding/json"
	"strconv"
)

// MapObject returns the Amplitude event for a parsed Currents event, as
// Benthos holds it (objects are map[string]any, numbers json.Number, float64
// or int64). The result shares unmodified values with the input. Errors are
// those of MapRaw.
func (m *Mapper) MapObject(event any) (map[string]any, error) {
	root, ok := event.(map[string]any)
	if !ok {
		return nil, &FieldError{Problem: "not a JSON object"}
	}
	user, _ := root["user"].(map[string]any)
	props, _ := root["properties"].(map[string]any)
	h := head{
		id: objectValue(root, "id"), eventType: objectValue(root, "event_type"), time: objectValue(root, "time"),
		user: objectValue(root, "user"), properties: objectValue(root, "properties"),
		externalUserID: objectValue(user, "external_user_id"), deviceID: objectValue(user, "device_id"),
	}
	p, ms, err := m.checkHead(&h)
	if err != nil {
		return nil, err
	}
	id := h.id.text
	ms, err = checkCaptured(p, id, ms, &captured{
		timeMS: objectValue(props, "time_ms"), name: objectValue(props, "name"),
		productID: objectValue(props, "product_id"), price: objectValue(props, "price"),
		custom: objectValue(props, "custom_properties"), purchase: objectValue(props, "purchase_properties"),
	})
	if err != nil {
		return nil, err
	}

	eventProperties := make(map[string]any, len(props)+1)
	if tz, ok := user["timezone"]; ok {
		eventProperties["timezone"] = tz
	}
	for k, v := range props {
		if p.consumes[roleOf(k)] {
			continue
		}
		if m.pii[k] {
			var keep bool
			if v, keep = m.maskPII(v); !keep {
				continue
			}
		}
		eventProperties[k] = v
	}
	custom, _ := props["custom_properties"].(map[string]any)
	for k, v := range custom {
		eventProperties[m.table.prefixes.CustomEventProperty+k] = v
	}
	purchase, _ := props["purchase_properties"].(map[string]any)
	for k, v := range purchase {
		eventProperties[m.table.prefixes.PurchaseProperty+k] = v
	}

	out := map[string]any{
		"event_properties": eventProperties,
		"insert_id":        id,
		"library":          Library,
		"time":             ms,
	}
	if p.custom {
		out["event_type"] = m.customEventType(props["name"].(string))
	} else {
		out["event_type"] = p.eventType
	}
	if h.externalUserID.text != "" {
		out["user_id"] = h.externalUserID.text
	}
	if h.deviceID.text != "" {
		out["device_id"] = h.deviceID.text
	}
	m.addTopLevel(out, p, props)
	return out, nil
}

// maskPII hashes or drops a PII value, as appendProperty does.
func (m *Mapper) maskPII(v any) (any, bool) {
	if m.opts.PII == PIIDrop {
		return nil, false
	}
	switch t := v.(type) {
	case string:
		return hashString(t), true
	case nil:
		return nil, true
	}
	if text, ok := numberText(v); ok {
		return hashString(text), true
	}
	return nil, false
}

func (m *Mapper) addTopLevel(out map[string]any, p *plan, props map[string]any) {
	if adID, _ := props["ad_id"].(string); p.row.adIDs && adID != "" {
		adIDType, _ := props["ad_id_type"].(string)
		if field := adIDField(adIDType); field != "" {
			switch {
			case !m.pii["ad_id"]:
				out[field] = adID
			case m.opts.PII == PIIHash:
				out[field] = hashString(adID)
			}
		}
	}
	if productID, _ := props["product_id"].(string); p.row.productID && productID != "" {
		out["productId"] = productID
	}
	price := props["price"]
	_, hasPrice := numberText(price)
	hasPrice = hasPrice && p.row.price
	if hasPrice {
		out["price"] = price
	}
	if m.opts.DeviceFields {
		for _, f := range deviceFields {
			if s, _ := props[f].(string); s != "" {
				out[f] = s
			}
		}
	}
	if m.opts.Revenue && hasPrice {
		out["revenue"] = price
		out["quantity"] = 1
		out["revenueType"] = "purchase"
		if currency, _ := props["currency"].(string); currency != "" {
			out["currency"] = currency
		}
	}
}

func objectValue(m map[string]any, key string) value {
	v, ok := m[key]
	if !ok {
		return value{kind: absent}
	}
	switch t := v.(type) {
	case nil:
		return value{kind: null}
	case string:
		return value{kind: str, text: t}
	case map[string]any:
		return value{kind: obj}
	}
	if text, ok := numberText(v); ok {
		return value{kind: num, text: text}
	}
	return value{kind: other}
}

// numberText is the JSON literal of a number as Benthos may hold it.
func numberText(v any) (string, bool) {
	switch t := v.(type) {
	case json.Number:
		return t.String(), true
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case int:
		return strconv.Itoa(t), true
	case uint64:
		return strconv.FormatUint(t, 10), true
	}
	return "", false
}
