package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/rro-runc/rro-runc/internal/argv"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/probe"
	"github.com/rro-runc/rro-runc/rewrite"
)

// rewriteBundle makes the bundle's read-only recursive binds rro, as far as
// the settings ask and the kernel and runtime allow. It returns an error
// when the container must not start; config.json is then untouched.
func rewriteBundle(inv *argv.Invocation, s *policy.Settings, runtime string) error {
	path := inv.ConfigPath()
	data, mode, err := specfile.Read(path)
	if s.Policy == rewrite.Disabled {
		// The administrator's off switch: no probe, and no write unless
		// the config carries an annotation only rro-runc may write (a
		// forged org.rro-runc.applied would claim protection the
		// container does not have). A file rro-runc cannot read, it
		// passes through: the runtime reports what is wrong with it.
		if err != nil || !mayCarryOwned(data) {
			return nil
		}
	} else if err != nil {
		return err
	}
	plan, err := rewrite.Analyze(data, s.Options())
	if err != nil {
		if s.Policy == rewrite.Disabled && !carriesOwned(data) {
			return nil // nothing of rro-runc's for the runtime to show
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	var support rewrite.Support
	if plan.NeedsSupport() {
		support = probeSupport(runtime)
	}
	result, err := plan.Apply(support)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !result.Changed {
		return nil
	}
	if err := specfile.Replace(path, result.Config, mode); err != nil {
		return fmt.Errorf("policy %s: cannot write the rewritten %s, refusing to start the container without rro: %w", result.Policy, path, err)
	}
	return nil
}

// mayCarryOwned reports whether config could hold one of rro-runc's own
// annotations: its key spelled out, or any \u escape that could spell it.
// A quick look, so that Disabled parses nothing in the usual case.
func mayCarryOwned(config []byte) bool {
	return bytes.Contains(config, []byte("org.rro-runc.")) || bytes.Contains(config, []byte(`\u`))
}

// carriesOwned reports whether the runtime, decoding config, would see
// one of rro-runc's own annotations. Used only when rro-runc cannot edit
// the config: under Disabled, such a config is refused rather than let
// through with a record rro-runc did not write.
func carriesOwned(config []byte) bool {
	var c struct{ Annotations map[string]string }
	if json.Unmarshal(config, &c) != nil {
		return false // the runtime cannot read it either
	}
	for k := range rewrite.OwnedAnnotations() {
		if _, ok := c.Annotations[k]; ok {
			return true
		}
	}
	return false
}

// EnvCacheDir moves the probe cache away from probe.DefaultCacheDir, so
// tests (and nodes whose /run is small or read-only) can give rro-runc its
// own directory. Empty means the default.
const EnvCacheDir = "RRO_RUNC_CACHE_DIR"

func probeSupport(runtime string) rewrite.Support {
	kernel := probe.ProbeKernel()
	rt, err := (&probe.Prober{CacheDir: os.Getenv(EnvCacheDir)}).Runtime(runtime)
	if err != nil {
		return rewrite.Support{Reason: err.Error()}
	}
	ok, reason := probe.Support(kernel, rt)
	return rewrite.Support{Supported: ok, Reason: reason}
}
