package wrapper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// runIn runs bin in dir (the working directory is where runc and crun
// look for config.json without --bundle) and returns stdout, stderr and
// the exit status. Output goes to files, as in fixture.Run: a created
// container inherits them and would hold a pipe open.
func runIn(t *testing.T, dir string, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	tmp := t.TempDir()
	outF, err := os.Create(filepath.Join(tmp, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(tmp, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = outF, errF
	err = cmd.Run()
	outF.Close()
	errF.Close()
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish within a minute", bin, args)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	out, _ := os.ReadFile(outF.Name())
	errOut, _ := os.ReadFile(errF.Name())
	return string(out), string(errOut), cmd.ProcessState.ExitCode()
}

// logTime is the one part of runc's stderr that differs between two runs.
var logTime = regexp.MustCompile(`time="[^"]*"`)

// TestHelpIsNotACreate is the runc integration suite's expectation
// (help.bats) and the issue's: a create, run or restore line that the
// runtime answers by itself (help in every position the runtime accepts
// it, help COMMAND, a missing or extra container ID) reaches the real
// runtime untouched and answers exactly as the runtime does, the same
// stdout, stderr and exit status, outside a bundle (no "cannot read config
// file") and inside one (config.json byte-identical, nothing written),
// under policy Enabled. The last case is the control: a real create
// through the same wrapper in the same bundle does rewrite config.json, so
// the comparison above can fail.
func TestHelpIsNotACreate(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, _ := fixture.Binaries(t)
	lines := map[string][][]string{
		"runc": {
			{"create", "-h"}, {"create", "--help"}, {"run", "-h"}, {"restore", "-h"}, {"run", "--help"},
			{"create", "ctr", "-h"}, {"create", "--bundle", "elsewhere", "ctr", "--help"}, {"create", "-help", "ctr"},
			{"help", "create"}, {"h", "run"}, {"--help", "create", "ctr"}, {"-h", "run", "ctr"},
			{"--version", "create", "ctr"},
			{"create"}, {"run", "a", "b"}, {"restore"}, {"create", "ctr", "--", "-h"},
			{"foo", "-h"},
		},
		"crun": {
			{"create", "--help"}, {"run", "--help"}, {"create", "-?", "ctr"}, {"create", "--usage", "ctr"},
			{"--help", "create", "ctr"}, {"--version", "run", "ctr"},
			{"create"}, {"create", "a", "b"}, {"run", "ctr", "--help"},
		},
	}
	for _, rt := range runtimes {
		t.Run(rt.name, func(t *testing.T) {
			runtime := rt.path(t)
			root := stateRoot(t, runtime)
			cfg := wrapperConfig(t, fmt.Sprintf("policy = \"Enabled\"\nruntime = %q\n", runtime))
			env := []string{"RRO_RUNC_CONFIG=" + cfg}
			empty := t.TempDir()
			bundle := fixture.Bundle(t, fixture.Rootfs(t), []specs.Mount{fixture.VolumeMount(fixture.NestedVolume(t))}, "/bin/true")
			config := filepath.Join(bundle, "config.json")
			before, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			entries := func() []string {
				des, _ := os.ReadDir(bundle)
				var names []string
				for _, de := range des {
					names = append(names, de.Name())
				}
				return names
			}
			listing := entries()
			for _, line := range lines[rt.name] {
				args := append([]string{"--root", root}, line...)
				for _, dir := range []string{empty, bundle} {
					wantOut, wantErr, wantCode := runIn(t, dir, nil, runtime, args...)
					out, errOut, code := runIn(t, dir, env, rroRunc, args...)
					where := "outside a bundle"
					if dir == bundle {
						where = "in a bundle"
					}
					if code != wantCode || out != wantOut ||
						logTime.ReplaceAllString(errOut, "") != logTime.ReplaceAllString(wantErr, "") {
						t.Errorf("rro-runc %q %s: exit %d\nstdout %q\nstderr %q\n%s: exit %d\nstdout %q\nstderr %q",
							args, where, code, head(out), errOut, rt.name, wantCode, head(wantOut), wantErr)
					}
					if slices.Equal(line, []string{"create", "-h"}) && (code != 0 || !bytes.Contains([]byte(out), []byte("create"))) {
						t.Errorf("rro-runc %q %s: exit %d, stdout %q: want the runtime's help for create", args, where, code, head(out))
					}
				}
				if after, _ := os.ReadFile(config); !bytes.Equal(after, before) {
					t.Fatalf("rro-runc %q changed config.json", args)
				}
				if now := entries(); !slices.Equal(now, listing) {
					t.Fatalf("rro-runc %q left %q in the bundle (was %q)", args, now, listing)
				}
			}

			// The control: a real create rewrites the same file.
			_, errOut, code := runIn(t, bundle, env, rroRunc, "--root", root, "create", containerID(t))
			if code != 0 {
				t.Fatalf("rro-runc create in the bundle: exit %d: %s", code, errOut)
			}
			if after, _ := os.ReadFile(config); bytes.Equal(after, before) {
				t.Fatalf("a real create left config.json unchanged: the checks above prove nothing")
			}
		})
	}
}

func head(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// TestAmbiguousBundle: "-b=DIR" is the bundle DIR to runc and "=DIR" to
// crun. rro-runc rewrites the one that holds a config file, the only one
// a runtime can create from; when both do, it refuses and names both,
// leaving both untouched; policy Disabled reads neither and refuses
// nothing. Over the real runc.
func TestAmbiguousBundle(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, _ := fixture.Binaries(t)
	runtime := fixture.Runc(t)
	root := stateRoot(t, runtime)
	vol := fixture.NestedVolume(t)
	for _, tc := range []struct {
		name          string
		policy        string
		both          bool
		wantCode      int
		wantRewritten bool
	}{
		{"only runc's bundle exists", "Enabled", false, 0, true},
		{"both exist", "Enabled", true, 1, false},
		{"both exist, policy Disabled", "Disabled", true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := wrapperConfig(t, fmt.Sprintf("policy = %q\nruntime = %q\n", tc.policy, runtime))
			dir := t.TempDir()
			mounts := []specs.Mount{fixture.VolumeMount(vol)}
			b := fixture.Bundle(t, fixture.Rootfs(t), mounts, "/bin/true")
			if err := os.Rename(b, filepath.Join(dir, "b")); err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(dir, "b", "config.json")
			before, _ := os.ReadFile(config)
			other := filepath.Join(dir, "=b", "config.json")
			if tc.both {
				if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(other, before, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, errOut, code := runIn(t, dir, []string{"RRO_RUNC_CONFIG=" + cfg}, rroRunc,
				"--root", root, "create", "-b=b", containerID(t))
			if code != tc.wantCode {
				t.Fatalf("rro-runc create -b=b: exit %d, want %d: %s", code, tc.wantCode, errOut)
			}
			if code != 0 && !(bytes.Contains([]byte(errOut), []byte("b/config.json")) && bytes.Contains([]byte(errOut), []byte("=b/config.json"))) {
				t.Errorf("refusal %q does not name both config files", errOut)
			}
			after, _ := os.ReadFile(config)
			if rewritten := !bytes.Equal(after, before); rewritten != tc.wantRewritten {
				t.Errorf("b/config.json rewritten: %v, want %v", rewritten, tc.wantRewritten)
			}
			if tc.both {
				if o, _ := os.ReadFile(other); !bytes.Equal(o, before) {
					t.Errorf("=b/config.json changed: crun's reading must never be written when runc's exists too")
				}
			}
		})
	}
}
