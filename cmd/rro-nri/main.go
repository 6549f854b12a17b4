// Command rro-nri is an NRI plugin that makes read-only recursive bind
// mounts recursively read-only (the mount option "rro") before the runtime
// ever runs: containerd 1.7+/2.x and CRI-O hand it every CRI container at
// creation, and it answers with the mounts to replace. No wrapper sits in
// the runtime's path, no runtime handler or RuntimeClass is needed.
//
// Guarantees:
//   - The decision is the wrapper's: the rewrite package's rules on the
//     container's mounts, internal/policy's settings (the same
//     /etc/rro-runc/config.toml, environment variables and
//     org.rro-runc.* annotations with the same opt-out rule), and probe's
//     kernel and runtime checks with the same cache.
//   - Under policy Enabled a container that cannot get rro is refused: the
//     error goes back through NRI and the CRI caller sees its text. A
//     configuration file that cannot be read refuses every container, as
//     the wrapper does; one that is broken at start-up stops the plugin.
//   - It answers every CreateContainer within 3/4 of containerd's
//     plugin_request_timeout (1.5s of the default 2s), whatever still
//     runs: containerd drops a plugin that misses the deadline and creates
//     the container unadjusted, even with required_plugins. Out of time,
//     Enabled refuses and IfPossible leaves the container as it was. Each
//     probe exec is bounded too (--probe-timeout, default 500ms); a
//     runtime whose `features` hangs counts as unsupported.
//   - On every (re)connection it names, on stderr, the running containers
//     whose read-only volumes lack rro (created while it was not there).
//   - Started by hand or as a DaemonSet it reconnects when the NRI socket
//     goes away (containerd restarting); started by containerd from
//     /opt/nri/plugins it exits instead, and containerd starts it again.
//   - It logs to stderr only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/sirupsen/logrus"

	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/probe"
)

// Defaults for the plugin's identity. containerd's default validator
// knows a plugin both as NAME and as IDX-NAME (required_plugins =
// ["rro-nri"] or ["10-rro-nri"]).
const (
	DefaultName = "rro-nri"
	DefaultIdx  = "10"
)

// EnvCacheDir is the wrapper's variable for the probe cache directory;
// the plugin honours it too, so both share one cache when it is set.
const EnvCacheDir = "RRO_RUNC_CACHE_DIR"

func chroot(dir string) error {
	if err := syscall.Chroot(dir); err != nil {
		return err
	}
	return os.Chdir("/")
}

type handlerRuntimes map[string]string

func (h handlerRuntimes) String() string {
	var s []string
	for k, v := range h {
		s = append(s, k+"="+v)
	}
	return strings.Join(s, ",")
}

func (h handlerRuntimes) Set(v string) error {
	name, bin, ok := strings.Cut(v, "=")
	if !ok || name == "" || bin == "" {
		return fmt.Errorf("want HANDLER=RUNTIME, got %q", v)
	}
	h[name] = bin
	return nil
}

type config struct {
	socket, name, idx      string
	policyFile, policyName string
	runtime                string
	handlers               handlerRuntimes
	cacheDir               string
	hostRoot               string
	probeTimeout           time.Duration
	reconnect              time.Duration
}

