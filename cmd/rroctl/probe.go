package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/launch"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/probe"
	"github.com/rro-runc/rro-runc/rewrite"
)

// Flags every command that evaluates the settings shares. They have the
// wrapper's meaning; the environment is read by policy.Load, not by cli,
// so that the report can tell a flag from the environment.
var (
	rroConfigFlag = &cli.StringFlag{
		Name:      "rro-config",
		TakesFile: true,
		Usage:     "rro-runc's configuration `FILE` (default: $" + policy.EnvConfig + ", else " + policy.DefaultFile + ")",
	}
	policyFlag = &cli.StringFlag{
		Name:  "policy",
		Usage: "evaluate under `POLICY` Enabled, IfPossible or Disabled instead of the configured one ($" + policy.EnvPolicy + ", the file, IfPossible)",
	}
	formatFlag = &cli.StringFlag{
		Name:  "format",
		Value: "text",
		Usage: "output `FORMAT`: text or json",
	}
)

// outputFormat reads --format; anything but text or json is a usage error.
func outputFormat(c *cli.Context) (json bool, err error) {
	switch f := c.String("format"); f {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, inputError("%s: --format %q: want text or json", c.Command.Name, f)
	}
}

// loadSettings computes the settings exactly as the wrapper does, with
// rroctl's flags in place of the wrapper's --rro-* flags.
func loadSettings(c *cli.Context, runtime string) (*policy.Settings, error) {
	s, err := policy.Load(policy.Overrides{
		Policy:  c.String("policy"),
		Runtime: runtime,
		Config:  c.String("rro-config"),
	}, os.Getenv)
	if err != nil {
		return nil, inputError("%s: %v", c.Command.Name, err)
	}
	return s, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:  "probe",
		Usage: "report whether this node can make read-only mounts recursively read-only",
		Description: "Reports the kernel (release, whether mount_setattr(2) is usable and how that was\n" +
			"found), each runtime (path, version, whether `features` works, whether it\n" +
			"implements rro, what decided it, and whether the answer came from rro-runc's\n" +
			"cache or was probed now) and the effective configuration with where each value\n" +
			"came from (flag, env, file, default). The probe is rro-runc's own, and answers\n" +
			"are read from and written to its cache: $" + probe.EnvCacheDir + ", else " + probe.DefaultCacheDir + "\n" +
			"for root, $XDG_RUNTIME_DIR/rro-runc or $TMPDIR/rro-runc-UID for other users.\n\n" +
			"Without --runtime the configured runtime is probed. With --runtime the first one\n" +
			"stands in for the configured runtime, as rro-runc's --rro-runtime does, and every\n" +
			"one given is probed.\n\n" +
			"Exit status: 0 when the policy can be honoured with every runtime probed (always\n" +
			"so for IfPossible and Disabled), 1 when the policy is Enabled and the kernel or a\n" +
			"runtime cannot do rro, 2 for bad usage, a bad configuration file or a runtime\n" +
			"that cannot be run.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "runtime", TakesFile: true, Usage: "probe the runtime at `PATH` (or a name in PATH); repeat for more"},
			rroConfigFlag, policyFlag, formatFlag,
		},
		Action: runProbe,
	}
}

// probeReport is `rroctl probe --format json`.
type probeReport struct {
	Kernel   probe.Kernel   `json:"kernel"`
	Runtimes []probeRuntime `json:"runtimes"`
	Settings settingsReport `json:"settings"`
	// OK is the exit status's answer: the policy can be honoured.
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
}

