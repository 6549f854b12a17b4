package configure

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listDir is the directory's file names, to prove nothing else was written.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestApply(t *testing.T) {
	for _, tg := range Targets {
		t.Run(string(tg), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sub", "config")

			// Missing file: a dry run creates nothing.
			res, err := Apply(tg, path, opts(), true)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed || !res.Created || res.Backup != "" {
				t.Errorf("dry run on a missing file: %+v", res)
			}
			if !strings.HasPrefix(res.Diff(), "--- /dev/null\n+++ "+path+"\n@@ -0,0 +1,") {
				t.Errorf("diff of a new file:\n%s", res.Diff())
			}
			if _, err := os.Stat(filepath.Join(dir, "sub")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("dry run created %s: %v", filepath.Join(dir, "sub"), err)
			}

			// Missing file: created, no backup.
			res, err = Apply(tg, path, opts(), false)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Created || !res.Changed || res.Backup != "" {
				t.Errorf("creating: %+v", res)
			}
			created, err := os.ReadFile(path)
			if err != nil || string(created) != string(res.New) {
				t.Fatalf("file holds %q (%v), want %q", created, err, res.New)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != filePerm {
				t.Errorf("new file mode %v, want %v", fi.Mode().Perm(), os.FileMode(filePerm))
			}

			// Already configured: nothing written, no backup.
			before := listDir(t, filepath.Dir(path))
			res, err = Apply(tg, path, opts(), false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed || res.Backup != "" || res.Diff() != "" {
				t.Errorf("second run: %+v", res)
			}
			if after := listDir(t, filepath.Dir(path)); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("second run left files: %v, had %v", after, before)
			}

			// A change to an existing file: a dry run writes nothing...
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			set := opts(func(o *Options) { o.SetAsDefault = true })
			res, err = Apply(tg, path, set, true)
			if err != nil {
				t.Fatal(err)
			}
			if now, _ := os.ReadFile(path); !res.Changed || string(now) != string(created) || res.Backup != "" {
				t.Errorf("dry run changed the file or made a backup: %+v", res)
			}
			if !strings.Contains(res.Diff(), "rro\"") || !strings.HasPrefix(res.Diff(), "--- "+path) {
				t.Errorf("dry-run diff:\n%s", res.Diff())
			}
			// ...and a real run keeps a backup of the original and the mode.
			res, err = Apply(tg, path, set, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Backup == "" || !strings.HasPrefix(res.Backup, path+".bak-") {
				t.Fatalf("no backup: %+v", res)
			}
			if b, _ := os.ReadFile(res.Backup); string(b) != string(created) {
				t.Errorf("backup holds %q, want the original %q", b, created)
			}
			if now, _ := os.ReadFile(path); string(now) != string(res.New) {
				t.Errorf("file holds %q, want %q", now, res.New)
			}
			for _, p := range []string{path, res.Backup} {
				if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want the original 0600", p, fi.Mode().Perm())
				}
			}
			// A second change in the same second gets its own backup.
			first := res.Backup
			res, err = Apply(tg, path, opts(func(o *Options) { o.Binary = "/opt/rro-runc" }), false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Backup == "" || res.Backup == first {
				t.Errorf("second backup %q, first %q", res.Backup, first)
			}
			if b, _ := os.ReadFile(first); string(b) != string(created) {
				t.Errorf("first backup overwritten")
			}
		})
	}
}

func TestApplyRefusesUnparsable(t *testing.T) {
	for tg, bad := range map[Target]string{
		Containerd: "version = 2\n[plugins\n",
		Docker:     "{\"debug\": true,}\n",
		Podman:     "[engine]\nruntime = \n",
	} {
		t.Run(string(tg), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			if err := os.WriteFile(path, []byte(bad), 0o640); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			_, err := Apply(tg, path, opts(), false)
			if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Apply: %v, want ErrParse naming %s", err, path)
			}
			fi, _ := os.Stat(path)
			if b, _ := os.ReadFile(path); string(b) != bad || !fi.ModTime().Equal(old) || fi.Mode().Perm() != 0o640 {
				t.Errorf("refused file was touched: %q %v %v", b, fi.ModTime(), fi.Mode())
			}
			if names := listDir(t, dir); len(names) != 1 {
				t.Errorf("files left beside it: %v", names)
			}
		})
	}
}

func TestApplyFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(real, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(Docker, link, opts(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != real {
		t.Errorf("edited %s, want the link's target %s", res.Path, real)
	}
	if target, err := os.Readlink(link); err != nil || target != "real.json" {
		t.Errorf("symlink replaced: %q %v", target, err)
	}
	if b, _ := os.ReadFile(link); !strings.Contains(string(b), testBinary) {
		t.Errorf("not configured through the link: %s", b)
	}
}
