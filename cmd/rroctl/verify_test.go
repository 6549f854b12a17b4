package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/moby/sys/mountinfo"

	"github.com/rro-runc/rro-runc/internal/policy"
)

// A container's mount table: / read-only, a volume at /vol whose host
// source held a tmpfs at sub/ holding another at sub/deep, a second
// volume /data made rro, and /cfg whose writable tmpfs was covered by a
// read-only one mounted on top at the same place, and /st, a stack of
// three mounts at one place.
const containerMountinfo = `100 90 0:50 / / ro,relatime - overlay overlay rw,lowerdir=/l
101 100 0:51 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
102 100 0:52 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755
103 102 0:53 / /dev/shm rw,nosuid,nodev,noexec - tmpfs shm rw
110 100 8:1 /srv/vol /vol ro,relatime - ext4 /dev/sda1 rw
111 110 0:60 / /vol/sub rw,relatime - tmpfs tmpfs rw
112 111 0:61 / /vol/sub/deep rw,relatime - tmpfs tmpfs rw
113 110 0:62 / /vol/b ro,relatime - squashfs /dev/loop0 ro
114 110 0:63 / /vol/c rw,relatime - iso9660 /dev/sr0 ro
120 100 8:1 /srv/data /data ro,relatime - ext4 /dev/sda1 rw
121 120 0:64 / /data/sub ro,relatime - tmpfs tmpfs rw
130 100 0:65 / /cfg rw - tmpfs tmpfs rw
131 130 0:66 / /cfg/inner rw - tmpfs tmpfs rw
132 130 0:67 / /cfg ro - tmpfs tmpfs rw
133 132 0:68 / /cfg/x ro - tmpfs tmpfs rw
140 100 0:70 / /st rw - tmpfs tmpfs rw
141 140 0:71 / /st ro - tmpfs tmpfs rw
142 141 0:72 / /st ro - tmpfs tmpfs rw
143 142 0:73 / /st/in ro - tmpfs tmpfs rw
144 140 0:74 / /st/old rw - tmpfs tmpfs rw
`

