package configure

import (
	"reflect"
	"strings"
	"testing"
)

// containersConf is a containers.conf as the e2e fixture and users write it.
const containersConf = `# Local overrides.
[containers]
default_ulimits = ["nofile=20000:20000"]

[engine]
cgroup_manager = "cgroupfs" # no systemd here
runtime = "runc"

# Paths to look for a valid OCI runtime.
[engine.runtimes]
runc = ["/usr/sbin/runc", "/usr/bin/runc"]

[network]
network_config_dir = "/etc/cni/net.d"
`

func TestPodman(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          string
		o           Options
		wantJSON    []any
		wantDefault any
		keep        []string
		also        func(t *testing.T, m map[string]any, out string)
	}{
		{name: "empty file", in: "", o: opts(), wantJSON: []any{"crun", "runc", "rro"},
			also: func(t *testing.T, m map[string]any, out string) {
				want := "[engine]\nruntime_supports_json = [\"crun\", \"runc\", \"rro\"]\n\n[engine.runtimes]\nrro = [\"" + testBinary + "\"]\n"
				if out != want {
					t.Errorf("got\n%s\nwant\n%s", out, want)
				}
			}},
		{name: "existing settings and comments kept", in: containersConf, o: opts(),
			wantJSON: []any{"crun", "runc", "rro"}, wantDefault: "runc",
			keep: strings.Split(strings.TrimSpace(containersConf), "\n"),
			also: func(t *testing.T, m map[string]any, out string) {
				if v := get(m, "engine", "runtimes", "runc"); !reflect.DeepEqual(v, []any{"/usr/sbin/runc", "/usr/bin/runc"}) {
					t.Errorf("runc's paths changed: %v", v)
				}
			}},
		{name: "set as default", in: containersConf, o: opts(func(o *Options) { o.SetAsDefault = true }),
			wantJSON: []any{"crun", "runc", "rro"}, wantDefault: "rro"},
		{name: "set as default in a new file", in: "", o: opts(func(o *Options) { o.SetAsDefault = true }),
			wantJSON: []any{"crun", "runc", "rro"}, wantDefault: "rro"},
		{name: "custom name added to an existing list", o: opts(func(o *Options) { o.RuntimeName = "rro-enabled" }),
			in:       "[engine]\nruntime_supports_json = [\"crun\"] # only crun\n",
			wantJSON: []any{"crun", "rro-enabled"},
			also: func(t *testing.T, m map[string]any, out string) {
				if !strings.Contains(out, `runtime_supports_json = ["crun", "rro-enabled"] # only crun`) {
					t.Errorf("list not extended in place:\n%s", out)
				}
			}},
		{name: "one element a line", o: opts(),
			in:       "[engine]\nruntime_supports_json = [\n  \"crun\",\n  \"runc\", # ours\n]\n",
			wantJSON: []any{"crun", "runc", "rro"},
			also: func(t *testing.T, m map[string]any, out string) {
				if !strings.Contains(out, "  \"runc\", # ours\n  \"rro\",\n]") {
					t.Errorf("not added one a line:\n%s", out)
				}
			}},
		{name: "a runtime named runc is listed once", o: opts(func(o *Options) { o.RuntimeName = "runc" }), in: "",
			wantJSON: []any{"crun", "runc"}},
		{name: "empty list", o: opts(), in: "[engine]\nruntime_supports_json = []\n", wantJSON: []any{"rro"}},
		{name: "runtimes written as dotted keys", o: opts(),
			in:       "[engine]\nruntimes.runc = [\"/usr/sbin/runc\"]\n",
			wantJSON: []any{"crun", "runc", "rro"},
			also: func(t *testing.T, m map[string]any, out string) {
				if !strings.Contains(out, "runtimes.rro = [\""+testBinary+"\"]") {
					t.Errorf("dotted layout not followed:\n%s", out)
				}
			}},
		{name: "existing paths replaced", o: opts(),
			in:       "[engine.runtimes]\nrro = [\"/opt/rro-runc\", \"/usr/bin/rro-runc\"]\n",
			wantJSON: []any{"crun", "runc", "rro"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := edit(t, Podman, tc.in, tc.o)
			m := decodeTOML(t, out)
			if v := get(m, "engine", "runtimes", tc.o.RuntimeName); !reflect.DeepEqual(v, []any{tc.o.Binary}) {
				t.Errorf("engine.runtimes.%s = %v, want [%s]\n%s", tc.o.RuntimeName, v, tc.o.Binary, out)
			}
			if v := get(m, "engine", "runtime_supports_json"); !reflect.DeepEqual(v, tc.wantJSON) {
				t.Errorf("runtime_supports_json = %v, want %v\n%s", v, tc.wantJSON, out)
			}
			if v := get(m, "engine", "runtime"); v != tc.wantDefault {
				t.Errorf("runtime = %v, want %v", v, tc.wantDefault)
			}
			for _, line := range tc.keep {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("line %q of the input is gone:\n%s", line, out)
				}
			}
			if tc.also != nil {
				tc.also(t, m, out)
			}
		})
	}
}

func TestPodmanRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"not TOML", "[engine\n", ErrParse},
		{"runtimes as an inline table", "[engine]\nruntimes = { runc = [\"/usr/sbin/runc\"] }\n", ErrUnsupported},
		{"runtime_supports_json not a list", "[engine]\nruntime_supports_json = \"runc\"\n", ErrUnsupported},
		{"engine an array of tables", "[[engine]]\nx = 1\n", ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(editErr(t, Podman, tc.in, opts(), tc.want))
		})
	}
}
