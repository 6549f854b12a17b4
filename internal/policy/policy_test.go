package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, `
# an admin's file
policy = "Enabled"
runtime = "/usr/bin/crun"
exclude = ["/dev", "/data/scratch"]
propagation = "lenient"
allow_annotation_opt_out = true
`)
	tests := []struct {
		name        string
		o           Overrides
		env         map[string]string
		wantPolicy  Policy
		wantRuntime string
		wantSources map[string]Source
	}{
		{
			name: "file only", o: Overrides{Config: file},
			wantPolicy: Enabled, wantRuntime: "/usr/bin/crun",
			wantSources: map[string]Source{"policy": FromFile, "runtime": FromFile, "file": FromFlag},
		},
		{
			name: "env beats file", env: map[string]string{EnvConfig: file, EnvPolicy: "Disabled", EnvRuntime: "runc"},
			wantPolicy: Disabled, wantRuntime: "runc",
			wantSources: map[string]Source{"policy": FromEnv, "runtime": FromEnv, "file": FromEnv},
		},
		{
			name: "flag beats env", o: Overrides{Config: file, Policy: "ifpossible", Runtime: "/x/runc"},
			env:        map[string]string{EnvPolicy: "Disabled", EnvRuntime: "runc"},
			wantPolicy: IfPossible, wantRuntime: "/x/runc",
			wantSources: map[string]Source{"policy": FromFlag, "runtime": FromFlag},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(tc.o, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.Policy != tc.wantPolicy || s.Runtime != tc.wantRuntime {
				t.Errorf("got policy %v runtime %q, want %v %q", s.Policy, s.Runtime, tc.wantPolicy, tc.wantRuntime)
			}
			for k, v := range tc.wantSources {
				if s.Sources[k] != v {
					t.Errorf("source of %s = %q, want %q", k, s.Sources[k], v)
				}
			}
			if !slices.Equal(s.Exclude, []string{"/dev", "/data/scratch"}) || s.Propagation != Lenient || !s.AllowAnnotationOptOut {
				t.Errorf("file keys not applied: %+v", s)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	// The default file does not exist on a test machine; if it does, the
	// machine is configured and this test says nothing about defaults.
	if _, err := os.Stat(DefaultFile); err == nil {
		t.Skipf("%s exists on this machine", DefaultFile)
	}
	s, err := Load(Overrides{}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Policy != IfPossible || s.Runtime != "" || s.Propagation != Strict || s.AllowAnnotationOptOut || s.FileFound {
		t.Errorf("defaults wrong: %+v", s)
	}
	if !slices.Equal(s.Exclude, DefaultExclude) {
		t.Errorf("default exclude %q", s.Exclude)
	}
	for k, src := range s.Sources {
		if src != FromDefault {
			t.Errorf("source of %s = %s, want default", k, src)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	unreadable := writeFile(t, `policy = "Enabled"`)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		body    string // file contents; "" with path set uses path
		path    string
		env     map[string]string
		o       Overrides
		wantErr error
		wantIn  []string
	}{
		{name: "not TOML", body: "policy = = Enabled", wantErr: ErrConfigFile, wantIn: []string{"config.toml"}},
		{name: "unknown key", body: "policy = \"Enabled\"\npolcy = \"x\"\n", wantErr: ErrInvalidSetting, wantIn: []string{`"polcy"`, "config.toml", "line 2"}},
		{name: "a table", body: "[extra]\nx = 1\n", wantErr: ErrConfigFile, wantIn: []string{"tables", "line 1"}},
		{name: "duplicate key", body: "policy = \"Enabled\"\npolicy = \"Disabled\"\n", wantErr: ErrConfigFile, wantIn: []string{"twice", "line 2"}},
		{name: "boolean of the wrong type", body: "allow_annotation_opt_out = \"yes\"\n", wantErr: ErrInvalidSetting, wantIn: []string{"allow_annotation_opt_out", "boolean"}},
		{name: "exclude not an array", body: "exclude = \"/dev\"\n", wantErr: ErrInvalidSetting, wantIn: []string{"exclude", "array"}},
		{name: "unknown policy", body: `policy = "Always"`, wantErr: ErrUnknownPolicy, wantIn: []string{`"Always"`, `key "policy"`}},
		{name: "policy of the wrong type", body: `policy = 3`, wantErr: ErrConfigFile, wantIn: []string{"line 1"}},
		{name: "policy boolean", body: `policy = true`, wantErr: ErrInvalidSetting, wantIn: []string{`"policy" must be a string`}},
		{name: "unknown propagation", body: `propagation = "loose"`, wantErr: ErrUnknownPropagation, wantIn: []string{`"loose"`}},
		{name: "relative exclude", body: `exclude = ["data"]`, wantErr: ErrInvalidSetting, wantIn: []string{`"data"`, "exclude"}},
		{name: "empty runtime", body: `runtime = ""`, wantErr: ErrInvalidSetting, wantIn: []string{"runtime"}},
		{name: "explicit file missing", path: missing, wantErr: ErrConfigFile, wantIn: []string{missing}},
		{name: "env file missing", env: map[string]string{EnvConfig: missing}, wantErr: ErrConfigFile, wantIn: []string{missing}},
		{name: "unknown policy in env", body: "", env: map[string]string{EnvPolicy: "yes"}, wantErr: ErrUnknownPolicy, wantIn: []string{EnvPolicy, `"yes"`}},
		{name: "unknown policy in flag", body: "", o: Overrides{Policy: "on"}, wantErr: ErrUnknownPolicy, wantIn: []string{"--rro-policy", `"on"`}},
	}
	if os.Geteuid() != 0 {
		tests = append(tests, struct {
			name    string
			body    string
			path    string
			env     map[string]string
			o       Overrides
			wantErr error
			wantIn  []string
		}{name: "unreadable", path: unreadable, wantErr: ErrConfigFile, wantIn: []string{unreadable}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			switch {
			case tc.path != "":
				o.Config = tc.path
			case tc.env[EnvConfig] == "":
				o.Config = writeFile(t, tc.body)
			}
			_, err := Load(o, envOf(tc.env))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Load = %v, want %v", err, tc.wantErr)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestLoadNeverBlocks: a FIFO or a device where the file belongs is an
// error, not a hang of every runtime call on the node.
func TestLoadNeverBlocks(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero", t.TempDir()} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(Overrides{Config: path}, envOf(nil))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrConfigFile) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load(%s) = %v, want ErrConfigFile naming it", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) blocked", path)
		}
		if got := RuntimeName(Overrides{Config: path}, envOf(nil)); got != "" {
			t.Errorf("RuntimeName(%s) = %q", path, got)
		}
	}
}

func TestRuntimeNameSurvivesABrokenFile(t *testing.T) {
	broken := writeFile(t, "policy = [[[ \nruntime = \"/usr/bin/crun\"")
	good := writeFile(t, "policy = \"nonsense\"\nruntime = \"/usr/bin/crun\"\nbogus = \"x\"\n")
	tests := []struct {
		name string
		o    Overrides
		env  map[string]string
		want string
	}{
		{"flag wins without reading", Overrides{Runtime: "/a/runc", Config: broken}, nil, "/a/runc"},
		{"env wins without reading", Overrides{Config: broken}, map[string]string{EnvRuntime: "crun"}, "crun"},
		{"broken file means discover", Overrides{Config: broken}, nil, ""},
		{"missing file means discover", Overrides{Config: "/nonexistent/rro.toml"}, nil, ""},
		{"other keys invalid, runtime still read", Overrides{Config: good}, nil, "/usr/bin/crun"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RuntimeName(tc.o, envOf(tc.env)); got != tc.want {
				t.Errorf("RuntimeName = %q, want %q", got, tc.want)
			}
		})
	}
}
