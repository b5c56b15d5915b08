package service

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

type logSettings struct {
	level  slog.Level
	format string // "text" or "json"
}

// loggerSettings reads the config's logger section, with the command-line
// overrides on top. The logger must exist before engine.Build (components
// keep the logger they are built with), so the root fields are decoded here
// once more.
func loggerSettings(doc *config.Document, levelOverride, formatOverride string) (logSettings, error) {
	fields := engine.RootFields()
	loggerField, _ := fieldOf(fields, "logger")
	levelField, _ := fieldOf(loggerField.Fields, "level")
	formatField, _ := fieldOf(loggerField.Fields, "format")

	level, _ := levelField.DefaultValue.(string)
	format, _ := formatField.DefaultValue.(string)
	// Only a root that decoded cleanly is read: a malformed section leaves
	// fields undecoded, and Build reports the problem anyway.
	if root, errs := config.Parse(doc.File, "", doc.Root, fields); len(errs) == 0 {
		logger := root.Object("logger")
		if v := logger.String("level"); v != "" {
			level = v
		}
		if v := logger.String("format"); v != "" {
			format = v
		}
	}
	if levelOverride != "" {
		if err := checkOption("log level", levelOverride, levelField.Options); err != nil {
			return logSettings{}, err
		}
		level = levelOverride
	}
	if formatOverride != "" {
		if err := checkOption("log format", formatOverride, formatField.Options); err != nil {
			return logSettings{}, err
		}
		format = formatOverride
	}
	var s logSettings
	if err := s.level.UnmarshalText([]byte(level)); err != nil {
		return logSettings{}, fmt.Errorf("log level %q: %w", level, err)
	}
	s.format = format
	return s, nil
}

// LogLevels and LogFormats are the values the logger accepts, from the
// config spec, so command-line flags can list them in their help.
func LogLevels() []string  { return loggerOptions("level") }
func LogFormats() []string { return loggerOptions("format") }

func loggerOptions(name string) []string {
	loggerField, _ := fieldOf(engine.RootFields(), "logger")
	f, _ := fieldOf(loggerField.Fields, name)
	return f.Options
}

func checkOption(what, value string, allowed []string) error {
	for _, a := range allowed {
		if a == value {
			return nil
		}
	}
	return fmt.Errorf("%s %q is not one of %s%s", what, value, strings.Join(allowed, ", "), config.Suggest(value, allowed))
}

func fieldOf(fields []config.Field, name string) (config.Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return config.Field{}, false
}

func newLogger(w io.Writer, s logSettings) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.level}
	if s.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
