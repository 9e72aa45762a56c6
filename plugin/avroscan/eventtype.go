package avroscan

import (
	"strings"
)

// currentsRoots are the first segments of every Currents event type Braze
// has published (users.messages.email.Open, agentconsole.AgentExecuted).
var currentsRoots = []string{"users", "agentconsole"}

// eventTypeFromSchemaName derives the Currents event type from the full name
// (namespace + "." + name) of a file's writer schema. Current exports are
// named dataexport.<sink>.inner.<event type>; older files use the bare event
// type as the full name (Braze's users.behaviors.UpgradedApp sample). Any
// other name is inconclusive, because a record name such as "Purchase" or
// "com.example.Event" does not say which of Braze's event types it carries.
func eventTypeFromSchemaName(fullName string) (string, bool) {
	segments := strings.Split(fullName, ".")
	if len(segments) >= 5 && segments[0] == "dataexport" && segments[2] == "inner" {
		return strings.Join(segments[3:], "."), true
	}
	for i, s := range segments[:len(segments)-1] {
		for _, root := range currentsRoots {
			if s == root {
				return strings.Join(segments[i:], "."), true
			}
		}
	}
	return "", false
}

// eventTypeFromPath reads the event_type=<type> segment Braze puts in every
// object key it writes:
// <prefix>/dataexport.<cluster>.S3.integration.<id>/event_type=<type>/date=<YYYY-MM-DD-HH>/...
func eventTypeFromPath(path string) (string, bool) {
	isSeparator := func(r rune) bool { return r == '/' || r == '\\' }
	for segment := range strings.FieldsFuncSeq(path, isSeparator) {
		if v, ok := strings.CutPrefix(segment, "event_type="); ok && v != "" {
			return v, true
		}
	}
	return "", false
}
