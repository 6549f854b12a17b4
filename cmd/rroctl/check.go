package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/rewrite"
)

var (
	runtimeFlag = &cli.StringFlag{
		Name:      "runtime",
		TakesFile: true,
		Usage:     "probe the runtime at `PATH` for rro support instead of the configured one",
	}
	assumeSupportedFlag = &cli.BoolFlag{
		Name:  "assume-supported",
		Usage: "do not probe: assume kernel and runtime can do rro (for configs meant for another host)",
	}
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "show what rro-runc would do to each mount of a bundle, changing nothing",
		ArgsUsage: "BUNDLE|CONFIG.json|- ...",
		Description: "For each bundle directory (its config.json), config file, or - for stdin, prints\n" +
			"every mount: destination, source, options now, options after rro-runc, the\n" +
			"decision (unchanged, rewrite, refuse) and why. It runs rro-runc's own analysis,\n" +
			"under the effective configuration (--policy, --rro-config and the environment as\n" +
			"for rro-runc), and probes kernel and runtime only when a mount needs it, as\n" +
			"rro-runc does. A config already rewritten by rro-runc checks clean.\n\n" +
			"A finding is a read-only recursive bind that would stay read-only at its top\n" +
			"only, its submounts writable: excluded (by the configuration's exclude, an\n" +
			"org.rro-runc.exclude annotation, or because it binds the host's own /dev, /proc,\n" +
			"/sys or /sys/fs/cgroup), under policy Disabled, under IfPossible without\n" +
			"support, or in a container rro-runc would refuse. `check --policy Disabled`\n" +
			"shows what a plain runtime gets.\n\n" +
			"Flags go before the arguments.\n\n" +
			"Exit status: 0 no finding, 1 a finding (so a CI pipeline can fail on it), 2 bad\n" +
			"usage or input (missing file, not JSON, a config runc would reject).",
		Flags:  []cli.Flag{policyFlag, rroConfigFlag, runtimeFlag, assumeSupportedFlag, formatFlag},
		Action: runCheck,
	}
}

// checkReport is `rroctl check --format json`.
type checkReport struct {
	Configs []checkedConfig `json:"configs"`
	OK      bool            `json:"ok"`
}

type checkedConfig struct {
	Path       string         `json:"path"`
	Policy     string         `json:"policy,omitempty"`
	PolicyFrom string         `json:"policyFrom,omitempty"`
	Support    *supportReport `json:"support,omitempty"`
	Mounts     []checkedMount `json:"mounts"`
	// Findings are the destinations that stay read-only at the top only.
	Findings []string `json:"findings"`
	// Refused is rro-runc's error when it would refuse the container.
	Refused string `json:"refused,omitempty"`
	// Error is an input error: the config could not be checked.
	Error string `json:"error,omitempty"`
}

type supportReport struct {
	Supported bool   `json:"supported"`
	Reason    string `json:"reason"`
}

type checkedMount struct {
	rewrite.Decision
	Candidate bool `json:"candidate"`
	Finding   bool `json:"finding"`
}

