// Command mkimage is what `make image` runs: it writes rro-runc's image,
// FROM scratch with only the static binaries and rroctl as entrypoint (the
// Dockerfile's image, built without an engine or a registry), as a
// docker-archive tarball.
//
//	mkimage -o bin/rro-runc-image.tar -tag rro-runc/rro-runc:latest bin/rro-runc bin/rroctl
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rro-runc/rro-runc/internal/imagetar"
	"github.com/rro-runc/rro-runc/internal/specfile"
)

type tags []string

func (t *tags) String() string     { return strings.Join(*t, ",") }
func (t *tags) Set(v string) error { *t = append(*t, v); return nil }

func main() {
	var (
		out        = flag.String("o", "", "write the tarball to `FILE`")
		binDir     = flag.String("bin-dir", "/usr/local/bin", "where the binaries go in the image")
		entrypoint = flag.String("entrypoint", "rroctl", "the binary (by name) that is the entrypoint")
		version    = flag.String("version", "", "the org.opencontainers.image.version label")
		ts         tags
	)
	flag.Var(&ts, "tag", "a `REF` to tag the image with (repeatable)")
	flag.Parse()
	if err := run(*out, *binDir, *entrypoint, *version, ts, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out, binDir, entrypoint, version string, ts []string, bins []string) error {
	if out == "" || len(ts) == 0 || len(bins) == 0 {
		return fmt.Errorf("usage: mkimage -o FILE -tag REF [-tag REF] BINARY...")
	}
	var files []imagetar.File
	hasEntry := false
	for _, b := range bins {
		data, err := os.ReadFile(b)
		if err != nil {
			return err
		}
		name := filepath.Base(b)
		hasEntry = hasEntry || name == entrypoint
		files = append(files, imagetar.File{Path: filepath.Join(binDir, name), Mode: 0o755, Data: data})
	}
	if !hasEntry {
		return fmt.Errorf("entrypoint %s is not among the binaries", entrypoint)
	}
	layer, err := imagetar.Layer(files)
	if err != nil {
		return err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "rro-runc",
		"org.opencontainers.image.description": "rro-runc and rroctl; run: IMAGE install --host-root /host --engine containerd",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.source":      "https://github.com/rro-runc/rro-runc",
	}
	if version != "" {
		labels["org.opencontainers.image.version"] = version
	}
	tar, err := imagetar.Build(imagetar.Image{
		Tags:      ts,
		Layer:     layer,
		CreatedBy: "make image (internal/imagetar/mkimage; equivalent to the Dockerfile)",
		Config: map[string]any{
			"Entrypoint": []string{filepath.Join(binDir, entrypoint)},
			"Cmd":        []string{"--help"},
			"Env":        []string{"PATH=" + binDir},
			"WorkingDir": "/",
			"Labels":     labels,
		},
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return specfile.Replace(out, tar, 0o644)
}
