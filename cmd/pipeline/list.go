package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// categoryNamed maps the words `list` accepts, plural or singular, to
// registry categories.
func categoryNamed(word string) (string, bool) {
	for _, category := range engine.Categories {
		if word == category || word == category+"s" {
			return category, true
		}
	}
	return "", false
}

func (c *cli) listCommand() *cobra.Command {
	format := &enumFlag{value: "text", allowed: []string{"text", "json"}}
	cmd := &cobra.Command{
		Use:   "list [inputs|processors|outputs] [--format text|json]",
		Short: "List components and their config fields",
		Long: `List shows every component this binary knows (or those of one category),
with a summary and each config field's name, type, default, whether it is
required, its allowed values and its description. Nested fields are shown
with dotted names (retry.max_retries).

The json format gives the same as an array of components, each with a
category, name, summary, description, shorthand field and fields.`,
		Example: `  pipeline list
  pipeline list processors
  pipeline list outputs --format json | jq '.[].name'`,
		ValidArgs: []string{"inputs", "processors", "outputs"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("want at most one category, got %d arguments", len(args))
			}
			if len(args) == 1 {
				if _, ok := categoryNamed(args[0]); !ok {
					return fmt.Errorf("unknown category %q: want inputs, processors or outputs", args[0])
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			categories := engine.Categories
			if len(args) == 1 {
				category, _ := categoryNamed(args[0])
				categories = []string{category}
			}
			var components []componentDoc
			for _, category := range categories {
				for _, spec := range c.registry.Specs(category) {
					components = append(components, describeComponent(category, spec))
				}
			}
			var err error
			if format.value == "json" {
				err = writeComponentsJSON(c.stdout, components)
			} else {
				err = writeComponentsText(c.stdout, components)
			}
			if err != nil {
				fmt.Fprintf(c.stderr, "error: %v\n", err)
				return exitError{code: exitFailure}
			}
			return nil
		},
	}
	cmd.Flags().Var(format, "format", "output format: text or json")
	return cmd
}

// componentDoc and fieldDoc are what list shows of a spec; their JSON form is
// the --format json output.
type componentDoc struct {
	Category    string     `json:"category"`
	Name        string     `json:"name"`
	Summary     string     `json:"summary"`
	Description string     `json:"description,omitempty"`
	Shorthand   string     `json:"shorthand,omitempty"`
	Fields      []fieldDoc `json:"fields"`
}

type fieldDoc struct {
	Name        string     `json:"name"`
	Type        string     `json:"type"`
	Default     any        `json:"default,omitempty"`
	Required    bool       `json:"required"`
	Enum        []string   `json:"enum,omitempty"`
	Description string     `json:"description"`
	Category    string     `json:"category,omitempty"` // for fields holding components
	Advanced    bool       `json:"advanced,omitempty"`
	Fields      []fieldDoc `json:"fields,omitempty"`
}

func describeComponent(category string, spec config.Spec) componentDoc {
	return componentDoc{
		Category:    category,
		Name:        spec.Name,
		Summary:     spec.Summary,
		Description: spec.Description,
		Shorthand:   spec.Shorthand,
		Fields:      describeFields(spec.Fields),
	}
}

func describeFields(fields []config.Field) []fieldDoc {
	docs := make([]fieldDoc, 0, len(fields))
	for _, f := range fields {
		docs = append(docs, fieldDoc{
			Name:        f.Name,
			Type:        string(f.Kind),
			Default:     f.DefaultValue,
			Required:    f.IsRequired,
			Enum:        f.Options,
			Description: f.Description,
			Category:    f.Category,
			Advanced:    f.IsAdvanced,
			Fields:      describeFields(f.Fields),
		})
	}
	return docs
}

func writeComponentsJSON(w io.Writer, components []componentDoc) error {
	if components == nil {
		components = []componentDoc{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Descriptions hold expressions such as `value > 1`; keep them readable.
	enc.SetEscapeHTML(false)
	return enc.Encode(components)
}

// writeComponentsText prints each component as a heading line and a table of
// its fields; the description comes last so long ones do not widen columns.
func writeComponentsText(w io.Writer, components []componentDoc) error {
	for i, comp := range components {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s %s: %s\n", comp.Category, comp.Name, comp.Summary)
		if comp.Shorthand != "" {
			fmt.Fprintf(w, "  shorthand: a bare value sets %s\n", comp.Shorthand)
		}
		if len(comp.Fields) == 0 {
			fmt.Fprintln(w, "  (no fields)")
			continue
		}
		table := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(table, "  FIELD\tTYPE\tDEFAULT\tREQUIRED\tENUM\tDESCRIPTION")
		writeFieldRows(table, "", comp.Fields)
		if err := table.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func writeFieldRows(w io.Writer, prefix string, fields []fieldDoc) {
	for _, f := range fields {
		typ := f.Type
		if f.Category != "" {
			typ += "(" + f.Category + ")"
		}
		required := "no"
		if f.Required {
			required = "yes"
		}
		enum := "-"
		if len(f.Enum) > 0 {
			enum = strings.Join(f.Enum, "|")
		}
		fmt.Fprintf(w, "  %s%s\t%s\t%s\t%s\t%s\t%s\n", prefix, f.Name, typ, formatDefault(f.Default), required, enum, oneLine(f.Description))
		writeFieldRows(w, prefix+f.Name+".", f.Fields)
	}
}

// formatDefault shows a default as JSON, so that the empty string, a string
// that looks like a number and a number differ; "-" means no default.
func formatDefault(v any) string {
	if v == nil {
		return "-"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// oneLine keeps a table row on one line whatever the description holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
