// Package config_test lints every example config and runs the `tests:` they
// carry, with the same components and CLI as the connect-amplitude binary.
package config_test

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

func runCLI(t *testing.T, args ...string) {
	t.Helper()
	code, err := service.RunCLIToCode(context.Background(),
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
