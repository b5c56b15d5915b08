package main

import (
	"github.com/spf13/cobra"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

func (c *cli) lintCommand() *cobra.Command {
	var overrides []string
	cmd := &cobra.Command{
		Use:   "lint FILE... [-s path=value]...",
		Short: "Check configs without running them",
		Long: `Lint loads and builds each file exactly as run would (interpolating
${VAR:default}, applying -s overrides, checking every field, compiling every
expression and resolving every output name), but starts nothing: no file is
opened, no connection made.

Every problem is printed to stderr, one per line, as

  file:line:col: field.path: message

Exit status: 0 and no output when every file is valid, 1 otherwise.`,
		Example: `  pipeline lint pipeline.yaml
  pipeline lint pipelines/*.yaml
  pipeline lint pipeline.yaml -s input.file.paths.0=other.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			failed := false
			for _, file := range files {
				if err := c.lintFile(file, overrides); err != nil {
					printConfigErrors(c.stderr, file, err)
					failed = true
				}
			}
			if failed {
				return exitError{code: exitFailure}
			}
			return nil
		},
	}
	addSetFlag(cmd, &overrides)
	return cmd
}

// lintFile builds the file's pipeline and throws it away. Build has no side
// effects (see engine's component lifecycle), and without BuildOptions.Metrics
// it uses a private registry, so linting many files shares nothing.
func (c *cli) lintFile(file string, overrides []string) error {
	doc, err := config.LoadFile(file, config.LoadOptions{Overrides: overrides})
	if err != nil {
		return err
	}
	_, err = engine.Build(doc, c.registry, engine.BuildOptions{})
	return err
}