func parseFlags(args []string, usage io.Writer) (*config, error) {
	c := &config{handlers: handlerRuntimes{}}
	fs := flag.NewFlagSet("rro-nri", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.socket, "nri-socket", api.DefaultSocketPath, "NRI socket to connect to (ignored when containerd started the plugin itself)")
	fs.StringVar(&c.name, "name", "", "plugin name (default "+DefaultName+", or $"+api.PluginNameEnvVar+" when containerd started the plugin)")
	fs.StringVar(&c.idx, "idx", "", "plugin index, two digits, orders plugins (default "+DefaultIdx+", or $"+api.PluginIdxEnvVar+")")
	fs.StringVar(&c.policyFile, "config", "", "rro-runc configuration file (default $"+policy.EnvConfig+", else "+policy.DefaultFile+")")
	fs.StringVar(&c.policyName, "policy", "", "override the policy: Enabled, IfPossible or Disabled")
	fs.StringVar(&c.runtime, "runtime", "", "runtime binary whose rro support is probed for pods on the default handler (default: runtime from the configuration, else runc, else crun in PATH)")
	fs.Var(c.handlers, "handler-runtime", "HANDLER=RUNTIME: probe RUNTIME for pods on CRI runtime handler HANDLER (repeatable)")
	fs.StringVar(&c.cacheDir, "cache-dir", os.Getenv(EnvCacheDir), "probe cache directory (default $"+EnvCacheDir+", else "+probe.DefaultCacheDir+")")
	fs.StringVar(&c.hostRoot, "host-root", "", "chroot here first (a DaemonSet mounts the node's / at /host): socket, configuration, runtime and probe cache are then the node's own")
	fs.DurationVar(&c.probeTimeout, "probe-timeout", 500*time.Millisecond, "bound on each runtime probe exec; keep it below containerd's plugin_request_timeout")
	fs.DurationVar(&c.reconnect, "reconnect-interval", time.Second, "wait between attempts to reach the NRI socket")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.probeTimeout <= 0 || c.reconnect <= 0 {
		return nil, errors.New("--probe-timeout and --reconnect-interval must be positive")
	}
	return c, nil
}

func main() {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "rro-nri:", err)
		os.Exit(2)
	}
	if cfg.hostRoot != "" {
		// Everything the plugin touches is the node's: the NRI socket,
		// /etc/rro-runc/config.toml, the runtime binary it probes (and
		// the libraries it links), the probe cache the wrapper shares.
		// One chroot makes every default path right inside a container.
		if err := chroot(cfg.hostRoot); err != nil {
			fmt.Fprintf(os.Stderr, "rro-nri: --host-root %s: %v\n", cfg.hostRoot, err)
			os.Exit(1)
		}
	}
	p, err := newPlugin(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rro-nri:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, p, log); err != nil {
		fmt.Fprintln(os.Stderr, "rro-nri:", err)
		os.Exit(1)
	}
}

// run connects to NRI and serves until ctx ends, reconnecting when the
// connection drops. containerd restarting closes the socket; the plugin
// must come back by itself or containers go unprotected (or, with
// required_plugins, are refused) until someone restarts it.
func run(ctx context.Context, cfg *config, p *plugin, log *logrus.Logger) error {
	preconnected := os.Getenv(api.PluginSocketEnvVar) != ""
	var opts []stub.Option
	if !preconnected {
		opts = append(opts, stub.WithSocketPath(cfg.socket))
	}
	name, idx := cfg.name, cfg.idx
	if name == "" && os.Getenv(api.PluginNameEnvVar) == "" {
		name = DefaultName
	}
	if idx == "" && os.Getenv(api.PluginIdxEnvVar) == "" {
		idx = DefaultIdx
	}
	if name != "" {
		opts = append(opts, stub.WithPluginName(name))
	}
	if idx != "" {
		opts = append(opts, stub.WithPluginIdx(idx))
	}
	failing := false
	for {
		s, err := stub.New(p, opts...)
		if err != nil {
			return err // a bad name or index: retrying cannot help
		}
		p.stub.Store(&s)
		before := p.connects.Load()
		err = s.Run(ctx)
		connected := p.connects.Load() != before
		if ctx.Err() != nil {
			return nil
		}
		if preconnected {
			// containerd gave us one connected socket; it starts the
			// plugin again itself when it restarts.
			return fmt.Errorf("connection to NRI lost: %v", err)
		}
		// One line per outage, not one per attempt.
		if connected || !failing {
			log.Warnf("rro-nri: NRI connection on %s ended (%v); reconnecting every %s", cfg.socket, err, cfg.reconnect)
		}
		failing = !connected
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.reconnect):
		}
	}
}
