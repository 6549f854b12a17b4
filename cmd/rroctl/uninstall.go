package main

// rroctl uninstall: undo what rroctl install recorded, and only that.
//
// Guarantees:
//   - The engine's configuration comes back byte for byte (comments and
//     all) when it is still exactly what install wrote; a file someone
//     changed since is never overwritten with the old bytes: only the
//     runtime install added is taken out of it (configure.Remove, the
//     inverse of the edit), and a runtime of that name that is no longer
//     what install wrote is left, with an error.
//   - A binary is removed only when it is still the build install put
//     there; config.toml only when install wrote it, and when it has
//     changed since, only with --purge;
//     directories only when install created them and they are empty.
//   - Checked first, rolled back on failure, as install.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/configure"
	"github.com/rro-runc/rro-runc/internal/specfile"
)

func uninstallCommand() *cli.Command {
	return &cli.Command{
		Name:  "uninstall",
		Usage: "undo rroctl install: the engine's runtime handler, the binaries, config.toml when install wrote it and nobody changed it since",
		Description: "Reads HOST-ROOT" + stateFile + " and undoes what install did. The engine's\n" +
			"configuration is restored byte for byte when nobody changed it since, else only the\n" +
			"runtime install added is taken out (refused if it was changed by hand). Binaries are\n" +
			"removed when no engine is left configured and they are still the installed build.\n" +
			"Without --engine every engine install configured is undone. Nothing install did\n" +
			"not do is removed. A failure leaves the host as it was.",
		Flags:  installFlags(false),
		Action: runUninstall,
	}
}

