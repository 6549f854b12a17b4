package configure

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// daemonJSON is a daemon.json as users write it: four-space indent, keys
// in no particular order, another runtime already there.
const daemonJSON = `{
    "log-driver": "json-file",
    "runtimes": {
        "runsc": {
            "path": "/usr/local/bin/runsc"
        }
    },
    "data-root": "/srv/docker",
    "default-runtime": "runc",
    "insecure-registries": ["<none>&"]
}
`

type dockerRuntime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs"`
}

type daemonConfig struct {
	Runtimes       map[string]dockerRuntime `json:"runtimes"`
	DefaultRuntime string                   `json:"default-runtime"`
}

// topKeys is the daemon.json's top-level keys in written order.
func topKeys(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v\n%s", err, s)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestDocker(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          string
		o           Options
		wantArgs    []string
		wantDefault string
		wantKeys    []string // top-level keys, in order
		also        func(t *testing.T, out string)
	}{
		{name: "empty file", in: "", o: opts(), wantKeys: []string{"runtimes"},
			also: func(t *testing.T, out string) {
				want := "{\n  \"runtimes\": {\n    \"rro\": {\n      \"path\": \"" + testBinary + "\"\n    }\n  }\n}\n"
				if out != want {
					t.Errorf("got\n%s\nwant\n%s", out, want)
				}
			}},
		{name: "empty object", in: "{}", o: opts(func(o *Options) { o.SetAsDefault = true }), wantDefault: "rro",
			wantKeys: []string{"runtimes", "default-runtime"}},
		{name: "existing settings kept in order", in: daemonJSON, o: opts(),
			wantDefault: "runc",
			wantKeys:    []string{"log-driver", "runtimes", "data-root", "default-runtime", "insecure-registries"},
			also: func(t *testing.T, out string) {
				for _, line := range strings.Split(daemonJSON, "\n") {
					if line != "        }" && !strings.Contains(out, line) {
						t.Errorf("line %q is gone:\n%s", line, out)
					}
				}
				if !strings.Contains(out, "\n        \"rro\": {\n            \"path\"") {
					t.Errorf("not indented like the file:\n%s", out)
				}
			}},
		{name: "set as default replaces default-runtime in place", in: daemonJSON,
			o:           opts(func(o *Options) { o.SetAsDefault = true }),
			wantDefault: "rro",
			wantKeys:    []string{"log-driver", "runtimes", "data-root", "default-runtime", "insecure-registries"}},
		{name: "policy and custom name", in: daemonJSON,
			o:           opts(func(o *Options) { o.RuntimeName = "rro-enabled"; o.Policy = "enabled" }),
			wantArgs:    []string{"--rro-policy=Enabled"},
			wantDefault: "runc",
			wantKeys:    []string{"log-driver", "runtimes", "data-root", "default-runtime", "insecure-registries"}},
		{name: "policy replaced, other runtime args kept",
			in: `{"runtimes": {"rro": {"path": "/old/rro-runc", "runtimeArgs": ["--rro-policy", "Disabled", "--debug", "--rro-policy=Enabled"], "x": 1}}}`,
			o:  opts(func(o *Options) { o.Policy = "IfPossible" }), wantArgs: []string{"--rro-policy=IfPossible", "--debug"},
			wantKeys: []string{"runtimes"},
			also: func(t *testing.T, out string) {
				if strings.Contains(out, "\n") {
					t.Errorf("one-line file made multi-line:\n%s", out)
				}
				if !strings.Contains(out, `"x": 1`) {
					t.Errorf("the runtime's other key is gone: %s", out)
				}
			}},
		{name: "no policy leaves runtime args alone",
			in:       `{"runtimes": {"rro": {"path": "/old", "runtimeArgs": ["--rro-policy=Enabled"]}}}`,
			o:        opts(),
			wantArgs: []string{"--rro-policy=Enabled"}, wantKeys: []string{"runtimes"}},
		{name: "tabs", in: "{\n\t\"debug\": true\n}\n", o: opts(), wantKeys: []string{"debug", "runtimes"},
			also: func(t *testing.T, out string) {
				want := "{\n\t\"debug\": true,\n\t\"runtimes\": {\n\t\t\"rro\": {\n\t\t\t\"path\": \"" + testBinary + "\"\n\t\t}\n\t}\n}\n"
				if out != want {
					t.Errorf("got\n%s\nwant\n%s", out, want)
				}
			}},
		{name: "empty runtimes object", in: "{\n  \"runtimes\": {}\n}", o: opts(), wantKeys: []string{"runtimes"}},
		{name: "duplicate key: the last one, which dockerd reads, is edited",
			in: `{"runtimes": {"rro": {"path": "/x"}}, "runtimes": {}}`, o: opts(), wantKeys: []string{"runtimes", "runtimes"},
			also: func(t *testing.T, out string) {
				if want := `{"runtimes": {"rro": {"path": "/x"}}, "runtimes": {"rro": {"path": "` + testBinary + `"}}}`; out != want {
					t.Errorf("got\n%s\nwant\n%s", out, want)
				}
			}},
		{name: "binary with characters JSON escapes", in: "{}", o: opts(func(o *Options) { o.Binary = `/opt/a"b\c<d>/rro-runc` }),
			wantKeys: []string{"runtimes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := edit(t, Docker, tc.in, tc.o)
			var cfg daemonConfig
			if err := json.Unmarshal([]byte(out), &cfg); err != nil {
				t.Fatalf("result is not JSON: %v\n%s", err, out)
			}
			rt, ok := cfg.Runtimes[tc.o.RuntimeName]
			if !ok || rt.Path != tc.o.Binary {
				t.Errorf("runtimes.%s = %+v, want path %s\n%s", tc.o.RuntimeName, rt, tc.o.Binary, out)
			}
			if !reflect.DeepEqual(rt.RuntimeArgs, tc.wantArgs) {
				t.Errorf("runtimeArgs = %q, want %q", rt.RuntimeArgs, tc.wantArgs)
			}
			if cfg.DefaultRuntime != tc.wantDefault {
				t.Errorf("default-runtime = %q, want %q", cfg.DefaultRuntime, tc.wantDefault)
			}
			if keys := topKeys(t, out); !reflect.DeepEqual(keys, tc.wantKeys) {
				t.Errorf("top-level keys %q, want %q", keys, tc.wantKeys)
			}
			if tc.in != "" && !bytes.HasSuffix([]byte(out), []byte("\n")) && strings.HasSuffix(tc.in, "\n") {
				t.Errorf("final newline lost")
			}
			if tc.also != nil {
				tc.also(t, out)
			}
		})
	}
}

