package mapping

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/bloblang"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

// MethodName is the Bloblang method this package registers.
const MethodName = "currents_to_amplitude"

func init() {
	spec := bloblang.NewPluginSpec().
		Category("Object & Maps").
		Description(`Turns a Braze Currents event (the Custom HTTP connector's event shape, or a record of the currents_avro scanner) into the Amplitude HTTP API event that Braze's own Amplitude export would send: `+"`[Appboy] ...`"+` event names, `+"`insert_id`"+` = the Currents id, `+"`time`"+` in milliseconds, `+"`user_id`"+` = external_user_id, properties in `+"`event_properties`"+` with custom and purchase properties prefixed.

On raw bytes (`+"`content().currents_to_amplitude()`"+`) the event is read in one validating pass and the result is JSON bytes, with no Bloblang JSON round trip: use this form for volume. On an object (`+"`this.currents_to_amplitude()`"+`) the result is an object. Both give the same event.

An event that cannot be mapped fails with an error naming the event id and the field. An event the options leave out (type not selected, or anonymous user while `+"`anonymous`"+` is false) maps to `+"`null`"+`; drop it with `+"`root = if root == null { deleted() }`"+`. The `+"`currents_to_amplitude`"+` processor does the same in one step, cheaper still.

`+producedDoc).
		Param(bloblang.NewStringParam(optProfile).Default(ProfileBraze).Description(optionDocs[optProfile])).
		Param(bloblang.NewAnyParam(optNames).Default(map[string]any{}).Description(optionDocs[optNames])).
		Param(bloblang.NewAnyParam(optInclude).Default([]any{}).Description(optionDocs[optInclude])).
		Param(bloblang.NewAnyParam(optExclude).Default([]any{}).Description(optionDocs[optExclude])).
		Param(bloblang.NewBoolParam(optAnonymous).Default(false).Description(optionDocs[optAnonymous])).
		Param(bloblang.NewBoolParam(optDeviceFields).Default(false).Description(optionDocs[optDeviceFields])).
		Param(bloblang.NewBoolParam(optRevenue).Default(false).Description(optionDocs[optRevenue])).
		Param(bloblang.NewStringParam(optPII).Default(PIIKeep).Description(optionDocs[optPII])).
		Param(bloblang.NewAnyParam(optPIIFields).Default(anySlice(DefaultPIIFields())).Description(optionDocs[optPIIFields])).
		ExampleNotTested("The fast path: raw Currents JSON in, Amplitude JSON bytes out.",
			`root = content().currents_to_amplitude()
root = if root == null { deleted() }`).
		ExampleNotTested("Only email events, custom names for two of them, hashed emails.",
			`root = this.currents_to_amplitude(include: ["users.messages.email.*"], names: {"users.messages.email.Open": "Email Opened"}, pii: "hash")`)

	bloblang.MustRegisterMethodV2(MethodName, spec, newMethod)
}

func newMethod(args *bloblang.ParsedParams) (bloblang.Method, error) {
	opts, err := optionsFromParams(args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MethodName, err)
	}
	m, err := New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MethodName, err)
	}
	return m.Method, nil
}

// Method is the Bloblang method body: bytes or a string map to JSON bytes,
// an object maps to an object, an excluded event to nil.
func (m *Mapper) Method(v any) (any, error) {
	var out any
	var err error
	switch t := v.(type) {
	case []byte:
		// No copy: the event is only read, as in MapRaw.
		out, err = m.mapToOwnedBytes(unsafe.String(unsafe.SliceData(t), len(t)), nil)
	case string:
		out, err = m.mapToOwnedBytes(t, nil)
	default:
		out, err = m.MapObject(v)
	}
	if errors.Is(err, ErrExcluded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Mapped events are cut from shared chunks rather than each mapped into a
// scratch buffer and copied out to an allocation of its own: one allocation
// then serves a dozen or more events, and nothing is copied. A chunk lives
// while any of its events does, so chunks are kept small: a pipeline that
// keeps one event in many (in a cache, say) pins at most chunkSize per event.
const (
	chunkSize  = 16 << 10
	chunkSlack = 256 // room beyond the event's size: an output is rarely larger than its event
)

var chunks = sync.Pool{New: func() any { return new([]byte) }}

// mapToOwnedBytes maps an event into the free end of a pooled chunk, as
// mapIntoChunk does.
func (m *Mapper) mapToOwnedBytes(event string, written *ampapi.Fields) ([]byte, error) {
	chunk := chunks.Get().(*[]byte)
	defer chunks.Put(chunk)
	return m.mapIntoChunk(chunk, event, written)
}

// mapIntoChunk maps an event into the free end of chunk and returns that
// part, capped so that appending to it cannot reach the next event: the
// message owns it from then on. written is as in mapString.
func (m *Mapper) mapIntoChunk(chunk *[]byte, event string, written *ampapi.Fields) ([]byte, error) {
	if cap(*chunk)-len(*chunk) < len(event)+chunkSlack {
		*chunk = make([]byte, 0, max(chunkSize, 2*len(event)+chunkSlack))
	}
	free := (*chunk)[len(*chunk):]
	out, err := m.mapString(free, event, written)
	if err != nil {
		return nil, err
	}
	if unsafe.SliceData(out) == unsafe.SliceData(free) {
		*chunk = (*chunk)[:len(*chunk)+len(out)]
	} // else the output outgrew the chunk into an array of its own, and the free end stays free
	return out[:len(out):len(out)], nil
}

func optionsFromParams(args *bloblang.ParsedParams) (Options, error) {
	opts := DefaultOptions()
	var err error
	if opts.Profile, err = args.GetString(optProfile); err != nil {
		return opts, err
	}
	if opts.PII, err = args.GetString(optPII); err != nil {
		return opts, err
	}
	for name, dst := range map[string]*bool{optAnonymous: &opts.Anonymous, optDeviceFields: &opts.DeviceFields, optRevenue: &opts.Revenue} {
		if *dst, err = args.GetBool(name); err != nil {
			return opts, err
		}
	}
	for name, dst := range map[string]*[]string{optInclude: &opts.Include, optExclude: &opts.Exclude, optPIIFields: &opts.PIIFields} {
		raw, err := args.Get(name)
		if err != nil {
			return opts, err
		}
		if *dst, err = stringList(name, raw); err != nil {
			return opts, err
		}
	}
	raw, err := args.Get(optNames)
	if err != nil {
		return opts, err
	}
	names, ok := raw.(map[string]any)
	if !ok {
		return opts, fmt.Errorf("names: expected an object of event type -> name, got %T", raw)
	}
	opts.Names = make(map[string]string, len(names))
	for k, v := range names {
		s, ok := v.(string)
		if !ok || s == "" {
			return opts, fmt.Errorf("names.%s: expected a non-empty string", k)
		}
		opts.Names[k] = s
	}
	return opts, nil
}

func stringList(param string, raw any) ([]string, error) {
	items, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected an array of strings, got %T", param, raw)
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a string, got %T", param, i, item)
		}
		out[i] = s
	}
	return out, nil
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
