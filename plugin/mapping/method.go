package mapping

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/bloblang"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
)

// MethodName is the Bloblang method this package registers.
const MethodName = "currents_to_amplitude"

func init() {
	spec := currentsmap.OptionParams(bloblang.NewPluginSpec()).
		Category("Object & Maps").
		Description(`Turns a Braze Currents event (the Custom HTTP connector's event shape, or a record of the currents_avro scanner) into the Amplitude HTTP API event that Braze's own Amplitude export would send: `+"`[Appboy] ...`"+` event names, `+"`insert_id`"+` = the Currents id, `+"`time`"+` in milliseconds, `+"`user_id`"+` = external_user_id, properties in `+"`event_properties`"+` with custom and purchase properties prefixed.

On raw bytes (`+"`content().currents_to_amplitude()`"+`) the event is read in one validating pass and the result is JSON bytes, with no Bloblang JSON round trip: use this form for volume. On an object (`+"`this.currents_to_amplitude()`"+`) the result is an object. Both give the same event.

An event that cannot be mapped fails with an error naming the event id and the field. An event the options leave out (type not selected, or anonymous user while `+"`anonymous`"+` is false) maps to `+"`null`"+`; drop it with `+"`root = if root == null { deleted() }`"+`. The `+"`currents_to_amplitude`"+` processor does the same in one step, cheaper still.

`+currentsmap.ProducedDoc).
		ExampleNotTested("The fast path: raw Currents JSON in, Amplitude JSON bytes out.",
			`root = content().currents_to_amplitude()
root = if root == null { deleted() }`).
		ExampleNotTested("Only email events, custom names for two of them, hashed emails.",
			`root = this.currents_to_amplitude(include: ["users.messages.email.*"], names: {"users.messages.email.Open": "Email Opened"}, pii: "hash")`)

	bloblang.MustRegisterMethodV2(MethodName, spec, newMethod)
}

func newMethod(args *bloblang.ParsedParams) (bloblang.Method, error) {
	opts, err := currentsmap.OptionsFromParams(args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MethodName, err)
	}
	m, err := currentsmap.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MethodName, err)
	}
	return func(v any) (any, error) { return method(m, v) }, nil
}

// method is the Bloblang method body: bytes or a string map to JSON bytes,
// an object maps to an object, an excluded event to nil.
func method(m *currentsmap.Mapper, v any) (any, error) {
	var out any
	var err error
	switch t := v.(type) {
	case []byte:
		// No copy: the event is only read, as in MapRaw.
		out, err = m.MapOwned(unsafe.String(unsafe.SliceData(t), len(t)))
	case string:
		out, err = m.MapOwned(t)
	default:
		out, err = m.MapObject(v)
	}
	if errors.Is(err, currentsmap.ErrExcluded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
