package errlog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReportJSON(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log.json")
	// containerd's shim leaves earlier lines in place; ours is appended.
	if err := os.WriteFile(log, []byte(`{"level":"info","msg":"earlier","time":"2026-01-01T00:00:00Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	Report(log, "json", `rro-runc: mount "/data" refused`)
	lines := strings.Split(strings.TrimSpace(readFile(t, log)), "\n")
	if len(lines) != 2 {
		t.Fatalf("want exactly one appended line, file has %d lines: %q", len(lines), lines)
	}
	var entry struct{ Level, Msg, Time string }
	if err := json.Unmarshal([]byte(lines[1]), &entry); err != nil {
		t.Fatalf("line %q is not JSON: %v", lines[1], err)
	}
	if entry.Level != "error" || entry.Msg != `rro-runc: mount "/data" refused` {
		t.Errorf("entry = %+v", entry)
	}
	if _, err := time.Parse(time.RFC3339, entry.Time); err != nil {
		t.Errorf("time %q is not RFC 3339, containerd would lose the message: %v", entry.Time, err)
	}
}

func TestReportTargets(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, target, format string
		file                 string // where the line must land; "" = nowhere
		want                 string
	}{
		{"runc text", filepath.Join(dir, "a.log"), "", filepath.Join(dir, "a.log"), `level=error msg="rro-runc: boom"`},
		{"crun file target", "file:" + filepath.Join(dir, "b.log"), "json", filepath.Join(dir, "b.log"), `"level":"error"`},
		{"crun journald", "journald:rro", "json", "", ""},
		{"crun syslog", "syslog:rro", "", "", ""},
		{"no log", "", "json", "", ""},
		{"unopenable", filepath.Join(dir, "missing-dir", "c.log"), "json", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Report(tc.target, tc.format, "rro-runc: boom")
			if tc.file == "" {
				return
			}
			got := readFile(t, tc.file)
			if strings.Count(got, "\n") != 1 || !strings.Contains(got, tc.want) {
				t.Errorf("log = %q, want one line containing %q", got, tc.want)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("log targets other than files created files: %v", entries)
	}
}

// TestReportFIFOWithoutReader: runc would block opening it; rro-runc must
// not, and the message must still reach stderr.
func TestReportFIFOWithoutReader(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "log.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { Report(fifo, "json", "rro-runc: boom"); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Report blocked on a FIFO without a reader")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
