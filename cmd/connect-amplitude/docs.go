package main

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"

	"github.com/connect-amplitude/connect-amplitude/internal/bundle"
	"github.com/connect-amplitude/connect-amplitude/internal/docgen"
)

// docsCommand prints the reference of this project's components in env,
// generated from their ConfigSpecs, or writes it to a directory (`make docs`).
func docsCommand(env *service.Environment) *cli.Command {
	return &cli.Command{
		Name:      "docs",
		Usage:     "Print the reference of this project's components, or write it to a directory",
		ArgsUsage: "[NAME...]",
		Description: `Without arguments, lists this project's components; with names, prints
their pages (fields, defaults, answers, metrics, examples) as Markdown.

  connect-amplitude docs amplitude
  connect-amplitude docs --dir docs/components`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "write every page into `DIR`, replacing the Markdown files there"},
		},
		Action: func(c *cli.Context) error {
			pages, err := docgen.Pages(env, bundle.Own())
			if err != nil {
				return err
			}
			if dir := c.String("dir"); dir != "" {
				return docgen.Write(dir, pages)
			}
			out := c.App.Writer
			if c.NArg() == 0 {
				_, err := out.Write(pages[len(pages)-1].Content) // the index
				return err
			}
			for _, name := range c.Args().Slice() {
				found := false
				for _, comp := range bundle.Own() {
					if comp.Name != name {
						continue
					}
					i := slices.IndexFunc(pages, func(p docgen.Page) bool { return p.Name == docgen.FileName(comp) })
					fmt.Fprintf(out, "%s\n", bytes.TrimSpace(pages[i].Content))
					found = true
				}
				if !found {
					return fmt.Errorf("docs: %q is not one of this project's components; `connect-amplitude docs` lists them, `connect-amplitude list` lists every component", name)
				}
			}
			return nil
		},
	}
}