func runCheck(c *cli.Context) error {
	if c.NArg() == 0 {
		return inputError("check: name at least one bundle directory, config.json or - for stdin")
	}
	asJSON, err := outputFormat(c)
	if err != nil {
		return err
	}
	if err := flagsFirst(c); err != nil {
		return err
	}
	s, err := loadSettings(c, c.String("runtime"))
	if err != nil {
		return err
	}
	support := &supportFor{settings: s, assume: c.Bool("assume-supported")}

	rep := checkReport{OK: true}
	var inputErrs, findings int
	for _, arg := range c.Args().Slice() {
		cc := checkOne(c, arg, s.Options(), support)
		if cc.PolicyFrom == "config" {
			// rewrite says "config" for rro-runc's settings as a whole; the
			// operator wants to know which of them.
			cc.PolicyFrom = string(s.Sources["policy"])
		}
		switch {
		case cc.Error != "":
			inputErrs++
		case cc.Refused != "" || len(cc.Findings) > 0:
			findings++
		}
		rep.Configs = append(rep.Configs, cc)
	}
	rep.OK = inputErrs == 0 && findings == 0
	if asJSON {
		if err := writeJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else {
		for i, cc := range rep.Configs {
			if i > 0 {
				fmt.Fprintln(c.App.Writer)
			}
			printCheck(c.App.Writer, cc)
		}
	}
	switch {
	case inputErrs > 0:
		var msgs []string
		for _, cc := range rep.Configs {
			if cc.Error != "" {
				msgs = append(msgs, cc.Error)
			}
		}
		return inputError("check: %s", strings.Join(msgs, "; "))
	case findings > 0:
		return cli.Exit(fmt.Sprintf("check: %d of %d configs would leave a read-only volume writable below its top", findings, len(rep.Configs)), exitFinding)
	}
	return nil
}

// checkOne runs the wrapper's analysis on one config and never writes.
func checkOne(c *cli.Context, arg string, opts rewrite.Options, support *supportFor) checkedConfig {
	path, data, _, err := readInput(c, arg)
	cc := checkedConfig{Path: path, Mounts: []checkedMount{}, Findings: []string{}}
	if err != nil {
		cc.Error = err.Error()
		return cc
	}
	plan, err := rewrite.Analyze(data, opts)
	switch {
	case errors.Is(err, rewrite.ErrAnnotation):
		// A valid config, but rro-runc would refuse the container for it.
		cc.Refused = fmt.Sprintf("%s: %v", path, err)
		return cc
	case err != nil:
		cc.Error = fmt.Sprintf("%s: %v", path, err)
		return cc
	}
	cc.Policy, cc.PolicyFrom = plan.Policy.String(), plan.PolicyFrom
	var sup rewrite.Support
	if plan.NeedsSupport() {
		if sup, err = support.get(); err != nil {
			cc.Error = fmt.Sprintf("%s: %v", path, err)
			return cc
		}
		cc.Support = &supportReport{Supported: sup.Supported, Reason: sup.Reason}
	}
	res, err := plan.Apply(sup)
	if err != nil {
		if !errors.Is(err, rewrite.ErrRefused) {
			cc.Error = fmt.Sprintf("%s: %v", path, err)
			return cc
		}
		cc.Refused = fmt.Sprintf("%s: %v", path, err)
	}
	for _, d := range res.Mounts {
		m := checkedMount{Decision: d, Candidate: d.Candidate()}
		// An excluded read-only recursive bind is what it is: writable
		// below its top, whatever the reason for leaving it so.
		m.Finding = m.Candidate && d.Action != rewrite.Rewritten || d.ExcludedBy != ""
		if m.Finding {
			cc.Findings = append(cc.Findings, d.Destination)
		}
		cc.Mounts = append(cc.Mounts, m)
	}
	return cc
}

// flagsFirst refuses a flag after the first argument: cli stops parsing
// flags there, so "check config.json --policy Enabled" would otherwise
// check a file named --policy under the wrong policy. A file whose name
// starts with a dash can be named ./-file.
func flagsFirst(c *cli.Context) error {
	for _, a := range c.Args().Slice() {
		if len(a) > 1 && a[0] == '-' {
			return inputError("%s: flag %q after the arguments: put flags before %s", c.Command.Name, a, c.Command.ArgsUsage)
		}
	}
	return nil
}

// readInput reads a bundle directory's config.json, a config file, or
// stdin for "-", through internal/specfile like the wrapper. path is what
// messages call the input.
func readInput(c *cli.Context, arg string) (path string, data []byte, mode os.FileMode, err error) {
	if arg == "-" {
		r := c.App.Reader
		if r == nil {
			r = os.Stdin
		}
		data, err = specfile.ReadFrom(r, "stdin")
		return "stdin", data, 0, err
	}
	path = arg
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		path = filepath.Join(arg, "config.json")
	}
	data, mode, err = specfile.Read(path)
	return path, data, mode, err
}

func printCheck(out io.Writer, cc checkedConfig) {
	fmt.Fprintf(out, "%s\n", printable(cc.Path))
	if cc.Error != "" {
		fmt.Fprintf(out, "  error: %s\n", cc.Error)
		return
	}
	if cc.Policy != "" {
		line := fmt.Sprintf("policy %s (%s)", cc.Policy, cc.PolicyFrom)
		if cc.Support != nil {
			yes := "no"
			if cc.Support.Supported {
				yes = "yes"
			}
			line += fmt.Sprintf("; rro support: %s (%s)", yes, cc.Support.Reason)
		}
		fmt.Fprintln(out, line)
	}
	if len(cc.Mounts) > 0 {
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "DESTINATION\tSOURCE\tOPTIONS NOW\tOPTIONS AFTER\tDECISION\tREASON")
		for _, m := range cc.Mounts {
			decision := m.Action.String()
			if m.Finding {
				decision += " (!)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(m.Destination), cell(m.Source),
				optionList(m.Before), afterList(m.Before, m.After), decision, m.Reason)
		}
		w.Flush()
	}
	switch {
	case cc.Refused != "":
		fmt.Fprintf(out, "result: REFUSED: rro-runc would not start this container: %s\n", cc.Refused)
	case len(cc.Findings) > 0:
		fmt.Fprintf(out, "result: NOT PROTECTED: %s would stay read-only at the top only, with submounts writable\n", strings.Join(quoteAll(cc.Findings), ", "))
	default:
		var made []string
		for _, m := range cc.Mounts {
			if m.Action == rewrite.Rewritten {
				made = append(made, printable(m.Destination))
			}
		}
		if len(made) == 0 {
			fmt.Fprintln(out, "result: ok, no read-only recursive bind needs rro")
		} else {
			fmt.Fprintf(out, "result: ok, rro-runc makes %s recursively read-only\n", strings.Join(made, ", "))
		}
	}
}

func optionList(o []string) string {
	if len(o) == 0 {
		return "-"
	}
	return printable(strings.Join(o, ","))
}

// afterList keeps the table narrow: most mounts do not change.
func afterList(before, after []string) string {
	if slices.Equal(before, after) {
		return "="
	}
	return optionList(after)
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = printable(s)
	}
	return out
}

// printable is how a config value appears in a report: rewrite's rule,
// so the wrapper's messages and rroctl's reports quote alike.
func printable(s string) string { return rewrite.Printable(s) }
