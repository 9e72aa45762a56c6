// Command connect-amplitude is Benthos with the host's pure and io
// components, this project's plugins, and the Redpanda Connect components its
// configs use, registered here only (see package bundle): every host
// subcommand (run, lint, test, echo, blobl, list) works as in Benthos, and
// `docs` prints the reference of this project's components.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"

	"github.com/connect-amplitude/connect-amplitude/internal/bundle"
)

// Set by the Makefile with -ldflags "-X main.version=... -X main.dateBuilt=...".
var (
	version   = ""
	dateBuilt = ""
)

const defaultHTTPAddress = "127.0.0.1:4195"

func main() {
	env, err := bundle.Environment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli.AppHelpTemplate = helpTemplate
	v, date := buildInfo()
	service.RunCLI(context.Background(),
		service.CLIOptSetEnvironment(env),
		service.CLIOptSetBinaryName("connect-amplitude"),
		service.CLIOptSetProductName("connect-amplitude"),
		service.CLIOptSetVersion(v, date),
		service.CLIOptSetDocumentationURL("https://github.com/connect-amplitude/connect-amplitude"),
		service.CLIOptAddCommand(docsCommand(env)),
		service.CLIOptOnConfigParse(checkInputFiles),
		service.CLIOptSetMainSchemaFrom(func() *service.ConfigSchema {
			schema := env.FullConfigSchema(v, date)
			// Only what serves on purpose listens beyond this machine: the
			// HTTP server (/ready, /metrics) answers on loopback unless a
			// config moves it.
			schema.SetFieldDefault(defaultHTTPAddress, "http", "address")
			return schema
		}),
	)
}

// buildInfo is the version and build date the Makefile sets, else what the
// Go toolchain recorded: the module version, or the commit and its time.
func buildInfo() (string, string) {
	v, date := version, dateBuilt
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return cmpOr(v, "(devel)"), date
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			date = cmpOr(date, s.Value)
		case "vcs.modified":
			modified = s.Value
		}
	}
	if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" && revision != "" {
		v = revision[:min(12, len(revision))]
		if modified == "true" {
			v += "-dirty"
		}
	}
	return cmpOr(v, "(devel)"), cmpOr(date, "unknown")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const helpTemplate = `NAME:
   {{.Name}} - Braze Currents to Amplitude, open and self-hosted

USAGE:
   {{.HelpName}} [global options] command [command options]

DESCRIPTION:
   Benthos with this project's components: the currents_to_amplitude processor
   and Bloblang method, the amplitude output, the braze_currents input, the
   currents_jsonl and currents_avro scanners, and the prometheus exporter.

     {{.Name}} run config/currents-to-amplitude.yaml   # a shipped config
     {{.Name}} docs amplitude                          # a component's reference
     {{.Name}} list outputs
     {{.Name}} test ./config/...

   Configs and guides: https://github.com/connect-amplitude/connect-amplitude
{{if .VisibleCommands}}
COMMANDS:{{template "visibleCommandCategoryTemplate" .}}{{end}}{{if .VisibleFlags}}

GLOBAL OPTIONS:{{template "visibleFlagTemplate" .}}{{end}}
`
