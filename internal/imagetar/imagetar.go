// Package imagetar writes container images as docker-archive tarballs
// (`docker save` format: manifest.json, a config JSON with
// rootfs.diff_ids, one layer.tar) without a registry or an engine. The
// same tarball loads with `docker load`, `podman load` and
// `ctr image import`. make image and the e2e fixture both use it.
//
// Guarantees:
//   - Reproducible: every entry is owned by root with a fixed time, so the
//     same inputs give the same bytes and the same image ID.
//   - One layer, written in full: what is in it is exactly what was asked.
package imagetar

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Epoch is the time of every entry and of the image: a fixed one keeps
// the layer, and so the image ID, the same on every build.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// File is a regular file of a layer.
type File struct {
	Path string // inside the image, e.g. /usr/local/bin/rroctl
	Mode fs.FileMode
	Data []byte
}

// Layer archives files as an image layer, with their parent directories
// (mode 0755), all owned by root.
func Layer(files []File) ([]byte, error) {
	dirs := map[string]bool{}
	var names []string
	byName := map[string]File{}
	for _, f := range files {
		name := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
		if name == "" {
			return nil, fmt.Errorf("file path %q: want a file", f.Path)
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("file %s given twice", f.Path)
		}
		byName[name] = f
		names = append(names, name)
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		names = append(names, d+"/")
	}
	sort.Strings(names) // a directory sorts before what is in it
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, ModTime: Epoch, Typeflag: tar.TypeDir}); err != nil {
				return nil, err
			}
			continue
		}
		f := byName[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), ModTime: Epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// LayerFromDir archives the tree at dir as an image layer: root-owned,
// fixed times, symlinks kept as symlinks.
func LayerFromDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = Epoch, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Image is what Build needs.
type Image struct {
	// Tags are the references the engines name it by once loaded
	// (docker and containerd add docker.io/ to a bare name).
	Tags []string
	// Config is the image's runtime configuration (the "config" object:
	// Entrypoint, Cmd, Env, WorkingDir, Labels, ...).
	Config map[string]any
	// Layer is the single layer (Layer or LayerFromDir).
	Layer []byte
	// CreatedBy is the history entry's text.
	CreatedBy string
}

// Build returns the docker-archive tarball of img.
func Build(img Image) ([]byte, error) {
	if len(img.Tags) == 0 {
		return nil, fmt.Errorf("image needs a tag")
	}
	layerSum := sha256.Sum256(img.Layer)
	layerHex := hex.EncodeToString(layerSum[:])
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      Epoch.Format(time.RFC3339),
		"config":       img.Config,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerHex}},
		"history":      []map[string]any{{"created": Epoch.Format(time.RFC3339), "created_by": img.CreatedBy}},
	})
	if err != nil {
		return nil, err
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": img.Tags,
		"Layers":   []string{layerHex + "/layer.tar"},
	}})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: layerHex + "/", Mode: 0o755, ModTime: Epoch, Typeflag: tar.TypeDir}); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{layerHex + "/layer.tar", img.Layer}, {configName, config}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: Epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
