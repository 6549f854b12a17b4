package main

import (
	"fmt"

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
	if s.Policy == rewrite.Disabled {
		return nil // the administrator's off switch: no read, no probe, no write
	}
	path := inv.ConfigPath()
	data, mode, err := specfile.Read(path)
	if err != nil {
		return err
	}
	plan, err := rewrite.Analyze(data, s.Options())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var support rewrite.Support
	if plan.NeedsSupport() {
		support.Supported, support.Reason = probe.Check(runtime)
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
