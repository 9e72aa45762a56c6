package amplitudecohorts

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
)

const (
	fieldMode       = "mode"
	fieldAttribute  = "attribute"
	fieldAnonymous  = "anonymous_users"
	fieldAliasLabel = "alias_label"
)

func init() {
	service.MustRegisterProcessor("amplitude_cohort_to_braze", mappingSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			return newMappingProcessor(conf, mgr)
		})
}

func mappingSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Integration").
		Summary("Maps an Amplitude cohort membership change to a Braze user attributes object, naming the cohort as Braze does: `[Amplitude] <cohort name>: <cohort_id>`.").
		Description(`Each message is a membership change record, as the `+"`amplitude_cohort_webhook`"+` and `+"`amplitude_cohort_export`"+` inputs emit: `+"`{\"cohort_id\", \"cohort_name\", \"in_cohort\", \"user_id\"}`"+` (plus `+"`device_id`, `message_id`, `computed_time`"+`). It becomes one attributes object for `+"`braze_users_track`"+`, for the Braze user whose `+"`external_id`"+` is the Amplitude `+"`user_id`"+`. The cohort is named as Braze's own Amplitude integration names it: a cohort TEST_COHORT with id abcd1234 is `+"`[Amplitude] TEST_COHORT: abcd1234`"+`.

- `+"`mode: array`"+` (the default): one array attribute (`+"`attribute`"+`) lists the cohorts a user is in; entering adds the name, leaving removes it: `+"`{\"external_id\": \"user-1\", \"amplitude_cohorts\": {\"add\": [\"[Amplitude] TEST_COHORT: abcd1234\"]}}`"+`. In Braze, filter on the attribute including the name. Braze keeps 25 elements in an array attribute unless asked to keep more: for users in more cohorts, ask Braze or use the boolean mode.
- `+"`mode: boolean`"+`: one boolean attribute per cohort, named by the cohort's Braze name, true on entering and false on leaving: `+"`{\"external_id\": \"user-1\", \"[Amplitude] TEST_COHORT: abcd1234\": true}`"+`.

Users without a `+"`user_id`"+` (anonymous in Amplitude) cannot be addressed by device id in /users/track. With `+"`anonymous_users: skip`"+` (the default) their changes are dropped (counted in `+"`amplitude_cohort_to_braze_skipped`"+`); with `+"`alias`"+`, a change that carries a `+"`device_id`"+` goes to the user alias `+"`{\"alias_name\": <device_id>, \"alias_label\": <alias_label>}`"+`, which Braze applies only to a profile that has that alias: the app adds it with the Braze SDK (see docs/cohorts-to-braze.md).

A change that cannot be mapped is flagged with an error naming the field (a missing `+"`cohort_id`"+`, a Braze name over Braze's 255 characters...), for a dead-letter output.`).
		Fields(
			service.NewStringEnumField(fieldMode, "array", "boolean").Default("array").
				Description("How membership is written: one array attribute of cohort names, or one boolean attribute per cohort."),
			service.NewStringField(fieldAttribute).Default("amplitude_cohorts").
				Description("The array attribute's name (mode `array`)."),
			service.NewStringEnumField(fieldAnonymous, "skip", "alias").Default("skip").
				Description("Changes of users without a `user_id`: `skip` them, or send them to the user alias named by their `device_id`."),
			service.NewStringField(fieldAliasLabel).Default("amplitude_device_id").
				Description("The alias label of anonymous users (`anonymous_users: alias`), as the app sets it with the Braze SDK."),
		).
		Example("Boolean attributes, anonymous users by alias", "", `
pipeline:
  processors:
    - amplitude_cohort_to_braze:
        mode: boolean
        anonymous_users: alias
        alias_label: amplitude_device_id
`)
}

type mappingProcessor struct {
	mapping  cohorts.Mapping
	mSkipped *service.MetricCounter
}

func newMappingProcessor(conf *service.ParsedConfig, mgr *service.Resources) (*mappingProcessor, error) {
	p := &mappingProcessor{mSkipped: mgr.Metrics().NewCounter("amplitude_cohort_to_braze_skipped")}
	mode, err := conf.FieldString(fieldMode)
	if err != nil {
		return nil, err
	}
	if mode == "boolean" {
		p.mapping.Mode = cohorts.Boolean
	}
	if p.mapping.Attribute, err = conf.FieldString(fieldAttribute); err != nil {
		return nil, err
	}
	if p.mapping.Mode == cohorts.Array && (p.mapping.Attribute == "" || utf8.RuneCountInString(p.mapping.Attribute) > brazeapi.MaxStringLen) {
		return nil, fmt.Errorf("%s: must be 1 to %d characters", fieldAttribute, brazeapi.MaxStringLen)
	}
	anonymous, err := conf.FieldString(fieldAnonymous)
	if err != nil {
		return nil, err
	}
	if anonymous == "alias" {
		p.mapping.Anonymous = cohorts.Alias
	}
	if p.mapping.AliasLabel, err = conf.FieldString(fieldAliasLabel); err != nil {
		return nil, err
	}
	if p.mapping.Anonymous == cohorts.Alias && p.mapping.AliasLabel == "" {
		return nil, fmt.Errorf("%s: empty: anonymous_users: alias needs a label", fieldAliasLabel)
	}
	return p, nil
}

// Process maps one change; a change with no Braze user under the mapping
// is dropped.
func (p *mappingProcessor) Process(_ context.Context, msg *service.Message) (service.MessageBatch, error) {
	raw, err := msg.AsBytes()
	if err != nil {
		return nil, err
	}
	c, err := cohorts.ParseChange(raw)
	if err != nil {
		return nil, fmt.Errorf("amplitude_cohort_to_braze: %w", err)
	}
	obj, skip, err := p.mapping.Object(c)
	if err != nil {
		return nil, fmt.Errorf("amplitude_cohort_to_braze: %w", err)
	}
	if skip {
		p.mSkipped.Incr(1)
		return nil, nil
	}
	msg.SetBytes(obj)
	return service.MessageBatch{msg}, nil
}

func (p *mappingProcessor) Close(context.Context) error { return nil }
