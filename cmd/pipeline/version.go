package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func (c *cli) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of pipeline",
		Long: `Version prints the release this binary was built as (set at link time with
-ldflags "-X main.version=v1.2.3"), or what Go's build information knows when
it was not set, followed by the Go version and platform.`,
		Example: `  pipeline version
  pipeline --version`,
		Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(c.stdout, versionLine(c.version))
		},
	}
}

func versionLine(version string) string {
	return fmt.Sprintf("pipeline %s %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// resolveVersion prefers the version set at link time; without one it uses
// the module version `go install module@version` records, then the VCS
// revision `go build` records in a checkout, then "(devel)".
func resolveVersion(linked string) string {
	if linked != "" {
		return linked
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	return versionFromBuildInfo(info)
}

func versionFromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "(devel)"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		revision += "-dirty"
	}
	return "devel-" + revision
}
