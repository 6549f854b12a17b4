// Package treesnap records a directory tree so that tests can say "the
// host is as it was": every path under a root with its type, mode and a
// digest of its contents, and optionally its inode (so that a file that
// was rewritten with the same bytes is visible too).
//
// Guarantees: Take reads, never writes, and Diff is empty exactly when
// two snapshots are equal; symlinks are recorded, not
// followed; the map's keys are paths relative to root ("." for root).
package treesnap

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// Take walks root and returns path → "MODE [DIGEST] [ino N]".
func Take(root string, inodes bool) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			v += " " + hex.EncodeToString(s[:8])
			if inodes {
				v += fmt.Sprintf(" ino %d", fi.Sys().(*syscall.Stat_t).Ino)
			}
		}
		rel, _ := filepath.Rel(root, p)
		m[rel] = v
		return nil
	})
	return m, err
}

// Diff lists how after differs from before, one line a path, sorted:
// "removed P", "added P (ENTRY)" or "changed P: BEFORE -> AFTER". None
// means the trees are the same.
func Diff(before, after map[string]string) []string {
	var d []string
	for p, b := range before {
		switch a, ok := after[p]; {
		case !ok:
			d = append(d, "removed "+p)
		case a != b:
			d = append(d, fmt.Sprintf("changed %s: %s -> %s", p, b, a))
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			d = append(d, fmt.Sprintf("added %s (%s)", p, a))
		}
	}
	sort.Strings(d)
	return d
}
