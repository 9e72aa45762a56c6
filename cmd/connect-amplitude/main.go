// Command connect-amplitude is Benthos with the host's pure and io
// components, this project's plugins, and the components its configs use
// that Redpanda Connect also has (prometheus, kafka_franz), registered here
// only: every host subcommand (run, lint, test, echo, blobl, list) works as
// in Benthos.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka"
	"github.com/connect-amplitude/connect-amplitude/internal/impl/prometheus"
	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

// Set by the Makefile with -ldflags "-X main.version=... -X main.dateBuilt=...".
var (
	version   = ""
	dateBuilt = ""
)

// environment is the global one (the host's components and the plugin
// package's) plus the components only this binary registers.
func environment() (*service.Environment, error) {
	env := service.GlobalEnvironment().Clone()
	if err := prometheus.Register(env); err != nil {
		return nil, err
	}
	if err := kafka.Register(env); err != nil {
		return nil, err
	}
	return env, nil
}

func main() {
	if version == "" {
		version = "(devel)"
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
			version = info.Main.Version
		}
	}
	env, err := environment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	service.RunCLI(context.Background(),
		service.CLIOptSetEnvironment(env),
		service.CLIOptSetBinaryName("connect-amplitude"),
		service.CLIOptSetProductName("connect-amplitude"),
		service.CLIOptSetVersion(version, dateBuilt),
		service.CLIOptSetDocumentationURL("https://github.com/connect-amplitude/connect-amplitude"),
	)
}
