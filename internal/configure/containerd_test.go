package configure

import (
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/rewrite"
)

// criConfig is a containerd 1.6 CRI configuration laid out as
// `containerd config default` writes it, with the user's comments.
const criConfig = `# Managed by hand: keep the registry mirror.
version = 2
root = "/var/lib/containerd"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.6" # pinned
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            SystemdCgroup = true

        # gVisor, for untrusted pods.
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
          runtime_type = "io.containerd.runsc.v1"

    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
      endpoint = ["https://mirror.example"]
`

var cri2 = []string{"plugins", "io.containerd.grpc.v1.cri", "containerd"}

func rtPath(base []string, name string, more ...string) []string {
	p := append(append([]string{}, base...), "runtimes", name)
	return append(p, more...)
}

func TestContainerd(t *testing.T) {
	cri3 := []string{"plugins", "io.containerd.cri.v1.runtime", "containerd"}
	for _, tc := range []struct {
		name string
		in   string
		o    Options
		cri  []string // where the runtime must be
		// keep are lines of the input that must survive verbatim.
		keep []string
		// also checks more of the result.
		also func(t *testing.T, m map[string]any, out string)
	}{
		{name: "empty file", in: "", o: opts(), cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if m["version"] != int64(2) {
					t.Errorf("version = %v, want 2", m["version"])
				}
				if v := get(m, append(cri2, "default_runtime_name")...); v != nil {
					t.Errorf("default_runtime_name = %v without --set-as-default", v)
				}
			}},
		{name: "comments only", in: "# nothing yet\n", o: opts(), cri: cri2, keep: []string{"# nothing yet"}},
		{name: "CRI config with comments and other runtimes", in: criConfig, o: opts(), cri: cri2,
			keep: strings.Split(strings.TrimSpace(criConfig), "\n"),
			also: func(t *testing.T, m map[string]any, out string) {
				if v := get(m, append(cri2, "default_runtime_name")...); v != "runc" {
					t.Errorf("default_runtime_name = %v, want runc kept", v)
				}
				if v := get(m, rtPath(cri2, "runc", "options", "SystemdCgroup")...); v != true {
					t.Errorf("runc SystemdCgroup = %v, want true kept", v)
				}
				// Follows the file's indentation: a level is two spaces.
				if !strings.Contains(out, "\n        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro]\n          runtime_type") {
					t.Errorf("new table not indented like its siblings:\n%s", out)
				}
			}},
		{name: "set as default", in: criConfig, o: opts(func(o *Options) { o.SetAsDefault = true }), cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if v := get(m, append(cri2, "default_runtime_name")...); v != "rro" {
					t.Errorf("default_runtime_name = %v, want rro", v)
				}
				if strings.Count(out, "default_runtime_name") != 1 {
					t.Errorf("default_runtime_name not replaced in place:\n%s", out)
				}
			}},
		{name: "set as default in a new file", in: "", o: opts(func(o *Options) { o.SetAsDefault = true }), cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if v := get(m, append(cri2, "default_runtime_name")...); v != "rro" {
					t.Errorf("default_runtime_name = %v, want rro", v)
				}
			}},
		{name: "custom name and runc root", in: criConfig,
			o:   opts(func(o *Options) { o.RuntimeName = "rro-enabled"; o.RuncRoot = "/run/rro" }),
			cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if v := get(m, rtPath(cri2, "rro-enabled", "options", "Root")...); v != "/run/rro" {
					t.Errorf("Root = %v, want /run/rro", v)
				}
				if get(m, rtPath(cri2, "rro")...) != nil {
					t.Errorf("runtime rro created as well as rro-enabled")
				}
			}},
		{name: "name that needs quoting", in: "version = 2\n", o: opts(func(o *Options) { o.RuntimeName = "rro.v1" }), cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if !strings.Contains(out, `runtimes."rro.v1"]`) {
					t.Errorf("name not quoted in the header:\n%s", out)
				}
			}},
		{name: "existing handler: binary replaced, its other settings kept", o: opts(), cri: cri2,
			in: `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rro]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = [
    "io.kubernetes.cri-o.Devices",
  ]
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rro.options]
    BinaryName = "/opt/old/rro-runc" # old place
    SystemdCgroup = true
`,
			keep: []string{`    "io.kubernetes.cri-o.Devices",`, `    SystemdCgroup = true`},
			also: func(t *testing.T, m map[string]any, out string) {
				want := append([]any{"io.kubernetes.cri-o.Devices"}, toAny(PodAnnotations)...)
				if v := get(m, rtPath(cri2, "rro", "pod_annotations")...); !reflect.DeepEqual(v, want) {
					t.Errorf("pod_annotations = %v, want %v", v, want)
				}
				if !strings.Contains(out, `BinaryName = "`+testBinary+`" # old place`) {
					t.Errorf("BinaryName not replaced in place:\n%s", out)
				}
			}},
		{name: "config version 3 (containerd 2.x)", o: opts(func(o *Options) { o.SetAsDefault = true }), cri: cri3,
			in: "version = 3\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n",
			also: func(t *testing.T, m map[string]any, out string) {
				if v := get(m, append(cri3, "default_runtime_name")...); v != "rro" {
					t.Errorf("default_runtime_name = %v, want rro", v)
				}
				if get(m, "plugins", "io.containerd.grpc.v1.cri") != nil {
					t.Errorf("version 3 file got the version 2 plugin name:\n%s", out)
				}
			}},
		{name: "config version 4 (containerd 2.3 and later)", o: opts(), cri: cri3,
			in:   "version = 4\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n",
			keep: []string{"  runtime_type = 'io.containerd.runc.v2'"}},
		{name: "tables written as dotted keys", o: opts(), cri: cri2,
			in: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes.rro.runtime_type = \"io.containerd.runc.v2\"\n",
			also: func(t *testing.T, m map[string]any, out string) {
				if !strings.Contains(out, `runtimes.rro.options.BinaryName = "`+testBinary+`"`) {
					t.Errorf("dotted layout not followed:\n%s", out)
				}
			}},
		{name: "no final newline", in: "version = 2\nroot = \"/x\"", o: opts(), cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if !strings.HasPrefix(out, "version = 2\nroot = \"/x\"\n\n[") {
					t.Errorf("got:\n%s", out)
				}
			}},
		{name: "CRLF line endings kept", in: "version = 2\r\n# x\r\n", o: opts(), cri: cri2,
			also: func(t *testing.T, m map[string]any, out string) {
				if strings.Count(out, "\n") != strings.Count(out, "\r\n") {
					t.Errorf("mixed line endings:\n%q", out)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := edit(t, Containerd, tc.in, tc.o)
			m := decodeTOML(t, out)
			name := tc.o.RuntimeName
			for k, want := range map[string]any{
				"runtime_type":    "io.containerd.runc.v2",
				"pod_annotations": nil, // checked below
			} {
				if want != nil {
					if v := get(m, rtPath(tc.cri, name, k)...); v != want {
						t.Errorf("%s = %v, want %v\n%s", k, v, want, out)
					}
				}
			}
			list, _ := stringList(get(m, rtPath(tc.cri, name, "pod_annotations")...))
			for _, a := range PodAnnotations {
				if !contains(list, a) {
					t.Errorf("pod_annotations = %v, want it to hold %q\n%s", list, a, out)
				}
			}
			for _, a := range list {
				if ok, _ := path.Match(a, rewrite.AnnotationApplied); ok {
					t.Errorf("pod_annotations = %v lets a pod set %s\n%s", list, rewrite.AnnotationApplied, out)
				}
			}
			if v := get(m, rtPath(tc.cri, name, "options", "BinaryName")...); v != tc.o.Binary {
				t.Errorf("BinaryName = %v, want %s\n%s", v, tc.o.Binary, out)
			}
			for _, line := range tc.keep {
				if !strings.Contains(out, line+"\n") && !strings.HasSuffix(out, line) {
					t.Errorf("line %q of the input is gone:\n%s", line, out)
				}
			}
			if tc.also != nil {
				tc.also(t, m, out)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestContainerdAlreadyConfigured(t *testing.T) {
	o := opts(func(o *Options) { o.SetAsDefault = true })
	once := edit(t, Containerd, criConfig, o)
	out, err := Edit(Containerd, "config.toml", []byte(once), o)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &[]byte(once)[0] && string(out) != once {
		t.Fatalf("a configured file changed:\n%s", UnifiedDiff("a", "b", []byte(once), out))
	}
	// Written differently but meaning the same: nothing to do either.
	same := "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.rro]\n" +
		"runtime_type = 'io.containerd.runc.v2'\npod_annotations = ['org.rro-runc.policy', 'org.rro-runc.exclude']\n" +
		"options = {BinaryName = '" + testBinary + "'}\n"
	if out := edit(t, Containerd, same, opts()); out != same {
		t.Fatalf("an equivalent configuration was rewritten:\n%s", UnifiedDiff("a", "b", []byte(same), []byte(out)))
	}
}

func TestContainerdRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		o    Options
		want error
	}{
		{"not TOML", "version = 2\n[plugins\n", opts(), ErrParse},
		{"duplicate key", "version = 2\nversion = 2\n", opts(), ErrParse},
		{"version 1 (no version key)", "[plugins.cri]\n  sandbox_image = \"x\"\n", opts(), ErrUnsupported},
		{"version 1", "version = 1\n", opts(), ErrUnsupported},
		{"version as a string", "version = \"2\"\n", opts(), ErrUnsupported},
		{"unknown version", "version = 5\n", opts(), ErrUnsupported},
		{"options as an inline table", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro]\noptions = { BinaryName = \"/x\" }\n", opts(), ErrUnsupported},
		{"runtimes not a table", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes = 5\n", opts(), ErrUnsupported},
		{"pod_annotations not strings", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro]\npod_annotations = [1]\n", opts(), ErrUnsupported},
		{"bad runtime name", "", opts(func(o *Options) { o.RuntimeName = "a b" }), ErrInvalidOption},
		{"empty binary", "", opts(func(o *Options) { o.Binary = "" }), ErrInvalidOption},
		{"policy is docker's", "", opts(func(o *Options) { o.Policy = "Enabled" }), ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := editErr(t, Containerd, tc.in, tc.o, tc.want)
			t.Log(err)
		})
	}
}

func TestContainerdWarnsCRIDisabled(t *testing.T) {
	for in, want := range map[string]bool{
		"version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n":          true,
		"version = 2\ndisabled_plugins = [\"cri\"]\n":                                true,
		"version = 2\ndisabled_plugins = [\"io.containerd.snapshotter.v1.btrfs\"]\n": false,
		criConfig: false,
	} {
		out := edit(t, Containerd, in, opts())
		if got := warnings(Containerd, "config.toml", []byte(out), DefaultRuntimeName); (len(got) > 0) != want {
			t.Errorf("warnings %q for\n%s", got, in)
		}
	}
}

// TestContainerdPodAnnotations: a handler written by an older rroctl let
// every org.rro-runc.* pod annotation through, org.rro-runc.applied too;
// a run over it passes only the two meant for pods, keeping the rest of
// the list and its layout, and a second run changes nothing.
func TestContainerdPodAnnotations(t *testing.T) {
	const head = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro]\nruntime_type = \"io.containerd.runc.v2\"\n"
	const tail = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro.options]\nBinaryName = \"" + testBinary + "\"\n"
	for _, tc := range []struct{ name, in, want string }{
		{"what rroctl wrote before", "pod_annotations = [\"org.rro-runc.*\"]\n",
			"pod_annotations = [\"org.rro-runc.policy\", \"org.rro-runc.exclude\"]\n"},
		{"beside the user's", "pod_annotations = ['io.x', \"org.rro-runc.*\"] # mine\n",
			"pod_annotations = ['io.x', \"org.rro-runc.policy\", \"org.rro-runc.exclude\"] # mine\n"},
		{"one a line", "pod_annotations = [\n  \"org.rro-runc.*\",\n  \"io.x\", # mine\n]\n",
			"pod_annotations = [\n  \"org.rro-runc.policy\", \"org.rro-runc.exclude\",\n  \"io.x\", # mine\n]\n"},
		{"one of them already there", "pod_annotations = [\"org.rro-runc.policy\", \"org.rro-runc.*\"]\n",
			"pod_annotations = [\"org.rro-runc.policy\", \"org.rro-runc.exclude\"]\n"},
		{"both there", "pod_annotations = [\"org.rro-runc.*\", \"org.rro-runc.exclude\", \"org.rro-runc.policy\"]\n",
			"pod_annotations = [\"org.rro-runc.exclude\", \"org.rro-runc.policy\"]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := edit(t, Containerd, head+tc.in+tail, opts()); out != head+tc.want+tail {
				t.Errorf("got:\n%s\nwant:\n%s", out, head+tc.want+tail)
			}
		})
	}
	// The older rroctl's whole output becomes today's, byte for byte.
	old := strings.ReplaceAll(edit(t, Containerd, "", opts()), `"org.rro-runc.policy", "org.rro-runc.exclude"`, `"org.rro-runc.*"`)
	if out, fresh := edit(t, Containerd, old, opts()), edit(t, Containerd, "", opts()); out != fresh {
		t.Errorf("upgraded:\n%s\nwritten today:\n%s", out, fresh)
	}
	// A pattern the user added that still lets the record through is
	// kept, but reported.
	out := edit(t, Containerd, head+"pod_annotations = [\"org.*\"]\n"+tail, opts())
	if w := warnings(Containerd, "config.toml", []byte(out), "rro"); len(w) != 1 || !strings.Contains(w[0], `"org.*"`) || !strings.Contains(w[0], "org.rro-runc.applied") {
		t.Errorf("warnings %q for\n%s", w, out)
	}
	if w := warnings(Containerd, "config.toml", []byte(edit(t, Containerd, "", opts())), "rro"); len(w) != 0 {
		t.Errorf("warnings %q for rroctl's own handler", w)
	}
}
