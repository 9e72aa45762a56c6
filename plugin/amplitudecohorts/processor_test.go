package amplitudecohorts

import (
	"context"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
)

func TestTheProcessorMapsChangesAsConfigured(t *testing.T) {
	enter := `{"cohort_id":"abcd1234","cohort_name":"TEST_COHORT","in_cohort":true,"user_id":"user-1","message_id":"m"}`
	anonymous := `{"cohort_id":"abcd1234","cohort_name":"TEST_COHORT","in_cohort":false,"device_id":"dev-1","message_id":"m"}`
	tests := []struct {
		name, conf, in, out, err string
	}{
		{name: "the default array", conf: `{}`, in: enter,
			out: `{"amplitude_cohorts":{"add":["[Amplitude] TEST_COHORT: abcd1234"]},"external_id":"user-1"}`},
		{name: "another attribute", conf: `attribute: cohorts`, in: enter,
			out: `{"cohorts":{"add":["[Amplitude] TEST_COHORT: abcd1234"]},"external_id":"user-1"}`},
		{name: "boolean", conf: `mode: boolean`, in: enter,
			out: `{"[Amplitude] TEST_COHORT: abcd1234":true,"external_id":"user-1"}`},
		{name: "an anonymous user skipped", conf: `{}`, in: anonymous, out: ``},
		{name: "an anonymous user by alias", conf: "anonymous_users: alias\nalias_label: amp_device", in: anonymous,
			out: `{"amplitude_cohorts":{"remove":["[Amplitude] TEST_COHORT: abcd1234"]},"user_alias":{"alias_label":"amp_device","alias_name":"dev-1"}}`},
		{name: "not a change", conf: `{}`, in: `{"event_type":"x"}`, err: "amplitude_cohort_to_braze: cohort_id: missing"},
		{name: "a name Braze cannot hold", conf: `{}`, in: `{"cohort_id":"1","cohort_name":"` + strings.Repeat("n", 300) + `","in_cohort":true,"user_id":"u"}`,
			err: "amplitude_cohort_to_braze: cohort_name: the Braze name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := mappingSpec().ParseYAML(tt.conf, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := newMappingProcessor(conf, service.MockResources())
			if err != nil {
				t.Fatal(err)
			}
			batch, err := p.Process(context.Background(), service.NewMessage([]byte(tt.in)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.out == "" {
				if len(batch) != 0 {
					t.Fatalf("a skipped change came out: %v", batch)
				}
				return
			}
			got, _ := batch[0].AsBytes()
			if len(batch) != 1 || string(got) != tt.out {
				t.Fatalf("out %s, want %s", got, tt.out)
			}
		})
	}
}

func TestProcessorConfigErrorsNameTheField(t *testing.T) {
	for conf, want := range map[string]string{
		`attribute: ""`:                             "attribute: must be 1 to 255 characters",
		"attribute: " + strings.Repeat("a", 256):    "attribute: must be 1 to 255 characters",
		"anonymous_users: alias\nalias_label: \"\"": "alias_label: empty",
	} {
		testutil.ExpectConfigError(t, mappingSpec(), newMappingProcessor, conf, want)
	}
}
