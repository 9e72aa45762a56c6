// Command connect-amplitude is Benthos with the host's pure and io
// components plus this project's: every host subcommand (run, lint, test,
// echo, blobl, list) works as in Benthos.
package main

import (
	"context"
	"runtime/debug"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

// Set by the Makefile with -ldflags "-X main.version=... -X main.dateBuilt=...".
var (
	version   = ""
	dateBuilt = ""
)

func main() {
	if version == "" {
		version = "(devel)"
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
			version = info.Main.Version
		}
	}
	service.RunCLI(context.Background(),
		service.CLIOptSetBinaryName("connect-amplitude"),
		service.CLIOptSetProductName("connect-amplitude"),
		service.CLIOptSetVersion(version, dateBuilt),
		service.CLIOptSetDocumentationURL("https://github.com/connect-amplitude/connect-amplitude"),
	)
}
