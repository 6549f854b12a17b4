package imagetar

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
)

func readTar(t *testing.T, b []byte) (names []string, files map[string][]byte, hdrs map[string]*tar.Header) {
	t.Helper()
	files, hdrs = map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		files[h.Name], hdrs[h.Name] = data, h
	}
}

func TestBuild(t *testing.T) {
	layer, err := Layer([]File{
		{Path: "/usr/local/bin/rroctl", Mode: 0o755, Data: []byte("ctl")},
		{Path: "usr/local/bin/rro-runc", Mode: 0o755, Data: []byte("runc")},
	})
	if err != nil {
		t.Fatal(err)
	}
	names, files, hdrs := readTar(t, layer)
	want := []string{"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/rro-runc", "usr/local/bin/rroctl"}
	if len(names) != len(want) {
		t.Fatalf("layer entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] || hdrs[names[i]].Uid != 0 || !hdrs[names[i]].ModTime.Equal(Epoch) {
			t.Errorf("entry %d: %+v, want %s", i, hdrs[names[i]], want[i])
		}
	}
	if string(files["usr/local/bin/rroctl"]) != "ctl" || hdrs["usr/local/bin/rroctl"].Mode != 0o755 {
		t.Errorf("rroctl entry: %+v", hdrs["usr/local/bin/rroctl"])
	}

	img := Image{Tags: []string{"rro-runc/rro-runc:latest"}, Layer: layer, Config: map[string]any{"Entrypoint": []string{"/usr/local/bin/rroctl"}}}
	a, err := Build(img)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := Build(img); !bytes.Equal(a, b) {
		t.Error("two builds of the same image differ")
	}
	_, files, _ = readTar(t, a)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %s %v", files["manifest.json"], err)
	}
	m := manifest[0]
	if len(m.RepoTags) != 1 || m.RepoTags[0] != "rro-runc/rro-runc:latest" || len(m.Layers) != 1 || !bytes.Equal(files[m.Layers[0]], layer) {
		t.Errorf("manifest: %+v", m)
	}
	var config struct {
		Config map[string]any
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[m.Config], &config); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(layer)
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("diff_ids %q do not name the layer", config.RootFS.DiffIDs)
	}
	csum := sha256.Sum256(files[m.Config])
	if m.Config != hex.EncodeToString(csum[:])+".json" {
		t.Errorf("config file %s is not named by its digest", m.Config)
	}
	if _, err := Build(Image{Layer: layer}); err == nil {
		t.Error("an untagged image was built")
	}
	if _, err := Layer([]File{{Path: "/a"}, {Path: "a"}}); err == nil {
		t.Error("a file given twice was accepted")
	}
}