func parseFixture(t *testing.T) []*mountinfo.Info {
	t.Helper()
	ms, err := parseMountinfo(strings.NewReader(containerMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestVerifyVolumeTree(t *testing.T) {
	ms := parseFixture(t)
	for _, tc := range []struct {
		dest      string
		writable  []string
		protected bool
		tree      string
	}{
		{"/vol", []string{"/vol/sub", "/vol/sub/deep"}, false, "" +
			"ro  /vol                   ext4      /dev/sda1\n" +
			"ro  ├── /vol/b             squashfs  /dev/loop0\n" +
			"ro  ├── /vol/c             iso9660   /dev/sr0\n" +
			"rw  └── /vol/sub           tmpfs     tmpfs\n" +
			"rw      └── /vol/sub/deep  tmpfs     tmpfs\n"},
		{"/data", []string{}, true, "" +
			"ro  /data          ext4   /dev/sda1\n" +
			"ro  └── /data/sub  tmpfs  tmpfs\n"},
		{"/cfg", []string{}, true, "" +
			"rw  /cfg            tmpfs  tmpfs (covered: not reachable, not counted)\n" +
			"ro  ├── /cfg        tmpfs  tmpfs\n" +
			"ro  │   └── /cfg/x  tmpfs  tmpfs\n" +
			"rw  └── /cfg/inner  tmpfs  tmpfs (covered: not reachable, not counted)\n"},
		{"/st", []string{}, true, "" +
			"rw  /st                 tmpfs  tmpfs (covered: not reachable, not counted)\n" +
			"ro  ├── /st             tmpfs  tmpfs (covered: not reachable, not counted)\n" +
			"ro  │   └── /st         tmpfs  tmpfs\n" +
			"ro  │       └── /st/in  tmpfs  tmpfs\n" +
			"rw  └── /st/old         tmpfs  tmpfs (covered: not reachable, not counted)\n"},
		{"/nothing", []string{}, false, ""},
	} {
		t.Run(tc.dest, func(t *testing.T) {
			v := verifyVolume(volume{destination: tc.dest}, ms, coveredMounts(ms))
			if !slices.Equal(v.Writable, tc.writable) || v.Protected != tc.protected {
				t.Errorf("writable %q protected %v, want %q %v", v.Writable, v.Protected, tc.writable, tc.protected)
			}
			if v.Missing != (tc.dest == "/nothing") {
				t.Errorf("missing = %v", v.Missing)
			}
			var buf bytes.Buffer
			w := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
			printTree(w, v.Mounts)
			w.Flush()
			var got strings.Builder
			for _, line := range strings.SplitAfter(buf.String(), "\n") {
				got.WriteString(strings.TrimPrefix(line, "  "))
			}
			if tc.tree != "" && got.String() != tc.tree {
				t.Errorf("tree:\n%s\nwant:\n%s", got.String(), tc.tree)
			}
		})
	}
}

func TestVolumesFromMountinfo(t *testing.T) {
	ms := parseFixture(t)
	var got []string
	for _, v := range volumesFromMountinfo(ms, []string{"/dev", "/proc", "/sys"}) {
		got = append(got, v.destination+" "+v.source)
	}
	// Not /: a read-only rootfs is not a volume. Not /vol/b: it is part of
	// /vol's tree. Not the covered /cfg, but the /cfg on top.
	want := []string{"/cfg tmpfs", "/data /dev/sda1[/srv/data]", "/st tmpfs", "/vol /dev/sda1[/srv/vol]"}
	if !slices.Equal(got, want) {
		t.Errorf("volumes %q, want %q", got, want)
	}
}

func TestVolumesFromBundle(t *testing.T) {
	isolate(t)
	dir := writeConfig(t, `{"mounts":[
		{"destination":"/proc","type":"proc","source":"proc"},
		{"destination":"/vol","source":"/a","options":["rbind","ro"]},
		{"destination":"/vol/","source":"/b","options":["rbind","ro","rro"]},
		{"destination":"/etc/hosts","source":"/h","options":["bind","ro"]},
		{"destination":"/rw","source":"/r","options":["rbind","ro","rw"]},
		{"destination":"/dev/shm","source":"/dev/shm","options":["rbind","ro"]},
		{"destination":"/hostdev","source":"/dev","options":["rbind","ro"]}]}`)
	s, err := policy.Load(policy.Overrides{}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := volumesFromBundle(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vols {
		got = append(got, fmt.Sprintf("%s %s %s %q", v.destination, v.source, strings.Join(v.options, ","), v.excludedBy))
	}
	// The last mount at a destination is the one the container sees.
	want := []string{`/vol /b rbind,ro,rro ""`, `/etc/hosts /h bind,ro ""`, `/dev/shm /dev/shm rbind,ro ""`, `/hostdev /dev rbind,ro "/dev"`}
	if !slices.Equal(got, want) {
		t.Errorf("volumes:\n%q\nwant:\n%q", got, want)
	}
}

// TestVerifyContainer runs verify by container ID against a fake runtime
// whose container is this test process: its mount table is real.
func TestVerifyContainer(t *testing.T) {
	configFile := isolate(t)
	state := func(status, bundle string) string {
		return fmt.Sprintf(`{"ociVersion":"1.0.2","id":"c1","pid":%d,"status":%q,"bundle":%q}`, os.Getpid(), status, bundle)
	}
	procOnly := writeConfig(t, `{"mounts":[{"destination":"/proc","source":"/proc","options":["rbind","ro"]}]}`)
	procFromVolume := writeConfig(t, `{"mounts":[{"destination":"/proc","source":"/srv/vol","options":["rbind","ro"]}]}`)
	missing := writeConfig(t, `{"mounts":[{"destination":"/nonexistent-volume","source":"/srv","options":["rbind","ro"]}]}`)
	none := writeConfig(t, `{"mounts":[{"destination":"/tmp","type":"tmpfs","source":"tmpfs"}]}`)
	notJSON := writeConfig(t, `{`)

	for _, tc := range []struct {
		name     string
		state    string
		config   string // rro-runc configuration
		args     []string
		code     int
		contains []string
	}{
		{"excluded volume is shown, not counted", state("running", procOnly), "", nil, 0,
			[]string{"container c1: running, pid", "volume /proc from /proc (rbind,ro)", "not counted: excluded by /proc", "result: ok: no read-only volume to verify"}},
		{"counted when not excluded: a destination excludes nothing by default", state("running", procFromVolume), "", nil, 1,
			[]string{"rw  /proc", "NOT PROTECTED: writable: /proc"}},
		{"volume not mounted", state("running", missing), "", nil, 1,
			[]string{"NOT PROTECTED: nothing is mounted at /nonexistent-volume"}},
		{"no volume", state("created", none), "", nil, 0,
			[]string{"no read-only volume: its config.json has no read-only bind mount"}},
		{"no such container", "", "", nil, 2, []string{"container c1", "container does not exist"}},
		{"stopped", `{"id":"c1","pid":0,"status":"stopped","bundle":"/b"}`, "", nil, 2, []string{"container c1 is stopped"}},
		{"state not JSON", "oops", "", nil, 2, []string{"printed no state JSON"}},
		{"bundle config not JSON", state("running", notJSON), "", nil, 2, []string{notJSON, "not valid JSON"}},
		{"bundle gone", state("running", "/nonexistent-bundle"), "", nil, 2, []string{"/nonexistent-bundle/config.json"}},
		{"--root is passed on", "", "", []string{"--root", "/run/somewhere"}, 2, []string{"--root /run/somewhere state c1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(configFile, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			rt := fakeRuntime(t, "runc version 1.1.5", featuresRRO, tc.state)
			args := append(append([]string{"verify", "--runtime", rt}, tc.args...), "c1")
			stdout, stderr, code := runApp(t, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.contains {
				if !strings.Contains(stdout+stderr, want) {
					t.Errorf("output lacks %q:\n%s%s", want, stdout, stderr)
				}
			}
		})
	}
}

func TestVerifyPid(t *testing.T) {
	isolate(t)
	stdout, stderr, code := runApp(t, "verify", "--format", "json", "--pid", fmt.Sprint(os.Getpid()))
	if code != 0 && code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep verifyReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if rep.Container != nil || rep.Pid != os.Getpid() || rep.VolumesFrom != "mountinfo" || rep.OK != (code == 0) {
		t.Errorf("report: %+v", rep)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pid", "2147483647"}, "process 2147483647 does not exist"},
		{[]string{"--pid", "0"}, "not a process ID"},
		{[]string{"--pid", "1", "c1"}, "not both"},
		{[]string{"--pid", "1", "--root", "/run/runc"}, "--pid asks no runtime"},
		{[]string{"--bundle", "/b", "c1"}, "--bundle is for --pid"},
		{nil, "name one container ID"},
		{[]string{"c1", "--root", "/x"}, `flag "--root" after`},
		{[]string{"--runtime", "/nonexistent/runc", "c1"}, "/nonexistent/runc"},
		{[]string{"--pid", "1", "--bundle", "/nonexistent-bundle"}, "/nonexistent-bundle/config.json"},
	} {
		_, stderr, code := runApp(t, append([]string{"verify"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("verify %q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestVerifyHostileMountinfo: parent loops cannot happen in a kernel's
// table, but a tree walk must not hang or recurse forever on one.
func TestVerifyHostileMountinfo(t *testing.T) {
	ms, err := parseMountinfo(strings.NewReader(`1 2 0:1 / /a ro - tmpfs t rw
2 1 0:2 / /a/b rw - tmpfs t rw
3 3 0:3 / /a/c rw - tmpfs t rw
4 5 0:4 / /a ro - tmpfs t rw
5 4 0:5 / /a ro - tmpfs t rw
`))
	if err != nil {
		t.Fatal(err)
	}
	covered := coveredMounts(ms)
	v := verifyVolume(volume{destination: "/a"}, ms, covered)
	if v.Protected {
		t.Errorf("a loop of mounts verified as protected: %+v", v)
	}
	volumesFromMountinfo(ms, nil)
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run/x", "data", "deep/a/b"} {
		if err := os.MkdirAll(root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"var":        "/",          // absolute: inside root, not the host's /
		"run-abs":    "/run",       // absolute
		"rel":        "deep/a",     // relative
		"up":         "../../data", // cannot climb out of root
		"loop":       "loop",       // a loop ends at the hop limit
		"deep/a/sib": "../a/b",
	} {
		if err := os.Symlink(target, root+"/"+link); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ dest, want string }{
		{"/run/x", "/run/x"},
		{"/var/run/x", "/run/x"},
		{"/run-abs/x", "/run/x"},
		{"/rel/b", "/deep/a/b"},
		{"/up", "/data"},
		{"/deep/a/sib", "/deep/a/b"},
		{"/missing/dir", "/missing/dir"},
		{"relative/dest", "/relative/dest"},
		{"/loop/x", "/loop/x"},
		{"/data/../run/./x", "/run/x"},
	} {
		if got := resolveIn(root, tc.dest); got != tc.want {
			t.Errorf("resolveIn(%q) = %q, want %q", tc.dest, got, tc.want)
		}
	}
}
