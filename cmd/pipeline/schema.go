package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pipelinehq/pipeline/schema"
)

func (c *cli) schemaCommand() *cobra.Command {
	var outputPath string
	cmd := &cobra.Command{
		Use:   "schema [-o FILE]",
		Short: "Print the JSON Schema of config files",
		Long: `Schema prints the JSON Schema of pipeline config files, generated from the
same field specs that decode and lint them, so it lists every component and
field with its type, default, allowed values and description.

Editors use it for completion and inline errors: with the YAML language
server, start a config with

  # yaml-language-server: $schema=pipeline.schema.json`,
		Example: `  pipeline schema > pipeline.schema.json
  pipeline schema -o schema/pipeline.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := schema.Generate(c.registry)
			if err != nil {
				fmt.Fprintf(c.stderr, "error: generating the schema: %v\n", err)
				return exitError{code: exitFailure}
			}
			if outputPath == "" {
				_, err = c.stdout.Write(data)
			} else {
				err = os.WriteFile(outputPath, data, 0o644)
			}
			if err != nil {
				fmt.Fprintf(c.stderr, "error: %v\n", err)
				return exitError{code: exitFailure}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&outputPath, "output", "o", "", "write the schema to `FILE` instead of stdout")
	return cmd
}
