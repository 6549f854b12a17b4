package argv

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	type want struct {
		cmd, id, bundle, config, log, logFormat string
		policy, runtime, wrapperConfig          string
		args                                    []string // nil: same as input
		configPath                              string
	}
	tests := []struct {
		name string
		line string
		want want
		// pass: a create, run or restore that no runtime would run, so
		// rro-runc passes it through.
		pass bool
	}{
		{
			name: "containerd shim create",
			line: "--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json --systemd-cgroup create --bundle /b --pid-file /b/init.pid --console-socket /tmp/s.sock abc",
			want: want{cmd: "create", id: "abc", bundle: "/b", log: "/b/log.json", logFormat: "json", configPath: "/b/config.json"},
		},
		{
			name: "containerd shim delete force",
			line: "--root /run/containerd/runc/default --log /b/log.json --log-format json delete --force abc",
			want: want{cmd: "delete", log: "/b/log.json", logFormat: "json", configPath: "config.json"},
		},
		{
			name: "containerd shim update reads stdin",
			line: "--root R --log L --log-format json update --resources=- abc",
			want: want{cmd: "update", log: "L", logFormat: "json", configPath: "config.json"},
		},
		{
			name: "docker runtimeArgs come first",
			line: "--rro-policy=Enabled --root /var/run/docker/runtime-runc/moby --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid abc",
			want: want{cmd: "create", id: "abc", bundle: "/b", log: "/b/log.json", logFormat: "json", policy: "Enabled",
				args: strings.Fields("--root /var/run/docker/runtime-runc/moby --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid abc"), configPath: "/b/config.json"},
		},
		{
			name: "podman via conmon",
			line: "--runtime-flag-unused --systemd-cgroup=false --log-format=json --log /u/oci-log create --bundle /u --pid-file /u/pidfile --no-new-keyring abc",
			want: want{cmd: "create", id: "abc", bundle: "/u", log: "/u/oci-log", logFormat: "json", configPath: "/u/config.json"},
		},
		{
			name: "crun globals and log target",
			line: "--cgroup-manager cgroupfs --log-level debug --log=file:/tmp/l run -bDIR -f other.json id1",
			want: want{cmd: "run", id: "id1", bundle: "DIR", config: "other.json", log: "file:/tmp/l", configPath: "DIR/other.json"},
		},
		{
			// runc has no --config (it refuses the line); crun reads
			// -b=/bb as the short option b with the value "=/bb".
			name: "crun absolute config",
			line: "create --config=/etc/c.json -b=/bb x",
			want: want{cmd: "create", id: "x", bundle: "=/bb", config: "/etc/c.json", configPath: "/etc/c.json"},
		},
		{
			name: "single dash long flags and equals",
			line: "-root=/r -log-format=text create -bundle=/b id",
			want: want{cmd: "create", id: "id", bundle: "/b", logFormat: "text", configPath: "/b/config.json"},
		},
		{
			name: "container named create",
			line: "delete create",
			want: want{cmd: "delete", configPath: "config.json"},
		},
		{
			name: "create a container named create",
			line: "create --bundle /b create",
			want: want{cmd: "create", id: "create", bundle: "/b", configPath: "/b/config.json"},
		},
		{
			name: "root directory named create",
			line: "--root create state abc",
			want: want{cmd: "state", configPath: "config.json"},
		},
		{
			name: "log file named run",
			line: "--log run kill abc KILL",
			want: want{cmd: "kill", log: "run", configPath: "config.json"},
		},
		{
			name: "flags after the container id",
			line: "run abc --bundle /b -d --pid-file /p",
			want: want{cmd: "run", id: "abc", bundle: "/b", configPath: "/b/config.json"},
		},
		{
			name: "value flag whose value looks like a flag",
			line: "create --pid-file -b --bundle /real abc",
			want: want{cmd: "create", id: "abc", bundle: "/real", configPath: "/real/config.json"},
		},
		{
			name: "last bundle wins",
			line: "create -b /one --bundle=/two abc",
			want: want{cmd: "create", id: "abc", bundle: "/two", configPath: "/two/config.json"},
		},
		{
			name: "single-dash boolean is not -f attached",
			line: "restore -file-locks --image-path /img -b /b abc",
			want: want{cmd: "restore", id: "abc", bundle: "/b", configPath: "/b/config.json"},
		},
		{
			name: "double dash ends flags",
			line: "create --bundle /b -- -weird-id",
			want: want{cmd: "create", id: "-weird-id", bundle: "/b", configPath: "/b/config.json"},
		},
		{
			name: "double dash before the subcommand",
			line: "--debug -- create abc",
			want: want{cmd: "create", id: "abc", configPath: "config.json"},
		},
		{
			name: "no bundle means the working directory",
			line: "create abc",
			want: want{cmd: "create", id: "abc", configPath: "config.json"},
		},
		{
			name: "version",
			line: "--version",
			want: want{configPath: "config.json"},
		},
		{
			name: "no arguments",
			line: "",
			want: want{configPath: "config.json"},
		},
		{
			name: "features",
			line: "features",
			want: want{cmd: "features", configPath: "config.json"},
		},
		{
			name: "all wrapper flags, both spellings",
			line: "--rro-policy IfPossible -rro-runtime=/usr/bin/crun --rro-config /c.toml --debug state abc",
			want: want{cmd: "state", policy: "IfPossible", runtime: "/usr/bin/crun", wrapperConfig: "/c.toml",
				args: []string{"--debug", "state", "abc"}, configPath: "config.json"},
		},
		{
			name: "wrapper-looking flag after the subcommand belongs to the runtime",
			line: "exec --rro-policy=Enabled abc ls",
			want: want{cmd: "exec", configPath: "config.json"},
		},
		{
			name: "trailing value flag without value",
			line: "--root",
			want: want{configPath: "config.json"},
		},
		{
			// runc reorders this to "--bundle abc" and then finds no ID;
			// crun takes "--bundle" as a second container ID.
			name: "create with a trailing bundle flag",
			line: "create abc --bundle",
			want: want{cmd: "create", configPath: "config.json"},
			pass: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Fields(tc.line)
			orig := append([]string(nil), in...)
			inv, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.line, err)
			}
			w := tc.want
			wantArgs := w.args
			if wantArgs == nil {
				wantArgs = orig
			}
			got := want{inv.Command, inv.ContainerID, inv.Bundle, inv.ConfigFile, inv.Log, inv.LogFormat,
				inv.Policy, inv.Runtime, inv.Config, inv.Args, inv.ConfigPath()}
			w.args = wantArgs
			if len(got.args) == 0 && len(w.args) == 0 {
				got.args, w.args = nil, nil
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.line, got, w)
			}
			wantRewrites := !tc.pass && (w.cmd == "create" || w.cmd == "run" || w.cmd == "restore")
			if inv.Rewrites() != wantRewrites {
				t.Errorf("Parse(%q).Rewrites() = %v, want %v", tc.line, inv.Rewrites(), wantRewrites)
			}
			if !slices.Equal(in, orig) {
				t.Errorf("Parse modified its input: %q", in)
			}
			if inv.Command != "" && inv.Args[inv.CommandIndex] != inv.Command {
				t.Errorf("CommandIndex %d points at %q, not %q", inv.CommandIndex, inv.Args[inv.CommandIndex], inv.Command)
			}
		})
	}
}

func TestParseWrapperFlagErrors(t *testing.T) {
	for _, line := range []string{"--rro-policy", "--rro-runtime=", "--debug --rro-config"} {
		t.Run(line, func(t *testing.T) {
			_, err := Parse(strings.Fields(line))
			if !errors.Is(err, ErrWrapperFlag) {
				t.Fatalf("Parse(%q) = %v, want ErrWrapperFlag", line, err)
			}
			if !strings.Contains(err.Error(), "--rro-") {
				t.Errorf("error %q does not name the flag", err)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	line := strings.Fields("--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid --console-socket /tmp/s.sock abc")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePassThrough(b *testing.B) {
	line := strings.Fields("--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json state abc")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
