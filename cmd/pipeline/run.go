package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipelinehq/pipeline/service"
)

func (c *cli) runCommand() *cobra.Command {
	var (
		configPath string
		overrides  []string
		watch      bool
		logLevel   = &enumFlag{allowed: service.LogLevels()}
		logFormat  = &enumFlag{allowed: service.LogFormats()}
	)
	cmd := &cobra.Command{
		Use:   "run -c FILE [-s path=value]...",
		Short: "Run a pipeline until its inputs end or it is stopped",
		Long: `Run loads the config, builds the pipeline and runs it until every input has
ended and everything read is written, or until SIGINT or SIGTERM asks it to
stop. A stop drains: inputs stop reading, records already read are written and
their positions committed within shutdown_timeout. A second signal exits at
once, leaving unwritten records uncommitted (they are read again next time).

While it runs, the operations server (http.address, default 127.0.0.1:4195,
this machine only; PIPELINE_HTTP_ADDRESS replaces that default) serves /ping,
/ready (200 only while the pipeline runs) and /metrics.

SIGHUP or POST /reload reloads the config; with --watch, so does any change
of the file (its directory is watched, so editors that replace the file and
Kubernetes ConfigMap updates are seen). POST /reload is refused (403) to web
pages of other origins, and with http.auth_token set it needs
"Authorization: Bearer <token>" (401 without); /ping, /ready and /metrics
stay open. The new config is built and checked
first: an invalid one is reported as file:line:col and the running pipeline
goes on. Otherwise the running pipeline drains (everything read is written
and committed) and the new one starts; stateful components that did not
change keep their state.

Config problems are printed like "pipeline lint" prints them, and nothing is
started. Exit status: 0 after a clean end or drain, 1 for an invalid config or
a failed run.`,
		Example: `  pipeline run -c pipeline.yaml
  pipeline run -c /etc/pipeline/pipeline.yaml --watch
  pipeline run -c pipeline.yaml -s input.file.paths.0=other.txt -s http.enabled=false
  INPUT=words.txt pipeline run -c pipeline.yaml --log-level debug --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := service.Run(context.Background(), service.Options{
				ConfigPath: configPath,
				Overrides:  overrides,
				Registry:   c.registry,
				LogLevel:   logLevel.value,
				LogFormat:  logFormat.value,
				LogOutput:  c.stderr,
				Watch:      watch,
			})
			return c.reportRun(configPath, err)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&configPath, "config", "c", "", "the pipeline config `FILE` (required)")
	addSetFlag(cmd, &overrides)
	flags.BoolVar(&watch, "watch", false, "reload the config when its file changes")
	flags.Var(logLevel, "log-level", "override logger.level: "+strings.Join(logLevel.allowed, ", "))
	flags.Var(logFormat, "log-format", "override logger.format: "+strings.Join(logFormat.allowed, ", "))
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	return cmd
}

// reportRun prints why a run did not end cleanly: config problems as lint
// prints them, anything else as one error line.
func (c *cli) reportRun(configPath string, err error) error {
	if err == nil {
		return nil
	}
	var invalid *service.InvalidConfigError
	if errors.As(err, &invalid) {
		printConfigErrors(c.stderr, configPath, invalid.Errors)
	} else {
		fmt.Fprintf(c.stderr, "error: %v\n", err)
	}
	return exitError{code: exitFailure}
}

// addSetFlag adds -s/--set. It is a string array, not a slice: a value such
// as `paths=[a, b]` must not be split at its comma.
func addSetFlag(cmd *cobra.Command, overrides *[]string) {
	cmd.Flags().StringArrayVarP(overrides, "set", "s", nil,
		"override a config field, as `path=value` (repeatable); the value is YAML, list items are numbered: input.file.paths.0=a.txt")
}
