package emulator

import "hash/maphash"

// idHasher turns ids into fixed-size map keys, so per-id state holds no copy of the
// request body and costs the same for any id length. Each kind of id has its own
// seed, so a device_id and a user_id with the same text are different keys.
type idHasher struct{ device, user, insert maphash.Seed }

func newIDHasher() idHasher {
	return idHasher{device: maphash.MakeSeed(), user: maphash.MakeSeed(), insert: maphash.MakeSeed()}
}

// insertKey identifies an insert_id within the id Amplitude scopes it to: the
// device_id, or the user_id when the event has no device_id.
func (h idHasher) insertKey(ev *Event) uint64 {
	var m maphash.Hash
	m.SetSeed(h.insert)
	if ev.DeviceID != "" {
		m.WriteByte('d')
		m.WriteString(ev.DeviceID)
	} else {
		m.WriteByte('u')
		m.WriteString(ev.UserID)
	}
	m.WriteByte(0)
	m.WriteString(ev.InsertID)
	return m.Sum64()
}

// countIDs returns each device_id and user_id of events with its number of events.
func (h idHasher) countIDs(events []Event) []idCount {
	var ids []idCount
	index := make(map[uint64]int, 2*len(events)) // a device and a user per event, at most
	count := func(seed maphash.Seed, user bool, id string) {
		key := maphash.String(seed, id)
		if i, ok := index[key]; ok {
			ids[i].count++
			return
		}
		index[key] = len(ids)
		ids = append(ids, idCount{key: key, user: user, id: id, count: 1})
	}
	for i := range events {
		if id := events[i].DeviceID; id != "" {
			count(h.device, false, id)
		}
		if id := events[i].UserID; id != "" {
			count(h.user, true, id)
		}
	}
	return ids
}
