package treesnap

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after map[string]string
		want          []string
	}{
		{"same", map[string]string{".": "d", "a": "f 1"}, map[string]string{".": "d", "a": "f 1"}, nil},
		{"removed", map[string]string{"a": "f 1", "b": "f 2"}, map[string]string{"a": "f 1"}, []string{"removed b"}},
		{"added", map[string]string{}, map[string]string{"a": "f 1"}, []string{"added a (f 1)"}},
		{"changed, sorted", map[string]string{"b": "f 1", "a": "f 1"}, map[string]string{"b": "f 2", "a": "f 3"},
			[]string{"changed a: f 1 -> f 3", "changed b: f 1 -> f 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff(tc.before, tc.after); !slices.Equal(got, tc.want) {
				t.Errorf("Diff = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTakeSeesContentAndRemoval(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "f")
	if err := os.WriteFile(f, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := Take(root, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, _ := Take(root, false)
	if d := Diff(before, changed); len(d) != 1 || d[0][:9] != "changed f" {
		t.Errorf("after a content change: %q", d)
	}
	os.Remove(f)
	removed, _ := Take(root, false)
	if d := Diff(before, removed); !slices.Equal(d, []string{"removed f"}) {
		t.Errorf("after removal: %q", d)
	}
}
