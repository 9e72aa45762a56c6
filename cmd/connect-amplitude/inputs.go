package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"
)

// checkInputFiles refuses to start a config whose `file` input names a file
// that does not exist, or a glob under a directory that does not exist. The
// host's file input would log "no such file or directory" again and again and
// never end; a finite job should stop at once with an error naming the field.
func checkInputFiles(conf *service.ParsedConfig) error {
	if conf == nil || !conf.Contains("input") {
		return nil
	}
	raw, err := conf.FieldAny("input")
	if err != nil {
		return err
	}
	var input map[string]any
	switch v := raw.(type) {
	case *yaml.Node: // the host keeps component configs as YAML
		if err := v.Decode(&input); err != nil {
			return nil // the host reports malformed configs itself
		}
	case map[string]any:
		input = v
	}
	return checkInput(input, "input")
}

// checkInput looks into a `file` input and the inputs that wrap others.
func checkInput(input map[string]any, at string) error {
	var errs []error
	if file, ok := input["file"].(map[string]any); ok {
		paths, _ := file["paths"].([]any)
		for i, p := range paths {
			if s, ok := p.(string); ok {
				if err := checkPath(s); err != nil {
					errs = append(errs, fmt.Errorf("%s.file.paths[%d]: %w", at, i, err))
				}
			}
		}
	}
	if batched, ok := input["batched"].(map[string]any); ok {
		if child, ok := batched["child"].(map[string]any); ok {
			errs = append(errs, checkInput(child, at+".batched.child"))
		}
	}
	for _, kind := range []string{"broker", "sequence"} {
		if parent, ok := input[kind].(map[string]any); ok {
			children, _ := parent["inputs"].([]any)
			for i, c := range children {
				if child, ok := c.(map[string]any); ok {
					errs = append(errs, checkInput(child, fmt.Sprintf("%s.%s.inputs[%d]", at, kind, i)))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkPath checks a literal path exists, and that a glob's directory before
// its first wildcard does: a glob under a missing directory matches nothing.
func checkPath(p string) error {
	wild := strings.IndexAny(p, "*?[")
	if wild < 0 {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%q: %w", p, errors.Unwrap(err))
		}
		return nil
	}
	dir := filepath.Dir(p[:wild] + "x")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%q matches nothing: directory %q: %w", p, dir, errors.Unwrap(err))
	}
	return nil
}
