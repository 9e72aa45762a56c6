// Package config_test lints every shipped config and runs the `tests:` they
// carry, in the binary's environment (package bundle: the host's pure and io
// components, the plugin package, and the components only the binary
// registers).
package config_test

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/bundle"
)

// binaryEnv is the binary's environment.
func binaryEnv(t *testing.T) *service.Environment {
	t.Helper()
	env, err := bundle.Environment()
	if err != nil {
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

func TestShippedConfigsLintClean(t *testing.T) {
	runCLI(t, "lint", "--deprecated", "./...")
}

func TestShippedConfigsPassTheirTests(t *testing.T) {
	runCLI(t, "test", "./...")
}