func runUninstall(c *cli.Context) error {
	h, err := parseHostOptions(c, "uninstall", false)
	if err != nil {
		return err
	}
	out := c.App.Writer
	st, err := loadState(h)
	if err != nil {
		return cli.Exit("uninstall: "+err.Error(), exitFinding)
	}
	if st == nil {
		fmt.Fprintf(out, "host root %s\nno change: nothing installed by rroctl install (no %s)\n", h.root, stateFile)
		return waitIfAsked(c, h)
	}
	var engines []configure.Target
	if h.engine != "" {
		if rec := st.Engines[h.engine]; rec == nil {
			fmt.Fprintf(out, "host root %s\nno change: rroctl install did not configure %s\n", h.root, h.engine)
			return waitIfAsked(c, h)
		} else if c.IsSet("config") && rec.Path != h.config {
			return inputError("uninstall: install configured %s in %s, not %s", h.engine, rec.Path, h.config)
		}
		engines = []configure.Target{h.engine}
	} else {
		for _, t := range configure.Targets {
			if st.Engines[t] != nil {
				engines = append(engines, t)
			}
		}
	}

	// 1. Plan, reading only.
	type engineStep struct {
		t       configure.Target
		rec     *engineRecord
		restore []byte // nil: remove the file (install created it)
		do      bool
		edited  bool // restore is cur without the runtime, not Before
		note    string
	}
	var steps []*engineStep
	for _, t := range engines {
		rec := st.Engines[t]
		s := &engineStep{t: t, rec: rec}
		steps = append(steps, s)
		cur, err := readRegular(h.on(rec.Path))
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return cli.Exit(fmt.Sprintf("uninstall: %s configuration: %v (nothing changed)", t, err), exitFinding)
		}
		switch {
		case !rec.Added:
			s.note = fmt.Sprintf("unchanged %s (runtime %q was configured before install: kept)", rec.Path, rec.RuntimeName)
		case !exists && rec.Created:
			s.note = fmt.Sprintf("unchanged %s (already gone)", rec.Path)
		case exists && rec.Restorable && bytes.Equal(cur, rec.After):
			s.do = true
			if !rec.Created {
				s.restore = rec.Before
			}
		case exists && !rec.Created && bytes.Equal(cur, rec.Before):
			s.note = fmt.Sprintf("unchanged %s (already as before install)", rec.Path)
		case !exists:
			s.note = fmt.Sprintf("unchanged %s (gone since install)", rec.Path)
		default:
			// Someone changed the file since install: the old bytes
			// would lose their change, so only the handler goes, by
			// configure's inverse of the edit install made.
			o := configure.Options{RuntimeName: rec.RuntimeName, Binary: filepath.Join(st.Prefix, "bin", "rro-runc")}
			out, err := configure.Remove(t, rec.Path, cur, o)
			switch {
			case errors.Is(err, configure.ErrNotOurs):
				return cli.Exit(fmt.Sprintf("uninstall: %v: runtime %q there is no longer what rroctl install wrote; "+
					"remove it by hand and run uninstall again (nothing changed)", err, rec.RuntimeName), exitFinding)
			case err != nil:
				return cli.Exit(fmt.Sprintf("uninstall: %v (nothing changed)", err), exitFinding)
			case bytes.Equal(out, cur):
				s.note = fmt.Sprintf("unchanged %s (runtime %q already gone)", rec.Path, rec.RuntimeName)
			default:
				s.do, s.restore, s.edited = true, out, true
			}
		}
	}

	remaining := 0
	for t := range st.Engines {
		if !slices.Contains(engines, t) {
			remaining++
		}
	}
	type fileStep struct{ host, note string }
	var removeBins []fileStep
	var notes []string
	purge := c.Bool("purge")
	if remaining == 0 {
		for _, b := range st.Binaries {
			cur, err := readRegular(h.on(b.Path))
			switch {
			case b.Adopted:
				notes = append(notes, fmt.Sprintf("kept %s (not installed by rroctl install)", b.Path))
			case errors.Is(err, fs.ErrNotExist):
				notes = append(notes, fmt.Sprintf("unchanged %s (already gone)", b.Path))
			case err != nil:
				return cli.Exit(fmt.Sprintf("uninstall: %v (nothing changed)", err), exitFinding)
			case sha256Hex(cur) != b.SHA256:
				notes = append(notes, fmt.Sprintf("kept %s (replaced since install: not the build rroctl installed)", b.Path))
			default:
				removeBins = append(removeBins, fileStep{host: b.Path})
			}
		}
		if st.RroConfig != nil {
			// Unchanged since install, the file holds nothing of the
			// administrator's: removing it is what "the node as it was"
			// means. Edited, it is theirs unless they ask with --purge.
			cur, err := readRegular(h.on(st.RroConfig.Path))
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err == nil && sha256Hex(cur) == st.RroConfig.SHA256:
				removeBins = append(removeBins, fileStep{host: st.RroConfig.Path, note: "as install wrote it"})
			case purge:
				removeBins = append(removeBins, fileStep{host: st.RroConfig.Path, note: "purged"})
			default:
				notes = append(notes, fmt.Sprintf("kept %s (changed since install; --purge removes it)", st.RroConfig.Path))
			}
		}
	} else {
		notes = append(notes, fmt.Sprintf("kept the binaries: %d other engine(s) still configured by rroctl install", remaining))
	}

	// 2. Check writability of everything to be touched.
	dirs := []string{filepath.Dir(stateFile)}
	for _, s := range steps {
		if s.do {
			dirs = append(dirs, filepath.Dir(s.rec.Path))
		}
	}
	for _, f := range removeBins {
		dirs = append(dirs, filepath.Dir(f.host))
	}
	if err := checkWritable(h, dirs...); err != nil {
		return cli.Exit(fmt.Sprintf("uninstall: %v (nothing changed)", err), exitFinding)
	}

	// 3. Do it, undoing everything on the first failure.
	x := &txn{root: h.root}
	var removedDirs []string
	err = x.run("uninstall", func() error {
		for _, s := range steps {
			if !s.do {
				continue
			}
			var err error
			if s.restore == nil {
				err = x.remove(s.rec.Path)
			} else {
				err = x.replace(s.rec.Path, s.restore, 0o644)
			}
			if err != nil {
				return err
			}
		}
		for _, f := range removeBins {
			if err := x.remove(f.host); err != nil {
				return err
			}
		}
		for _, t := range engines {
			delete(st.Engines, t)
		}
		if remaining == 0 {
			return x.remove(stateFile)
		}
		data, err := st.encode()
		if err != nil {
			return err
		}
		return x.replace(stateFile, data, 0o644)
	})
	if err != nil {
		return err
	}
	// Directories install created and that are empty now (say
	// /etc/docker after its daemon.json went) go too.
	removedDirs = removeEmptyDirs(h.root, st.CreatedDirs)
	if remaining > 0 && len(removedDirs) > 0 {
		st.CreatedDirs = slices.DeleteFunc(st.CreatedDirs, func(d string) bool { return slices.Contains(removedDirs, d) })
		if data, err := st.encode(); err == nil {
			// Best effort: a stale entry only names a directory that a
			// later uninstall finds missing.
			_ = specfile.Replace(h.on(stateFile), data, 0o644)
		}
	}

	// 4. Report.
	fmt.Fprintf(out, "host root %s\n", h.root)
	for _, s := range steps {
		switch {
		case s.do && s.restore == nil:
			fmt.Fprintf(out, "removed %s (install created it)\n", s.rec.Path)
		case s.do && s.edited:
			fmt.Fprintf(out, "removed runtime %q from %s (changed since install: the rest of it kept as it is now)\n", s.rec.RuntimeName, s.rec.Path)
		case s.do:
			fmt.Fprintf(out, "restored %s as it was before install (runtime %q removed)\n", s.rec.Path, s.rec.RuntimeName)
		default:
			fmt.Fprintln(out, s.note)
		}
	}
	for _, f := range removeBins {
		if f.note != "" {
			fmt.Fprintf(out, "removed %s (%s)\n", f.host, f.note)
		} else {
			fmt.Fprintf(out, "removed %s\n", f.host)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	if remaining == 0 {
		fmt.Fprintf(out, "removed %s\n", stateFile)
	}
	for _, d := range removedDirs {
		fmt.Fprintf(out, "removed directory %s (install created it)\n", d)
	}
	for _, s := range steps {
		hh := *h
		hh.engine = s.t
		if err := applyEngine(c, &hh, s.do); err != nil {
			return err
		}
	}
	return waitIfAsked(c, h)
}