type probeRuntime struct {
	Path        string `json:"path"`
	Configured  bool   `json:"configured"`
	Name        string `json:"name,omitempty"`
	Version     string `json:"version,omitempty"`
	HasFeatures bool   `json:"hasFeatures"`
	RRO         bool   `json:"rro"`
	Method      string `json:"method,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Cache is "hit" (answered from rro-runc's cache), "fresh" (probed now
	// and cached) or "never" (probed now, and on every create: the runtime
	// is not an ELF executable, see CacheNote).
	Cache     string `json:"cache,omitempty"`
	CacheNote string `json:"cacheNote,omitempty"`
	// Supported is kernel and runtime together: what the wrapper acts on.
	Supported     bool   `json:"supported"`
	SupportReason string `json:"supportReason"`
	// Error: the runtime could not be found or run.
	Error string `json:"error,omitempty"`
}

type setting struct {
	Value  any           `json:"value"`
	Source policy.Source `json:"source"`
}

type settingsReport struct {
	File                  setting `json:"file"`
	FileFound             bool    `json:"fileFound"`
	Policy                setting `json:"policy"`
	Runtime               setting `json:"runtime"`
	Exclude               setting `json:"exclude"`
	Propagation           setting `json:"propagation"`
	AllowAnnotationOptOut setting `json:"allowAnnotationOptOut"`
}

func reportSettings(s *policy.Settings) settingsReport {
	runtime := s.Runtime
	if runtime == "" {
		runtime = "first runc, then crun, in PATH"
	}
	return settingsReport{
		File:                  setting{s.File, s.Sources["file"]},
		FileFound:             s.FileFound,
		Policy:                setting{s.Policy.String(), s.Sources["policy"]},
		Runtime:               setting{runtime, s.Sources["runtime"]},
		Exclude:               setting{append([]string{}, s.Exclude...), s.Sources["exclude"]},
		Propagation:           setting{s.Propagation.String(), s.Sources["propagation"]},
		AllowAnnotationOptOut: setting{s.AllowAnnotationOptOut, s.Sources["allow_annotation_opt_out"]},
	}
}

func runProbe(c *cli.Context) error {
	if c.NArg() > 0 {
		return inputError("probe: unexpected argument %q (runtimes go in --runtime)", c.Args().First())
	}
	asJSON, err := outputFormat(c)
	if err != nil {
		return err
	}
	names := c.StringSlice("runtime")
	var first string
	if len(names) > 0 {
		first = names[0]
	}
	s, err := loadSettings(c, first)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = []string{s.Runtime}
	}

	k := probe.ProbeKernel()
	rep := probeReport{
		Kernel:   k,
		Settings: reportSettings(s),
	}
	prober := &probe.Prober{}
	var broken []string
	for i, name := range names {
		pr := probeOne(prober, k, name)
		pr.Configured = i == 0
		if pr.Error != "" {
			broken = append(broken, pr.Error)
		}
		rep.Runtimes = append(rep.Runtimes, pr)
	}
	rep.OK, rep.Verdict = verdict(s.Policy, k, rep.Runtimes)

	if asJSON {
		if err := writeJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else {
		printProbe(c.App.Writer, rep)
	}
	switch {
	case len(broken) > 0:
		return inputError("probe: %s", strings.Join(broken, "; "))
	case !rep.OK:
		return cli.Exit("probe: "+rep.Verdict, exitFinding)
	}
	return nil
}

// probeOne resolves name as the wrapper does (launch.Resolve) and probes
// it with the wrapper's prober and cache.
func probeOne(prober *probe.Prober, k probe.Kernel, name string) probeRuntime {
	path, err := launch.Resolve(name)
	if err != nil {
		shown := name
		if shown == "" {
			shown = "(runc or crun from PATH)"
		}
		return probeRuntime{Path: shown, Error: err.Error(), SupportReason: err.Error()}
	}
	rt, err := prober.Runtime(path)
	if err != nil {
		return probeRuntime{Path: path, Error: err.Error(), SupportReason: err.Error()}
	}
	ok, reason := probe.Support(k, rt)
	cache := "fresh"
	switch {
	case rt.Cached:
		cache = "hit"
	case rt.NotCacheable != "":
		cache = "never"
	}
	return probeRuntime{
		Path: rt.Path, Name: rt.Name, Version: rt.Version, HasFeatures: rt.HasFeatures,
		RRO: rt.RRO, Method: rt.Method, Reason: rt.Reason, Cache: cache, CacheNote: rt.NotCacheable,
		Supported: ok, SupportReason: reason,
	}
}

// verdict says what the wrapper would do under p with these runtimes: the
// same three-way split as rewrite.Plan.Apply.
func verdict(p rewrite.Policy, k probe.Kernel, rts []probeRuntime) (bool, string) {
	if p == rewrite.Disabled {
		return true, "policy Disabled: rro-runc leaves every mount as the client wrote it"
	}
	var missing []string
	for _, rt := range rts {
		if rt.Error != "" {
			return false, "rro-runc cannot run runtime " + rt.Path + ": every container it creates will fail: " + rt.Error
		}
		if !rt.Supported {
			missing = append(missing, rt.SupportReason)
		}
	}
	switch {
	case len(missing) == 0:
		return true, fmt.Sprintf("policy %s: read-only recursive binds will be made rro", p)
	case p == rewrite.IfPossible:
		return true, fmt.Sprintf("policy IfPossible: read-only recursive binds stay read-only at the top only, because %s", strings.Join(missing, "; "))
	default:
		return false, fmt.Sprintf("policy Enabled cannot be honoured: containers with a read-only recursive bind will be refused, because %s", strings.Join(missing, "; "))
	}
}

func printProbe(out io.Writer, rep probeReport) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(w, "kernel\n")
	fmt.Fprintf(w, "  release:\t%s\n", rep.Kernel.Release)
	fmt.Fprintf(w, "  mount_setattr:\t%s: %s\n", yes(rep.Kernel.MountSetattr), rep.Kernel.Method)
	for _, rt := range rep.Runtimes {
		role := ""
		if rt.Configured {
			role = " (the runtime rro-runc execs)"
		}
		fmt.Fprintf(w, "\nruntime %s%s\n", rt.Path, role)
		if rt.Error != "" {
			fmt.Fprintf(w, "  error:\t%s\n", rt.Error)
			continue
		}
		version := strings.TrimSpace(rt.Name + " " + rt.Version)
		if version == "" {
			version = "unknown"
		}
		fmt.Fprintf(w, "  version:\t%s\n", version)
		fmt.Fprintf(w, "  features command:\t%s\n", yes(rt.HasFeatures))
		fmt.Fprintf(w, "  rro:\t%s, decided by %s: %s\n", yes(rt.RRO), rt.Method, rt.Reason)
		cache := "probed now"
		switch rt.Cache {
		case "hit":
			cache = "from rro-runc's cache"
		case "never":
			cache = "probed now; never cached: " + rt.CacheNote
		}
		fmt.Fprintf(w, "  answer:\t%s\n", cache)
		fmt.Fprintf(w, "  supported:\t%s\n", yes(rt.Supported))
	}
	st := rep.Settings
	file := fmt.Sprintf("%s (%s)", st.File.Value, st.File.Source)
	if !st.FileFound {
		file += ", not found: defaults apply"
	}
	fmt.Fprintf(w, "\nconfiguration\n")
	fmt.Fprintf(w, "  file:\t%s\n", file)
	for _, kv := range []struct {
		key string
		s   setting
	}{
		{"policy", st.Policy},
		{"runtime", st.Runtime},
		{"exclude", st.Exclude},
		{"propagation", st.Propagation},
		{"allow_annotation_opt_out", st.AllowAnnotationOptOut},
	} {
		v := kv.s.Value
		if list, ok := v.([]string); ok {
			v = strings.Join(list, ", ")
		}
		fmt.Fprintf(w, "  %s:\t%v (%s)\n", kv.key, v, kv.s.Source)
	}
	w.Flush()
	fmt.Fprintf(out, "\n%s\n", rep.Verdict)
}

// supportFor is what the wrapper would learn from its probe about the
// configured runtime, memoised for commands that look at several configs.
type supportFor struct {
	settings *policy.Settings
	assume   bool
	done     bool
	support  rewrite.Support
	err      error
}

// get probes like cmd/rro-runc: the runtime is resolved with
// launch.Resolve (a failure there is one the wrapper would also stop on,
// so it is an input error here), and a runtime that cannot be run is an
// answer of "unsupported" with the probe's reason.
func (sf *supportFor) get() (rewrite.Support, error) {
	if sf.done {
		return sf.support, sf.err
	}
	sf.done = true
	if sf.assume {
		sf.support = rewrite.Support{Supported: true, Reason: "assumed supported (--assume-supported)"}
		return sf.support, nil
	}
	path, err := launch.Resolve(sf.settings.Runtime)
	if err != nil {
		sf.err = fmt.Errorf("cannot probe the runtime for rro support (use --assume-supported for another host): %w", err)
		return sf.support, sf.err
	}
	sf.support.Supported, sf.support.Reason = probe.Check(path)
	return sf.support, nil
}
