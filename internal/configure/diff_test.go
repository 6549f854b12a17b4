package configure

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnifiedDiffMatchesDiffU(t *testing.T) {
	diff, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("no diff(1) to compare with")
	}
	long := strings.Repeat("line\n", 20)
	for _, tc := range []struct{ name, a, b string }{
		{"insert in the middle", "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nX\ne\nf\ng\nh\n"},
		{"replace", "a\nb\nc\n", "a\nB\nc\n"},
		{"append", "a\n", "a\nb\nc\n"},
		{"new file", "", "a\nb\n"},
		{"no final newline", "a\nb", "a\nb\nc\n"},
		{"two hunks", "top\n" + long + "bottom\n", "TOP\n" + long + "BOTTOM\n"},
		{"one hunk, changes 6 apart", "1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			os.WriteFile(a, []byte(tc.a), 0o644)
			os.WriteFile(b, []byte(tc.b), 0o644)
			out, _ := exec.Command(diff, "-u", "--label", "a", "--label", "b", a, b).Output()
			if got := UnifiedDiff("a", "b", []byte(tc.a), []byte(tc.b)); got != string(out) {
				t.Errorf("got\n%s\ndiff -u says\n%s", got, out)
			}
		})
	}
	if d := UnifiedDiff("a", "b", []byte("x\n"), []byte("x\n")); d != "" {
		t.Errorf("diff of equal texts: %q", d)
	}
}
