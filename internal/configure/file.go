package configure

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rro-runc/rro-runc/internal/specfile"
)

// Result is what Apply did or, for a dry run, would do.
type Result struct {
	// Path is the file edited: the one asked for, with symlinks resolved.
	Path string
	// Created is set when the file did not exist.
	Created bool
	// Changed is false when everything was already configured.
	Changed bool
	// Backup is the copy of the original file, or "" when none was made
	// (nothing changed, the file is new, or a dry run).
	Backup string
	// Old and New are the contents before and after.
	Old, New []byte
	// Warnings are things about the result the user should know: it is
	// written, but may not take effect as they expect.
	Warnings []string
}

// Diff is a unified diff from Old to New, empty when nothing changed.
func (r *Result) Diff() string {
	if !r.Changed {
		return ""
	}
	from := r.Path
	if r.Created {
		from = "/dev/null"
	}
	return UnifiedDiff(from, r.Path, r.Old, r.New)
}

// filePerm is the mode of a configuration file rroctl creates; the
// engines' own packages install theirs world-readable too.
const filePerm = 0o644

// Apply installs rro-runc into the engine's configuration file at path.
// A missing file is created (and its directory). With dryRun it only
// reports. A file that does not parse, or cannot be edited safely, is
// left untouched and the error wraps ErrParse or ErrUnsupported.
func Apply(t Target, path string, o Options, dryRun bool) (*Result, error) {
	return apply(t, path, o, dryRun, false)
}

// ApplyRemove takes out of the engine's configuration file at path what
// Apply installed with the same Options (see Remove), on disk as Apply
// does: a backup of the original, an atomic replace, nothing written
// when nothing changes or with dryRun. A missing file is left missing
// (Changed false); a file left empty stays, empty (rroctl cannot tell
// whether Apply created it). A runtime of that name that rroctl did not
// install is refused with ErrNotOurs and the file left untouched.
func ApplyRemove(t Target, path string, o Options, dryRun bool) (*Result, error) {
	return apply(t, path, o, dryRun, true)
}

func apply(t Target, path string, o Options, dryRun, removing bool) (*Result, error) {
	if err := o.check(t); err != nil {
		return nil, err
	}
	edit := Edit
	if removing {
		edit = Remove
	}
	res := &Result{Path: path}
	// Edit the file a symlink points to, as an editor would: replacing
	// the link with a file would silently detach it from its target.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		res.Path = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	old, err := os.ReadFile(res.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && removing:
		return res, nil
	case errors.Is(err, fs.ErrNotExist):
		res.Created = true
	case err != nil:
		return nil, err
	}
	res.Old = old
	res.New, err = edit(t, res.Path, old, o)
	if err != nil {
		return nil, err
	}
	res.Changed = res.Created || !bytes.Equal(res.New, old)
	if !removing {
		res.Warnings = warnings(t, res.Path, res.New, o.RuntimeName)
	}
	if !res.Changed || dryRun {
		return res, nil
	}

	if res.Created {
		if err := os.MkdirAll(filepath.Dir(res.Path), 0o755); err != nil {
			return nil, err
		}
	} else {
		// Someone else editing the file meanwhile would lose their change.
		if now, err := os.ReadFile(res.Path); err != nil || !bytes.Equal(now, old) {
			return nil, fmt.Errorf("%s changed while rroctl was editing it; run again", res.Path)
		}
		if res.Backup, err = backup(res.Path, old); err != nil {
			return nil, err
		}
	}
	if err := specfile.ReplaceDurable(res.Path, res.New, filePerm); err != nil {
		if res.Backup != "" {
			os.Remove(res.Backup)
			res.Backup = ""
		}
		return nil, err
	}
	return res, nil
}

// backup keeps the original beside it as PATH.bak-TIMESTAMP (a name no
// engine's include pattern matches). A hard link keeps the original's
// mode, owner and extended attributes for free; the atomic replace that
// follows gives the path a new inode, so the two never share content.
func backup(path string, data []byte) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	base := path + ".bak-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here (some filesystems): copy instead.
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("backup of %s: %w", path, err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("backup of %s: %w", path, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("backup of %s: too many backups named %s*", path, base)
}