func TestDockerAlreadyConfigured(t *testing.T) {
	for _, in := range []string{
		`{"runtimes":{"rro":{"path":"` + testBinary + `"}},"default-runtime":"rro"}`,
		"{\n  \"default-runtime\": \"rro\",\n  \"runtimes\": {\"rro\": {\"runtimeArgs\": [], \"path\": \"" + testBinary + "\"}}\n}\n",
	} {
		if out := edit(t, Docker, in, opts(func(o *Options) { o.SetAsDefault = true })); out != in {
			t.Errorf("a configured file changed:\n%s", UnifiedDiff("a", "b", []byte(in), []byte(out)))
		}
	}
}

func TestDockerRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		o    Options
		want error
	}{
		{"not JSON", "{\n  \"debug\": true,\n}\n", opts(), ErrParse},
		{"an array", "[]", opts(), ErrParse},
		{"two values", "{} {}", opts(), ErrParse},
		{"trailing garbage", "{}x", opts(), ErrParse},
		{"runtimes not an object", `{"runtimes": []}`, opts(), ErrUnsupported},
		{"runtime not an object", `{"runtimes": {"rro": "/x"}}`, opts(), ErrUnsupported},
		{"runtime args not strings", `{"runtimes": {"rro": {"runtimeArgs": [1]}}}`, opts(func(o *Options) { o.Policy = "Enabled" }), ErrUnsupported},
		{"bad policy", "{}", opts(func(o *Options) { o.Policy = "always" }), ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(editErr(t, Docker, tc.in, tc.o, tc.want))
		})
	}
}
