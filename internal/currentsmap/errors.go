package currentsmap

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrExcluded is returned for an event the options leave out on purpose:
// its type is not selected, or it is anonymous and Anonymous is off.
var ErrExcluded = errors.New("currents event excluded by the mapping options")

// FieldError says which event and which field could not be mapped.
type FieldError struct {
	EventID string // "" when the event has no usable id
	Field   string // dotted path in the Currents event; "" for the whole event
	Problem string
}

func (e *FieldError) Error() string {
	id := "(no id)"
	if e.EventID != "" {
		id = strconv.Quote(e.EventID)
	}
	if e.Field == "" {
		return fmt.Sprintf("currents event %s: %s", id, e.Problem)
	}
	return fmt.Sprintf("currents event %s: field %s: %s", id, e.Field, e.Problem)
}
