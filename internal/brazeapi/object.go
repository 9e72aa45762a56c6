package brazeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Reasons an object fails for good; each is the label of the output's
// failure metric and the first word of its dead-letter reason.
const (
	// ReasonInvalidObject: the object breaks a rule checked before sending
	// (not a JSON object, no identifier, a key or value over 255).
	ReasonInvalidObject = "invalid_object"
	// ReasonRejected: Braze named the object in an answer's errors.
	ReasonRejected = "rejected"
	// ReasonRequestRejected: Braze refused a request of this object alone
	// with a 4xx that named no object.
	ReasonRequestRejected = "request_rejected"
)

// Reasons lists every failure reason, for docs and metrics.
var Reasons = []string{ReasonInvalidObject, ReasonRejected, ReasonRequestRejected}

// ObjectError is why one attributes object failed for good.
type ObjectError struct {
	Reason string
	Detail string
}

func (e *ObjectError) Error() string { return e.Reason + ": " + e.Detail }

func invalid(format string, args ...any) *ObjectError {
	return &ObjectError{Reason: ReasonInvalidObject, Detail: fmt.Sprintf(format, args...)}
}

// identifiers are the fields that name the user an object updates: "one of
// external_id, user_alias, braze_id, email, or phone is required".
var identifiers = []string{"external_id", "user_alias", "braze_id", "email", "phone"}

// CheckAttributes checks one attributes object as Braze would before a byte
// is sent, and returns its fields as parsed. It
// checks what Braze documents: an identifier, and custom attribute keys
// and string values (array elements and add/remove lists included) of at
// most MaxStringLen characters. Braze's own profile fields (first_name,
// email...) have their own rules that are not checked here: Braze names
// an object that breaks them in its answer, and the output fails just that
// object.
func CheckAttributes(raw []byte) (map[string]json.RawMessage, *ObjectError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, invalid("an attributes object must be a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, invalid("not valid JSON: %v", err)
	}
	named := false
	for _, name := range identifiers {
		if v, ok := fields[name]; ok {
			if err := checkIdentifier(name, v); err != nil {
				return nil, err
			}
			named = true
		}
	}
	if !named {
		return nil, invalid("has none of the identifiers external_id, user_alias, braze_id, email, phone")
	}
	for key, v := range fields {
		if !IsCustomAttribute(key) {
			continue
		}
		if n := utf8.RuneCountInString(key); n > MaxStringLen {
			return nil, invalid("attribute name %.40q... is %d characters, more than Braze's %d", key, n, MaxStringLen)
		}
		if err := checkValue(key, v); err != nil {
			return nil, err
		}
	}
	return fields, nil
}

// IsCustomAttribute tells an attributes object's custom attributes from
// its identifiers and its _update_existing_only flag.
func IsCustomAttribute(key string) bool {
	return key != "_update_existing_only" && !slices.Contains(identifiers, key)
}

// checkIdentifier checks an identifier field: a non-empty string, or for
// user_alias an object with a non-empty alias_name and alias_label.
func checkIdentifier(name string, v json.RawMessage) *ObjectError {
	if name == "user_alias" {
		var alias struct {
			Name  *string `json:"alias_name"`
			Label *string `json:"alias_label"`
		}
		if err := json.Unmarshal(v, &alias); err != nil || alias.Name == nil || alias.Label == nil || *alias.Name == "" || *alias.Label == "" {
			return invalid("user_alias must be an object with non-empty alias_name and alias_label")
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil || s == "" {
		return invalid("%s must be a non-empty string", name)
	}
	return nil
}

// checkValue checks the strings in a custom attribute's value: a string, an
// array of strings, or an {"add": [...], "remove": [...]} change. Other
// values (numbers, booleans, null, nested objects) carry no string limit
// documented for this endpoint and are left to Braze.
func checkValue(key string, v json.RawMessage) *ObjectError {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return checkString(key, s)
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		return checkList(key, list)
	}
	var change struct {
		Add    []json.RawMessage `json:"add"`
		Remove []json.RawMessage `json:"remove"`
	}
	if json.Unmarshal(v, &change) == nil {
		if err := checkList(key, change.Add); err != nil {
			return err
		}
		return checkList(key, change.Remove)
	}
	return nil
}

func checkList(key string, list []json.RawMessage) *ObjectError {
	for _, el := range list {
		var s string
		if json.Unmarshal(el, &s) == nil {
			if err := checkString(key, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkString(key, s string) *ObjectError {
	if n := utf8.RuneCountInString(s); n > MaxStringLen {
		return invalid("attribute %q: value %.40q... is %d characters, more than Braze's %d", key, s, n, MaxStringLen)
	}
	return nil
}

// TrackBody is the body of a /users/track request carrying the attributes
// objects, each already a JSON object, in order: an answer's error index i
// names objects[i].
func TrackBody(objects [][]byte) []byte {
	n := len(`{"attributes":[]}`)
	for _, o := range objects {
		n += len(o) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"attributes":[`...)
	for i, o := range objects {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, bytes.TrimSpace(o)...)
	}
	return append(b, "]}"...)
}
