package cohorts

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
)

// BrazeName is the name Braze gives an Amplitude cohort: "All cohorts named
// and imported into Braze will be preceded by [Amplitude] and followed by
// their cohort_id", so TEST_COHORT with cohort_id abcd1234 is
// `[Amplitude] TEST_COHORT: abcd1234` (Braze's Amplitude partner page).
func BrazeName(cohortName, cohortID string) string {
	return "[Amplitude] " + cohortName + ": " + cohortID
}

// Mode is how a cohort's membership is written on a Braze user.
type Mode int

const (
	// Array keeps one array custom attribute holding the BrazeName of every
	// cohort the user is in: entering adds the name ({"add": [...]}),
	// leaving removes it ({"remove": [...]}), so deliveries of different
	// cohorts never overwrite each other and a repeated change is
	// harmless. Braze arrays hold 25 elements by default
	// (brazeapi.DefaultMaxArrayElements): a user in more cohorts needs a
	// raised limit or the Boolean mode.
	Array Mode = iota
	// Boolean keeps one boolean custom attribute per cohort, named by its
	// BrazeName: true on entering, false on leaving.
	Boolean
)

// Anonymous is what becomes of a user who has no user_id.
type Anonymous int

const (
	// Skip leaves them out: /users/track cannot address a user by device
	// id, and Braze's external_id is Amplitude's user_id.
	Skip Anonymous = iota
	// Alias addresses them by the user alias {alias_name: device_id,
	// alias_label: AliasLabel}. Braze updates only users that already have
	// that alias ("When using a user_alias, Update Only defaults to
	// true"): the app adds it with the Braze SDK (see
	// docs/cohorts-to-braze.md), so a device Braze never saw creates
	// nobody. Amplitude's own Braze sync does the same through a second
	// sync mapping device_id to a user alias.
	Alias
)

// Mapping turns a membership change into a Braze attributes object.
type Mapping struct {
	Mode       Mode
	Attribute  string // the array attribute's name (Array mode)
	Anonymous  Anonymous
	AliasLabel string // the alias label (Alias)
}

// Object returns the attributes object for c, or skip when the change has
// no user Braze can be told about under the mapping. An error names the
// field at fault.
func (m Mapping) Object(c Change) (obj []byte, skip bool, err error) {
	if c.CohortID == "" {
		return nil, false, fmt.Errorf("cohort_id: empty")
	}
	if c.CohortName == "" {
		return nil, false, fmt.Errorf("cohort_name: empty")
	}
	name := BrazeName(c.CohortName, c.CohortID)
	if n := utf8.RuneCountInString(name); n > brazeapi.MaxStringLen {
		return nil, false, fmt.Errorf("cohort_name: the Braze name %.60q... is %d characters, more than Braze's %d for an attribute name or value; shorten the cohort's name in Amplitude", name, n, brazeapi.MaxStringLen)
	}
	o := map[string]any{}
	switch {
	case c.UserID != "":
		o["external_id"] = c.UserID
	case c.DeviceID != "" && m.Anonymous == Alias:
		o["user_alias"] = map[string]string{"alias_name": c.DeviceID, "alias_label": m.AliasLabel}
	default:
		return nil, true, nil
	}
	if m.Mode == Boolean {
		o[name] = c.InCohort
	} else {
		op := "remove"
		if c.InCohort {
			op = "add"
		}
		o[m.Attribute] = map[string][]string{op: {name}}
	}
	b, err := json.Marshal(o)
	return b, false, err
}
