package currentsmap

import (
	"fmt"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// OptionFields are the mapping's options as config fields, documented with
// their defaults, for the components that map: this processor, and the
// currents_avro scanner's currents_to_amplitude field.
func OptionFields() []*service.ConfigField {
	return []*service.ConfigField{
		service.NewStringEnumField(optProfile, ProfileBraze, ProfileCurrents).Default(ProfileBraze).Description(optionDocs[optProfile]),
		service.NewStringMapField(optNames).Default(map[string]any{}).Description(optionDocs[optNames]),
		service.NewStringListField(optInclude).Default([]any{}).Description(optionDocs[optInclude]),
		service.NewStringListField(optExclude).Default([]any{}).Description(optionDocs[optExclude]),
		service.NewBoolField(optAnonymous).Default(false).Description(optionDocs[optAnonymous]),
		service.NewBoolField(optDeviceFields).Default(false).Description(optionDocs[optDeviceFields]),
		service.NewBoolField(optRevenue).Default(false).Description(optionDocs[optRevenue]),
		service.NewStringEnumField(optPII, PIIKeep, PIIHash, PIIDrop).Default(PIIKeep).Description(optionDocs[optPII]),
		service.NewStringListField(optPIIFields).Default(anySlice(DefaultPIIFields())).Description(optionDocs[optPIIFields]),
	}
}

// OptionParams adds the mapping's options to a Bloblang method's spec, as
// parameters named and documented as OptionFields' fields.
func OptionParams(spec *bloblang.PluginSpec) *bloblang.PluginSpec {
	return spec.
		Param(bloblang.NewStringParam(optProfile).Default(ProfileBraze).Description(optionDocs[optProfile])).
		Param(bloblang.NewAnyParam(optNames).Default(map[string]any{}).Description(optionDocs[optNames])).
		Param(bloblang.NewAnyParam(optInclude).Default([]any{}).Description(optionDocs[optInclude])).
		Param(bloblang.NewAnyParam(optExclude).Default([]any{}).Description(optionDocs[optExclude])).
		Param(bloblang.NewBoolParam(optAnonymous).Default(false).Description(optionDocs[optAnonymous])).
		Param(bloblang.NewBoolParam(optDeviceFields).Default(false).Description(optionDocs[optDeviceFields])).
		Param(bloblang.NewBoolParam(optRevenue).Default(false).Description(optionDocs[optRevenue])).
		Param(bloblang.NewStringParam(optPII).Default(PIIKeep).Description(optionDocs[optPII])).
		Param(bloblang.NewAnyParam(optPIIFields).Default(anySlice(DefaultPIIFields())).Description(optionDocs[optPIIFields]))
}

// OptionsFromParsed reads the fields of OptionFields.
func OptionsFromParsed(conf *service.ParsedConfig) (opts Options, err error) {
	opts = DefaultOptions()
	if opts.Profile, err = conf.FieldString(optProfile); err != nil {
		return opts, err
	}
	if opts.PII, err = conf.FieldString(optPII); err != nil {
		return opts, err
	}
	if opts.Names, err = conf.FieldStringMap(optNames); err != nil {
		return opts, err
	}
	for name, dst := range map[string]*bool{optAnonymous: &opts.Anonymous, optDeviceFields: &opts.DeviceFields, optRevenue: &opts.Revenue} {
		if *dst, err = conf.FieldBool(name); err != nil {
			return opts, err
		}
	}
	for name, dst := range map[string]*[]string{optInclude: &opts.Include, optExclude: &opts.Exclude, optPIIFields: &opts.PIIFields} {
		if *dst, err = conf.FieldStringList(name); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// OptionsFromParams reads the Bloblang method's parameters, named as the
// processor's fields.
func OptionsFromParams(args *bloblang.ParsedParams) (Options, error) {
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
