package argv

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestRuncHelpSuite is runc v1.1.5's tests/integration/help.bats as it
// concerns rro-runc: every line there is answered by runc itself (help
// text, exit 0; "runc foo -h": "No help topic for 'foo'", exit 3), so
// every one must pass straight through, the runtime's arguments unchanged,
// no bundle read. Before this change "create -h", "run -h" and "restore
// -h" were taken for containers to create.
func TestRuncHelpSuite(t *testing.T) {
	lines := []string{"-h", "--help", "foo -h"}
	for _, cmd := range []string{"checkpoint", "delete", "events", "exec", "kill", "list", "pause",
		"restore", "resume", "spec", "start", "run", "state", "update", "create"} {
		lines = append(lines, cmd+" -h")
	}
	lines = append(lines, "list --help")
	for _, line := range lines {
		assertPassThrough(t, line)
	}
}

// TestHelpIsNotACreate: every way runc 1.1 or crun answers create, run or
// restore by itself. Each line was run against runc 1.1.5 and crun 1.8.1
// on this project's machine: neither created a container.
func TestHelpIsNotACreate(t *testing.T) {
	for _, cmd := range []string{"create", "run", "restore"} {
		for _, rest := range []string{
			"-h", "--help", "-help", "--help=true", "-h=1", "-h ID", "ID -h", "ID --help",
			"--bundle /b -h ID", "ID --bundle /b --help", "--pid-file /p -h ID",
			"-h --help=false ID",                        // both spellings: runc refuses ("two forms of the same flag")
			"--help=maybe ID",                           // runc: invalid boolean; crun: --help takes no value
			"-? ID", "--usage ID", "--he ID", "--us ID", // crun's argp help, usage and prefixes
			"",            // no container ID
			"ID1 ID2 ID3", // too many
			"ID -- -h",    // "-h" after "--" is a second ID
			"-b",          // missing value
		} {
			if cmd == "restore" && (rest == "ID1 ID2 ID3" || rest == "ID -h" || rest == "ID --help") {
				continue // crun restore takes a second argument: see TestStillACreate
			}
			assertPassThrough(t, strings.TrimSpace(cmd+" "+rest))
		}
	}
	for _, line := range []string{
		"--help create ID", "-h create ID", "--version create ID", "-v create ID",
		"-V create ID", "-? create ID", "--usage create ID", "--vers run ID",
		"help create", "h create", "help run", "help restore",
		"--root /r --log /l --log-format json create --bundle /b --pid-file /p --help ID",
		"--rro-policy=Enabled create -h",
		"--log", "--debug=maybe create ID",
	} {
		assertPassThrough(t, line)
	}
}

func assertPassThrough(t *testing.T, line string) {
	t.Helper()
	in := strings.Fields(line)
	inv, err := Parse(in)
	if err != nil {
		t.Errorf("Parse(%q): %v", line, err)
		return
	}
	if inv.Rewrites() {
		t.Errorf("Parse(%q) rewrites bundle %q (%s reading); the runtime answers this line itself", line, inv.Bundle, inv.Command)
	}
	want := slices.DeleteFunc(slices.Clone(in), func(a string) bool { return strings.HasPrefix(a, "--rro-") })
	if !slices.Equal(inv.Args, want) {
		t.Errorf("Parse(%q) hands the runtime %q", line, inv.Args)
	}
}

