package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/rewrite"
)

func rewriteCommand() *cli.Command {
	return &cli.Command{
		Name:      "rewrite",
		Usage:     "make a config's read-only recursive binds rro, offline, as rro-runc would",
		ArgsUsage: "CONFIG.json|BUNDLE|-",
		Description: "Runs rro-runc's lossless rewrite on one config (a file, a bundle directory's\n" +
			"config.json, or - for stdin) and prints the new config on stdout, or with\n" +
			"--in-place replaces the file atomically (same mode and owner; a crash leaves\n" +
			"the old file or the new one). Only the options of rewritten mounts and the\n" +
			"org.rro-runc.applied annotation change; every other byte stays. What was done\n" +
			"goes to stderr.\n\n" +
			"Support is probed on this host as rro-runc would (kernel and runtime) when a\n" +
			"mount needs it; --assume-supported is for configs run on another host.\n\n" +
			"Flags go before the arguments.\n\n" +
			"Exit status: 0 rewritten or nothing to do (including IfPossible without\n" +
			"support: the config is then printed unchanged), 1 rro-runc would refuse the\n" +
			"container (policy Enabled without support, strict propagation, a refused\n" +
			"annotation; nothing is printed or written), 2 bad usage or input.",
		Flags: []cli.Flag{
			policyFlag, rroConfigFlag, runtimeFlag, assumeSupportedFlag,
			&cli.BoolFlag{Name: "in-place", Aliases: []string{"i"}, Usage: "replace the file instead of printing the result"},
		},
		Action: runRewrite,
	}
}

func runRewrite(c *cli.Context) error {
	if err := flagsFirst(c); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return inputError("rewrite: name exactly one config.json, bundle directory or - for stdin (got %d arguments)", c.NArg())
	}
	arg := c.Args().First()
	inPlace := c.Bool("in-place")
	if inPlace && arg == "-" {
		return inputError("rewrite: --in-place needs a file, not stdin")
	}
	s, err := loadSettings(c, c.String("runtime"))
	if err != nil {
		return err
	}
	path, data, mode, err := readInput(c, arg)
	if err != nil {
		return inputError("rewrite: %v", err)
	}
	plan, err := rewrite.Analyze(data, s.Options())
	if err != nil {
		return refusedOrInput(path, err)
	}
	var sup rewrite.Support
	if plan.NeedsSupport() {
		if sup, err = (&supportFor{settings: s, assume: c.Bool("assume-supported")}).get(); err != nil {
			return inputError("rewrite: %s: %v", path, err)
		}
	}
	res, err := plan.Apply(sup)
	if err != nil {
		return refusedOrInput(path, err)
	}
	if inPlace {
		if res.Changed {
			if err := specfile.Replace(path, res.Config, mode); err != nil {
				return inputError("rewrite: %s left unchanged: %v", path, err)
			}
		}
	} else if _, err := c.App.Writer.Write(res.Config); err != nil {
		return inputError("rewrite: writing the result: %v", err)
	}
	fmt.Fprintln(c.App.ErrWriter, rewriteSummary(path, res))
	return nil
}

// refusedOrInput maps rewrite's errors to exit statuses: a container
// rro-runc would refuse is a finding, a config it cannot read is input.
func refusedOrInput(path string, err error) error {
	if errors.Is(err, rewrite.ErrRefused) || errors.Is(err, rewrite.ErrAnnotation) {
		return cli.Exit(fmt.Sprintf("rewrite: %s: %v; nothing written", path, err), exitFinding)
	}
	return inputError("rewrite: %s: %v", path, err)
}

func rewriteSummary(path string, res *rewrite.Result) string {
	var made, left []string
	for _, d := range res.Mounts {
		switch {
		case d.Action == rewrite.Rewritten:
			made = append(made, fmt.Sprintf("%s (%s)", printable(d.Destination), d.Reason))
		case d.Candidate(), d.ExcludedBy != "":
			left = append(left, fmt.Sprintf("%s (%s)", printable(d.Destination), d.Reason))
		}
	}
	var parts []string
	if len(made) > 0 {
		parts = append(parts, "made rro: "+strings.Join(made, ", "))
	}
	if len(left) > 0 {
		parts = append(parts, "left read-only at the top only: "+strings.Join(left, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "no read-only recursive bind needs rro; unchanged")
	}
	return fmt.Sprintf("rroctl rewrite: %s: policy %s: %s", path, res.Policy, strings.Join(parts, "; "))
}
