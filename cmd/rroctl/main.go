// Command rroctl is the operator's tool for rro-runc: can this node do
// recursive read-only mounts (probe), what would the wrapper do to a
// bundle (check, rewrite), is a running container really protected
// (verify), and how do engines use rro-runc (configure).
//
// It shares the probe and rewrite packages with the wrapper, so its
// answers are the ones the wrapper acts on.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses: 0 fine, 1 the answer is "not protected" / "cannot
// honour", 2 bad usage or input.
const (
	exitFinding = 1
	exitInput   = 2
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is rroctl: it runs the command args names, writes to stdout and
// stderr, and returns the exit status. The tests run it as users do, so
// what they compare is everything a user sees.
func run(args []string, stdout, stderr io.Writer) int {
	code := 0
	app := &cli.App{
		Name:                 "rroctl",
		Usage:                "probe, check, rewrite, verify and configure recursive read-only mounts for rro-runc",
		Version:              version,
		EnableBashCompletion: true,
		Commands:             commands(),
		Writer:               stdout,
		ErrWriter:            stderr,
		ExitErrHandler:       func(*cli.Context, error) {},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "rroctl: unknown command %q (see rroctl --help)\n", name)
			code = exitInput
		},
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintln(stderr, "rroctl:", err)
		var coder cli.ExitCoder
		if errors.As(err, &coder) {
			return coder.ExitCode()
		}
		return exitInput
	}
	return code
}

func commands() []*cli.Command {
	return []*cli.Command{
		probeCommand(),
		checkCommand(),
		rewriteCommand(),
		verifyCommand(),
		configureCommand(),
		versionCommand(),
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print rroctl's version and the build's",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "rroctl %s\n", version)
			fmt.Fprintf(c.App.Writer, "platform: %s/%s\n", runtime.GOOS, runtime.GOARCH)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(c.App.Writer, "go: %s\nmodule: %s\n", bi.GoVersion, bi.Main.Path)
				for _, d := range bi.Deps {
					// The spec rroctl reads configs and features by.
					if d.Path == "github.com/opencontainers/runtime-spec" {
						fmt.Fprintf(c.App.Writer, "runtime-spec: %s\n", d.Version)
					}
				}
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision", "vcs.time", "vcs.modified", "CGO_ENABLED", "-trimpath":
						fmt.Fprintf(c.App.Writer, "%s: %s\n", s.Key, s.Value)
					}
				}
			}
			return nil
		},
	}
}

// inputError is a usage or input problem: exit status 2.
func inputError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitInput)
}
