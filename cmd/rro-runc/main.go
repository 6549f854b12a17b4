// Command rro-runc is a drop-in, runc-compatible OCI runtime that makes
// read-only recursive bind mounts recursively read-only (rro) and then
// execs the real runtime with the same arguments.
//
// The stages, one package each: argv (what was asked) → policy (what the
// administrator wants) → probe (what kernel and runtime can do) → rewrite
// (the new config.json) → launch (exec the real runtime). Only create, run
// and restore go past argv; every other command is a scan and an exec.
package main

import (
	"os"

	"github.com/rro-runc/rro-runc/internal/argv"
	"github.com/rro-runc/rro-runc/internal/errlog"
	"github.com/rro-runc/rro-runc/internal/launch"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/rewrite"
)

func main() {
	inv, err := argv.Parse(os.Args[1:])
	if err != nil {
		// The log flags may not have been read; stderr is all we have.
		fail(nil, err)
	}
	if err := launch.CheckLoop(os.Getenv); err != nil {
		fail(inv, err)
	}
	overrides := policy.Overrides{Policy: inv.Policy, Runtime: inv.Runtime, Config: inv.Config}

	if !inv.Rewrites() {
		// Pass-through: no config parse beyond the runtime's name, no
		// probe, no write. A broken file must not block state or delete.
		// This includes create, run and restore lines the runtime answers
		// itself (help, a missing container ID): argv decides that.
		execRuntime(inv, policy.RuntimeName(overrides, os.Getenv))
	}
	settings, err := policy.Load(overrides, os.Getenv)
	if err != nil {
		fail(inv, err)
	}
	// runc and crun read a few spellings (-b=DIR) as different bundles;
	// only one of them can hold a config file for the runtime to use.
	// Disabled reads no config.json, so it has nothing to choose.
	if settings.Policy != rewrite.Disabled {
		if err := inv.Choose(configExists); err != nil {
			fail(inv, err)
		}
	}
	runtime, err := launch.Resolve(settings.Runtime)
	if err != nil {
		fail(inv, err)
	}
	if err := rewriteBundle(inv, settings, runtime); err != nil {
		fail(inv, err)
	}
	exec(inv, runtime)
}

func configExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func execRuntime(inv *argv.Invocation, name string) {
	runtime, err := launch.Resolve(name)
	if err != nil {
		fail(inv, err)
	}
	exec(inv, runtime)
}

func exec(inv *argv.Invocation, runtime string) {
	fail(inv, launch.Exec(runtime, inv.Args, os.Environ()))
}

// fail reports rro-runc's own failure the way the caller of a runtime
// reads it, and exits 1 without running the runtime.
func fail(inv *argv.Invocation, err error) {
	var logTarget, format string
	if inv != nil {
		logTarget, format = inv.Log, inv.LogFormat
	}
	errlog.Report(logTarget, format, "rro-runc: "+err.Error())
	os.Exit(1)
}
