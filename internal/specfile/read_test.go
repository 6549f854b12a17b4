package specfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "config.json")
	if err := os.WriteFile(regular, []byte(`{"mounts":[]}`), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(regular, filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxSize+1); err != nil {
		t.Fatal(err)
	}

	data, mode, err := Read(regular)
	if err != nil || string(data) != `{"mounts":[]}` || mode != 0o640 {
		t.Fatalf("Read(regular) = %q, %v, %v", data, mode, err)
	}
	for _, tc := range []struct{ name, want string }{
		{"link.json", "symlink"},
		{"fifo.json", "not a regular file but a named pipe (FIFO)"},
		{"big.json", "over the"},
		{"missing.json", "no such file"},
		{".", "not a regular file but a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			_, _, err := Read(p)
			if !errors.Is(err, ErrBadConfigFile) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("Read(%s) error = %v, want ErrBadConfigFile naming the path and saying %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestReadFrom(t *testing.T) {
	if _, err := ReadFrom(bytes.NewReader(make([]byte, MaxSize+1)), "stdin"); !errors.Is(err, ErrBadConfigFile) || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("oversized stdin: %v", err)
	}
	if b, err := ReadFrom(strings.NewReader("{}"), "stdin"); err != nil || string(b) != "{}" {
		t.Errorf("ReadFrom = %q, %v", b, err)
	}
}
