package nri

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// outcome is what a user sees of one container: refused (with the
// message), or what the probe found and the applied annotation.
type outcome struct {
	refused  string
	writable map[string]bool
	applied  string
}

func (o outcome) String() string {
	if o.refused != "" {
		return "refused: " + o.refused
	}
	return fmt.Sprintf("ran: writable=%v applied=%q", o.writable, o.applied)
}

// TestSameAsWrapper feeds the same cases, through one real containerd, to
// the wrapper (handler rro, BinaryName rro-runc, no plugin running) and to
// the plugin (default runc handler): exclusions, annotations and
// propagation must come out the same.
func TestSameAsWrapper(t *testing.T) {
	fixture.RequireRoot(t)
	vol := fixture.NestedVolume(t)
	// HOST_TO_CONTAINER propagation needs a shared source: containerd
	// checks it before any plugin or runtime sees the container.
	if err := unix.Mount(vol, vol, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", vol, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "rro-runc.toml")
	cache := t.TempDir()
	runc := fixture.Runc(t)
	c := newCD2(t, cd2Options{
		Handlers: map[string]string{"rro": fixture.RroRunc(t)},
		Env:      []string{"RRO_RUNC_CONFIG=" + conf, "RRO_RUNC_CACHE_DIR=" + cache},
	})
	c.start(t)

	type tc struct {
		name    string
		conf    string
		ann     map[string]string
		vol     volume
		want    outcome // refused holds a substring both messages carry
		refused bool
	}
	shared := func() volume { v := roVol(vol); v["propagation"] = 1; return v } // HOST_TO_CONTAINER: rslave
	cases := []tc{
		{name: "IfPossible", conf: `policy = "IfPossible"`, vol: roVol(vol),
			want: outcome{writable: fixture.WantRRO, applied: "/vol"}},
		{name: "configured exclusion", conf: "policy = \"Enabled\"\nexclude = [\"/vol\"]", vol: roVol(vol),
			want: outcome{writable: fixture.WantPlain}},
		{name: "exclude annotation with opt-out", conf: "policy = \"Enabled\"\nallow_annotation_opt_out = true",
			ann: map[string]string{"org.rro-runc.exclude": "/vol"}, vol: roVol(vol),
			want: outcome{writable: fixture.WantPlain}},
		{name: "exclude annotation without opt-out", conf: `policy = "IfPossible"`,
			ann: map[string]string{"org.rro-runc.exclude": "/vol"}, vol: roVol(vol), refused: true,
			want: outcome{refused: "org.rro-runc.exclude=/vol would exclude mounts, but allow_annotation_opt_out is false"}},
		{name: "policy annotation lowering without opt-out", conf: `policy = "Enabled"`,
			ann: map[string]string{"org.rro-runc.policy": "Disabled"}, vol: roVol(vol), refused: true,
			want: outcome{refused: "org.rro-runc.policy=Disabled would lower the policy from Enabled"}},
		{name: "policy annotation lowering with opt-out", conf: "policy = \"Enabled\"\nallow_annotation_opt_out = true",
			ann: map[string]string{"org.rro-runc.policy": "Disabled"}, vol: roVol(vol),
			want: outcome{writable: fixture.WantPlain}},
		{name: "rslave under Enabled strict", conf: `policy = "Enabled"`, vol: shared(), refused: true,
			want: outcome{refused: "has propagation rslave"}},
		{name: "rslave under Enabled lenient", conf: "policy = \"Enabled\"\npropagation = \"lenient\"", vol: shared(),
			want: outcome{writable: fixture.WantRRO, applied: "/vol"}},
	}

	run := func(t *testing.T, handler, name string, k tc) outcome {
		writeConf(t, conf, k.conf+"\nruntime = \""+runc+"\"\n")
		p, err := runPod(t, c, name, handler, k.ann)
		if err != nil {
			// The wrapper also sees the pod's annotations on the sandbox
			// container (pod_annotations), and refuses a bad one there:
			// the pod fails, not just the container. The plugin sees
			// only application containers.
			return outcome{refused: err.Error()}
		}
		out, applied, err := p.probe(t, []volume{k.vol})
		if err != nil {
			return outcome{refused: err.Error()}
		}
		return outcome{writable: fixture.ParseProbe(out), applied: applied}
	}
	wrapper := make([]outcome, len(cases))
	for i, k := range cases {
		t.Run("wrapper/"+k.name, func(t *testing.T) {
			wrapper[i] = run(t, "rro", fmt.Sprintf("w%d", i), k)
		})
	}
	startPlugin(t, c, "--config", conf, "--cache-dir", cache, "--runtime", runc)
	for i, k := range cases {
		t.Run("plugin/"+k.name, func(t *testing.T) {
			got := run(t, "", fmt.Sprintf("p%d", i), k)
			w := wrapper[i]
			t.Logf("wrapper: %s", w)
			t.Logf("plugin:  %s", got)
			if k.refused {
				for who, o := range map[string]outcome{"wrapper": w, "plugin": got} {
					if !strings.Contains(o.refused, k.want.refused) {
						t.Errorf("%s: want a refusal saying %q, got %s", who, k.want.refused, o)
					}
				}
				if !strings.Contains(got.refused, "rro-nri: ") || !strings.Contains(w.refused, "rro-runc: ") {
					t.Errorf("each refusal should name who refused")
				}
				return
			}
			// The wrapper writes org.rro-runc.applied into the runtime's
			// config.json, after containerd stored the spec crictl shows:
			// only the plugin's annotation is visible to crictl inspect.
			w.applied = k.want.applied
			for who, o := range map[string]outcome{"wrapper": w, "plugin": got} {
				if o.refused != "" || !reflect.DeepEqual(o.writable, k.want.writable) || o.applied != k.want.applied {
					t.Errorf("%s: %s, want %s", who, o, k.want)
				}
			}
		})
	}
}
