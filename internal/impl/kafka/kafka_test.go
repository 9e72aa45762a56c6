package kafka

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

// Register adds both components, and their documented examples are configs
// that lint in the binary's environment.
func TestRegisterAddsTheComponentsWhoseExamplesLint(t *testing.T) {
	env := service.NewEnvironment()
	if err := Register(env); err != nil {
		t.Fatal(err)
	}
	var views []*service.ConfigView
	env.WalkInputs(func(name string, v *service.ConfigView) {
		if name == "kafka_franz" {
			views = append(views, v)
		}
	})
	env.WalkOutputs(func(name string, v *service.ConfigView) {
		if name == "kafka_franz" {
			views = append(views, v)
		}
	})
	if len(views) != 2 {
		t.Fatalf("found %d kafka_franz components, want an input and an output", len(views))
	}
	examples := 0
	for _, v := range views {
		data, err := v.TemplateData()
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range data.Examples {
			examples++
			if err := env.NewStreamBuilder().SetYAML(ex.Config); err != nil {
				t.Errorf("%s example %q: %v\n%s", data.Type, ex.Title, err, ex.Config)
			}
		}
	}
	if examples < 2 {
		t.Errorf("%d examples, want one per component at least", examples)
	}
}
