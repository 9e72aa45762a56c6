package currentsmap

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/connect-amplitude/connect-amplitude/resources"
)

// customEventType is the one Currents type whose Amplitude name comes from
// the event itself (its `name` property) rather than from the table.
const customEventType = "users.behaviors.CustomEvent"

// table is the parsed event table from resources/: names, prefixes and the
// top-level fields each event type carries in Braze's export.
type table struct {
	prefixes prefixes
	aliases  map[string]string
	rows     map[string]tableRow
}

type prefixes struct {
	EventType           string `json:"event_type"`
	CustomEventType     string `json:"custom_event_type"`
	CustomEventProperty string `json:"custom_event_property"`
	PurchaseProperty    string `json:"purchase_property"`
}

// tableRow keeps only what the mapping acts on; the rest of the row
// documents Braze's payload for humans.
type tableRow struct {
	eventType string // "" when the name comes from elsewhere (custom events)
	adIDs     bool   // top-level adid / idfa from ad_id
	productID bool   // top-level productId from product_id
	price     bool   // top-level price from price
}

var builtinTable = sync.OnceValues(func() (*table, error) {
	return parseTable(resources.EventTable)
})

func parseTable(data []byte) (*table, error) {
	var doc struct {
		Prefixes prefixes          `json:"prefixes"`
		Aliases  map[string]string `json:"aliases"`
		Events   map[string]struct {
			DefaultEventType *string  `json:"default_event_type"`
			TopLevel         []string `json:"top_level"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("event table: %w", err)
	}
	t := &table{prefixes: doc.Prefixes, aliases: doc.Aliases, rows: make(map[string]tableRow, len(doc.Events))}
	for name, ev := range doc.Events {
		row := tableRow{
			adIDs:     slices.Contains(ev.TopLevel, "adid") || slices.Contains(ev.TopLevel, "idfa"),
			productID: slices.Contains(ev.TopLevel, "productId"),
			price:     slices.Contains(ev.TopLevel, "price"),
		}
		if ev.DefaultEventType != nil {
			row.eventType = *ev.DefaultEventType
		}
		if row.eventType == "" && name != customEventType {
			return nil, fmt.Errorf("event table: %s has no default_event_type", name)
		}
		t.rows[name] = row
	}
	for alias, canonical := range t.aliases {
		if _, ok := t.rows[canonical]; !ok {
			return nil, fmt.Errorf("event table: alias %s points to unknown type %s", alias, canonical)
		}
	}
	return t, nil
}

// canonical returns the table's spelling of a Currents event type.
func (t *table) canonical(eventType string) string {
	if c, ok := t.aliases[eventType]; ok {
		return c
	}
	return eventType
}
