// Package config_test lints every example config and runs the `tests:` they
// carry, with the same components and CLI as the connect-amplitude binary
// (whose environment adds kafka_franz to the global one).
package config_test

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka"
	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

// binaryEnv is the global environment plus the kafka_franz components, as
// the binary registers them.
func binaryEnv(t *testing.T) *service.Environment {
	t.Helper()
	env := service.NewEnvironment()
	if err := kafka.Register(env); err != nil {
		t.Fatal(err)
	}
	return env
}

func runCLI(t *testing.T, args ...string) {
	t.Helper()
	code, err := service.RunCLIToCode(context.Background(), service.CLIOptSetEnvironment(binaryEnv(t)),
		service.CLIOptSetArgs(append([]string{"connect-amplitude"}, args...)...))
	if err != nil || code != 0 {
		t.Fatalf("connect-amplitude %v: exit code %d, %v", args, code, err)
	}
}

func TestExampleConfigsLintClean(t *testing.T) {
	runCLI(t, "lint", "--deprecated", "./...")
}

func TestExampleConfigsPassTheirTests(t *testing.T) {
	runCLI(t, "test", "./...")
}
