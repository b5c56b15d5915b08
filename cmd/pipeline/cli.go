package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

// Exit codes. Usage mistakes get their own code so scripts can tell "you
// called me wrong" from "your pipeline is wrong".
const (
	exitOK      = 0
	exitFailure = 1 // an invalid config or a failed run
	exitUsage   = 2 // unknown verb or flag, missing argument
)

// cli is one invocation of the command: where it writes, and what it knows.
type cli struct {
	stdout, stderr io.Writer
	version        string
	registry       *engine.Registry
}

// exitError ends a verb with a code once the verb has said what went wrong
// itself (lint has printed its errors, run its failure).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run is the whole command; main only passes the process's arguments and
// streams, which lets tests run it in-process.
func run(args []string, stdout, stderr io.Writer, linkedVersion string) int {
	c := &cli{
		stdout:   stdout,
		stderr:   stderr,
		version:  resolveVersion(linkedVersion),
		registry: engine.NewRegistry(inputs.Register, processors.Register, outputs.Register),
	}
	root := c.rootCommand()
	root.SetArgs(args)
	failed, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var exit exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	// Anything else comes from cobra itself: the call was malformed.
	fmt.Fprintf(stderr, "error: %v\nRun '%s --help' for usage.\n", err, failed.CommandPath())
	return exitUsage
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "pipeline",
		Short: "Run declarative YAML stream pipelines",
		Long: `pipeline runs a stream pipeline described by one YAML file:
inputs, a chain of processors, and outputs.

Every config field is typed, defaulted and documented once; "pipeline list"
shows them, "pipeline schema" turns them into a JSON Schema for editors, and
"pipeline lint" checks a file without running it.`,
		Example: `  pipeline run -c pipeline.yaml
  pipeline lint pipelines/*.yaml
  pipeline list processors`,
		Version:       c.version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetVersionTemplate(versionLine(c.version) + "\n")
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(
		c.runCommand(),
		c.lintCommand(),
		c.schemaCommand(),
		c.listCommand(),
		c.versionCommand(),
		c.brokerCommand(),
	)
	return root
}

// printConfigErrors writes every problem of a config, one per line, as
// file:line:col: path: message. Errors that carry no file are given the one
// being read, so every line says which file it is about.
func printConfigErrors(w io.Writer, file string, err error) {
	for _, e := range config.AsErrors(err) {
		if e.Pos.File == "" {
			located := *e
			located.Pos.File = file
			e = &located
		}
		fmt.Fprintln(w, e.Error())
	}
}

// enumFlag is a string flag that accepts only listed values, so a mistake is
// caught while parsing flags, with the allowed values in the message.
type enumFlag struct {
	value   string
	allowed []string
}

func (f *enumFlag) String() string { return f.value }
func (f *enumFlag) Type() string   { return "string" }
func (f *enumFlag) Set(s string) error {
	for _, a := range f.allowed {
		if s == a {
			f.value = s
			return nil
		}
	}
	return fmt.Errorf("want one of %s%s", strings.Join(f.allowed, ", "), config.Suggest(s, f.allowed))
}
