package install

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// TestInstallerImageEquivalents: make image's tarball and the Dockerfile
// built by Docker (20.10's builder, FROM scratch, no registry) are the same
// image (files, entrypoint, command, environment), and the tarball also
// loads and runs in Podman. ctr image import is covered by
// TestInstallerImageOnNode.
func TestInstallerImageEquivalents(t *testing.T) {
	fixture.RequireRoot(t)
	tarball, tag := installerImage(t)
	rroRunc, rroctl := fixture.Binaries(t)

	d := fixture.NewDocker(t)
	d.Start(t)
	if out, err := d.Docker("load", "-i", tarball); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	// The build context as a checkout after make build: Dockerfile,
	// .dockerignore and bin/.
	root := fixture.ModuleRoot(t)
	ctx := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join(root, "Dockerfile"): "Dockerfile", filepath.Join(root, ".dockerignore"): ".dockerignore",
		rroRunc: "bin/rro-runc", rroctl: "bin/rroctl",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(ctx, filepath.Dir(dst)), 0o755)
		if err := os.WriteFile(filepath.Join(ctx, dst), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Something .dockerignore must keep out of the context.
	os.WriteFile(filepath.Join(ctx, "bin/rro-runc-image.tar"), []byte("not for the image"), 0o644)
	built := "rro-runc/rro-runc:dockerfile"
	if out, err := d.Docker("build", "-t", built, ctx); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}

	const format = `{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Env}} {{.Os}}/{{.Architecture}}`
	var configs, files []string
	for _, img := range []string{tag, built} {
		out, err := d.Docker("image", "inspect", "--format", format, img)
		if err != nil {
			t.Fatalf("docker image inspect %s: %v\n%s", img, err, out)
		}
		configs = append(configs, strings.TrimSpace(out))
		files = append(files, imageFiles(t, d, img))
	}
	if configs[0] != configs[1] {
		t.Errorf("configurations differ:\n make image: %s\n Dockerfile: %s", configs[0], configs[1])
	}
	if files[0] != files[1] {
		t.Errorf("files differ:\n make image:\n%s Dockerfile:\n%s", files[0], files[1])
	}
	t.Logf("both images: %s\n%s", configs[0], files[0])
	if out, err := d.Docker("run", "--rm", "--network", "none", tag, "version"); err != nil || !strings.HasPrefix(out, "rroctl ") {
		t.Errorf("docker run %s version: %v\n%s", tag, err, out)
	}

	p := fixture.NewPodman(t)
	if out, err := p.Podman("load", "-i", tarball); err != nil || !strings.Contains(out, tag) {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	if out, err := p.Podman("run", "--rm", "--network", "none", tag, "version"); err != nil || !strings.Contains(out, "rroctl ") {
		t.Errorf("podman run %s version: %v\n%s", tag, err, out)
	}
}

// imageFiles lists the files of img's filesystem, with mode and size,
// from `docker save` (no container needed: the image has no shell).
func imageFiles(t *testing.T, d *fixture.Docker, img string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "img.tar")
	if o, err := d.Docker("save", "-o", out, img); err != nil {
		t.Fatalf("docker save %s: %v\n%s", img, err, o)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, "/layer.tar") {
			continue
		}
		data, _ := io.ReadAll(tr)
		lr := tar.NewReader(bytes.NewReader(data))
		for {
			lh, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("  %s %o %d uid %d", strings.TrimSuffix(lh.Name, "/"), lh.Mode&0o7777, lh.Size, lh.Uid))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