// TestStillACreate: lines that look like help or a usage error but that
// runc or crun runs as a create. Passing any of them through would start
// a container without rro.
func TestStillACreate(t *testing.T) {
	tests := []struct{ line, id, bundle, config string }{
		{"create -- -h", "-h", "", ""},            // after "--", -h is the ID
		{"create --pid-file -h ID", "ID", "", ""}, // -h is the pid file
		{"create --console-socket --help ID", "ID", "", ""},
		{"create --help=false ID", "ID", "", ""},        // runc: help off
		{"create --help --help=false ID", "ID", "", ""}, // runc: the last one wins
		{"create -h=false -b /b ID", "ID", "/b", ""},
		{"create help", "help", "", ""}, // a container named help
		{"run -d ID", "ID", "", ""},
		{"restore ID extra", "ID", "", ""}, // crun restore takes a second argument
		{"restore --image-path /i -b /b ID", "ID", "/b", ""},
		// crun's argp forms, which runc refuses and crun runs.
		{"create -bDIR ID", "ID", "DIR", ""},
		{"create -b=DIR ID", "ID", "DIR", ""}, // runc's reading; crun's "=DIR" in TestChoose
		{"run -dbDIR ID", "ID", "DIR", ""},
		{"run -db DIR ID", "ID", "DIR", ""},
		{"run -d -fother.json -b /b ID", "ID", "/b", "other.json"},
		{"create --bund /x ID", "ID", "/x", ""},
		{"create --b=/x ID", "ID", "/x", ""},
		{"create --conf c.json ID", "ID", "", "c.json"},
		{"--ro /r create -b /b ID", "ID", "/b", ""}, // crun 1.8.1: --ro is --root
		{"--cgroup-m cgroupfs create -b /b ID", "ID", "/b", ""},
		{"restore ID -h", "ID", "", ""}, // crun: -h is restore's second argument
		{"restore ID --help", "ID", "", ""},
		{"--cgroup-manager cgroupfs create -b /b ID", "ID", "/b", ""},
		{"-- create -b /b ID", "ID", "/b", ""},
		// A flag neither runc nor crun defines: another runtime may, so
		// help or not, the line is rewritten, reading what is known.
		{"--runtime-flag-unused create --bundle /u ID", "ID", "/u", ""},
		{"create --weird -h -b /b ID", "ID", "/b", ""},
		{"--weird create --help", "", "", ""},
		{"create --bundle /b --future-flag ID", "ID", "/b", ""},
		{"create -b /b ID --future-flag", "ID", "/b", ""}, // runc and crun count two IDs
		{"run ID -b /b --future-flag=1", "ID", "/b", ""},
	}
	for _, tc := range tests {
		inv, err := Parse(strings.Fields(tc.line))
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.line, err)
		}
		if !inv.Rewrites() {
			t.Errorf("Parse(%q) passes through a line a runtime runs as %s", tc.line, inv.Command)
			continue
		}
		if inv.ContainerID != tc.id || inv.Bundle != tc.bundle || inv.ConfigFile != tc.config {
			t.Errorf("Parse(%q): id %q bundle %q config %q, want %q %q %q", tc.line,
				inv.ContainerID, inv.Bundle, inv.ConfigFile, tc.id, tc.bundle, tc.config)
		}
	}
}

// TestChoose: runc and crun both run the line but read different bundles;
// the one whose config file exists is the one the runtime can create from.
func TestChoose(t *testing.T) {
	for _, line := range []string{"create -b=/x ID", "create -bundle=/x ID", "run -b=/x -d ID"} {
		alt := "=/x/config.json"
		if strings.Contains(line, "-bundle") {
			alt = "undle=/x/config.json"
		}
		for _, tc := range []struct {
			exists  []string
			want    string
			refused bool
		}{
			{[]string{"/x/config.json"}, "/x/config.json", false},
			{[]string{alt}, alt, false},
			{nil, "/x/config.json", false}, // reading it fails, naming it
			{[]string{"/x/config.json", alt}, "", true},
		} {
			inv, err := Parse(strings.Fields(line))
			if err != nil || inv.Alternative == nil {
				t.Fatalf("Parse(%q) = %+v, %v: want two readings", line, inv, err)
			}
			err = inv.Choose(func(p string) bool { return slices.Contains(tc.exists, p) })
			if tc.refused {
				if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), alt) {
					t.Errorf("%q with %q: %v, want ErrAmbiguous naming both", line, tc.exists, err)
				}
				continue
			}
			if err != nil || inv.ConfigPath() != tc.want || !inv.Rewrites() || inv.ContainerID != "ID" {
				t.Errorf("%q with %q: %v, config %q, want %q", line, tc.exists, err, inv.ConfigPath(), tc.want)
			}
		}
	}
	inv, _ := Parse(strings.Fields("create --bundle /b ID"))
	if inv.Alternative != nil {
		t.Errorf("runc and crun agree on --bundle /b, yet an alternative %+v", inv.Alternative)
	}
}
