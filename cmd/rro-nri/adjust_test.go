package main

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/rewrite"
)

var (
	supported   = rewrite.Support{Supported: true}
	unsupported = rewrite.Support{Reason: "runtime fakert does not support rro"}
)

// What containerd's CRI plugin puts in a container's mounts, trimmed.
func criMounts(extra ...*api.Mount) []*api.Mount {
	return append([]*api.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/x/hosts", Options: []string{"rbind", "rprivate", "rw"}},
	}, extra...)
}

func vol(dest string, opts ...string) *api.Mount {
	return &api.Mount{Destination: dest, Type: "bind", Source: "/host" + dest, Options: opts}
}

type nriCase struct {
	name    string
	opts    rewrite.Options
	support rewrite.Support
	podAnn  map[string]string
	ctrAnn  map[string]string
	mounts  []*api.Mount
	// want is the options each adjusted destination gets; wantErr a
	// sentinel the error must wrap.
	want    map[string][]string
	wantErr error
}

var ifPossible = rewrite.Options{Policy: rewrite.IfPossible, Exclude: rewrite.DefaultExclude}
var enabled = rewrite.Options{Policy: rewrite.Enabled, Exclude: rewrite.DefaultExclude}

// cases are fed to the plugin's decide and to the wrapper's path (Analyze
// and Apply on the config.json the runtime would get): both must agree.
var cases = []nriCase{
	{name: "read-only rbind becomes rro", opts: ifPossible, support: supported,
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")),
		want:   map[string][]string{"/vol": {"rbind", "rprivate", "ro", "rro"}}},
	{name: "no read-only volume: nothing to do", opts: ifPossible, support: supported,
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "rw"))},
	{name: "recursive_read_only already rro passes unchanged", opts: enabled, support: unsupported,
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro", "rro"))},
	{name: "non-recursive bind left alone", opts: ifPossible, support: supported,
		mounts: criMounts(vol("/vol", "bind", "ro"))},
	{name: "IfPossible without support stays plain ro", opts: ifPossible, support: unsupported,
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"))},
	{name: "Enabled without support refuses", opts: enabled, support: unsupported,
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")), wantErr: rewrite.ErrUnsupported},
	{name: "Enabled strict adds rprivate when no propagation is given", opts: enabled, support: supported,
		mounts: criMounts(vol("/vol", "rbind", "ro")),
		want:   map[string][]string{"/vol": {"rbind", "ro", "rro", "rprivate"}}},
	{name: "Enabled strict refuses rslave", opts: enabled, support: supported,
		mounts: criMounts(vol("/vol", "rbind", "rslave", "ro")), wantErr: rewrite.ErrPropagation},
	{name: "Enabled lenient keeps rslave", opts: rewrite.Options{Policy: rewrite.Enabled, Propagation: rewrite.Lenient}, support: supported,
		mounts: criMounts(vol("/vol", "rbind", "rslave", "ro")),
		want:   map[string][]string{"/vol": {"rbind", "rslave", "ro", "rro"}}},
	{name: "configured exclusion", opts: rewrite.Options{Policy: rewrite.Enabled, Exclude: []string{"/data"}}, support: unsupported,
		mounts: criMounts(vol("/data/x", "rbind", "rprivate", "ro"))},
	{name: "exclude annotation without opt-out refuses", opts: ifPossible, support: supported,
		podAnn: map[string]string{rewrite.AnnotationExclude: "/vol"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")), wantErr: rewrite.ErrAnnotation},
	{name: "exclude annotation with opt-out", opts: rewrite.Options{Policy: rewrite.IfPossible, AllowAnnotationOptOut: true}, support: supported,
		podAnn: map[string]string{rewrite.AnnotationExclude: "/vol"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"), vol("/other", "rbind", "rprivate", "ro")),
		want:   map[string][]string{"/other": {"rbind", "rprivate", "ro", "rro"}}},
	{name: "policy annotation may raise", opts: ifPossible, support: unsupported,
		podAnn: map[string]string{rewrite.AnnotationPolicy: "Enabled"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")), wantErr: rewrite.ErrUnsupported},
	{name: "policy annotation may not lower without opt-out", opts: enabled, support: supported,
		podAnn: map[string]string{rewrite.AnnotationPolicy: "Disabled"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")), wantErr: rewrite.ErrAnnotation},
	{name: "container annotation beats the pod's", opts: rewrite.Options{Policy: rewrite.IfPossible, AllowAnnotationOptOut: true}, support: supported,
		podAnn: map[string]string{rewrite.AnnotationPolicy: "Disabled"},
		ctrAnn: map[string]string{rewrite.AnnotationPolicy: "IfPossible"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")),
		want:   map[string][]string{"/vol": {"rbind", "rprivate", "ro", "rro"}}},
	{name: "an unknown policy annotation refuses", opts: ifPossible, support: supported,
		podAnn: map[string]string{rewrite.AnnotationPolicy: "sometimes"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro")), wantErr: rewrite.ErrAnnotation},
	{name: "Disabled ignores an annotation asking for more", opts: rewrite.Options{Policy: rewrite.Disabled}, support: unsupported,
		podAnn: map[string]string{rewrite.AnnotationPolicy: "Enabled"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"))},
	{name: "the host's own /dev and /sys/fs/cgroup are excluded by source", opts: enabled, support: unsupported,
		mounts: criMounts(
			&api.Mount{Destination: "/host-dev", Type: "bind", Source: "/dev", Options: []string{"rbind", "ro"}},
			&api.Mount{Destination: "/sys/fs/cgroup", Type: "bind", Source: "/sys/fs/cgroup", Options: []string{"rbind", "ro"}})},
	{name: "a /dev destination from another source is not excluded", opts: enabled, support: unsupported,
		mounts: criMounts(vol("/dev/shm", "rbind", "ro")), wantErr: rewrite.ErrUnsupported},
	{name: "a forged applied annotation is removed, Disabled too", opts: rewrite.Options{Policy: rewrite.Disabled}, support: unsupported,
		ctrAnn: map[string]string{rewrite.AnnotationApplied: "/vol"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"))},
	{name: "a pod cannot forge the container's record", opts: ifPossible, support: unsupported,
		podAnn: map[string]string{rewrite.AnnotationApplied: "/vol"},
		mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"))},
}

func TestDecideLikeTheWrapper(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod := &api.PodSandbox{Name: "p", Namespace: "ns", Annotations: c.podAnn}
			ctr := &api.Container{Name: "c", Annotations: c.ctrAnn, Mounts: c.mounts}
			calls := 0
			a, err := decide(c.opts, func() rewrite.Support { calls++; return c.support }, pod, ctr)
			wrapperMounts, wrapperAnn, werr := wrapper(t, c)

			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("plugin: err = %v, want %v", err, c.wantErr)
				}
				if werr == nil || err.Error() != werr.Error() {
					t.Errorf("the wrapper says %v, the plugin %v", werr, err)
				}
				return
			}
			if err != nil || werr != nil {
				t.Fatalf("plugin: %v, wrapper: %v", err, werr)
			}
			if calls > 1 {
				t.Errorf("probed %d times for one container", calls)
			}
			got := applyAdjustment(c.mounts, a.Adjust)
			for _, m := range got {
				if !slices.Equal(m.Options, wrapperMounts[m.Destination]) {
					t.Errorf("%s: plugin gives %q, the wrapper %q", m.Destination, m.Options, wrapperMounts[m.Destination])
				}
				if w, ok := c.want[m.Destination]; ok && !slices.Equal(m.Options, w) {
					t.Errorf("%s: options %q, want %q", m.Destination, m.Options, w)
				}
			}
			if len(c.want) == 0 && len(a.Adjust.GetMounts()) > 0 {
				t.Errorf("mounts adjusted: %v, want none", a.Adjust.GetMounts())
			}
			ann := maps.Clone(c.ctrAnn)
			if ann == nil {
				ann = map[string]string{}
			}
			for k, v := range a.Adjust.GetAnnotations() {
				if key, removed := api.IsMarkedForRemoval(k); removed {
					delete(ann, key)
				} else {
					ann[k] = v
				}
			}
			for _, key := range owned {
				if ann[key] != wrapperAnn[key] {
					t.Errorf("%s = %q, the wrapper's %q", key, ann[key], wrapperAnn[key])
				}
			}
		})
	}
}

// wrapper runs the case the way rro-runc does: a config.json as the CRI
// plugin would write it (pod annotations passed through, container's on
// top), Analyze and Apply, and reads back the options and the annotation.
func wrapper(t *testing.T, c nriCase) (map[string][]string, map[string]string, error) {
	t.Helper()
	ann := map[string]string{}
	for k, v := range c.podAnn {
		ann[k] = v
	}
	for k, v := range c.ctrAnn {
		ann[k] = v
	}
	spec := specs.Spec{Version: "1.0.2", Annotations: ann}
	for _, m := range c.mounts {
		spec.Mounts = append(spec.Mounts, m.ToOCI(nil))
	}
	cfg, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rewrite.Analyze(cfg, c.opts)
	if err != nil {
		return nil, nil, err
	}
	var s rewrite.Support
	if plan.NeedsSupport() {
		s = c.support
	}
	res, err := plan.Apply(s)
	if err != nil {
		return nil, nil, err
	}
	var out specs.Spec
	if err := json.Unmarshal(res.Config, &out); err != nil {
		t.Fatal(err)
	}
	opts := map[string][]string{}
	for _, m := range out.Mounts {
		opts[m.Destination] = m.Options
	}
	return opts, out.Annotations, nil
}

// applyAdjustment does what NRI's generator does with the plugin's mount
// adjustment: a removal marker drops the destination, an added mount
// takes its place.
func applyAdjustment(mounts []*api.Mount, adj *api.ContainerAdjustment) []*api.Mount {
	out := slices.Clone(mounts)
	for _, m := range adj.GetMounts() {
		if dest, removed := m.IsMarkedForRemoval(); removed {
			out = slices.DeleteFunc(out, func(x *api.Mount) bool { return x.Destination == dest })
			continue
		}
		out = slices.DeleteFunc(out, func(x *api.Mount) bool { return x.Destination == m.Destination })
		out = append(out, m)
	}
	return out
}

func TestDecideProbesOnlyWhenNeeded(t *testing.T) {
	calls := 0
	probe := func() rewrite.Support { calls++; return supported }
	ctr := &api.Container{Mounts: criMounts(vol("/vol", "rbind", "rprivate", "rw"))}
	if _, err := decide(enabled, probe, &api.PodSandbox{}, ctr); err != nil {
		t.Fatal(err)
	}
	if _, err := decide(rewrite.Options{Policy: rewrite.Disabled}, probe, &api.PodSandbox{}, &api.Container{Mounts: criMounts(vol("/vol", "rbind", "ro"))}); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("probed %d times for containers whose outcome does not depend on support", calls)
	}
}

func TestDecideSharedDestination(t *testing.T) {
	mounts := criMounts(vol("/vol", "rbind", "rprivate", "ro"), vol("/vol", "rbind", "rprivate", "ro"))
	_, err := decide(enabled, func() rewrite.Support { return supported }, &api.PodSandbox{}, &api.Container{Mounts: mounts})
	if !errors.Is(err, rewrite.ErrRefused) || !strings.Contains(err.Error(), "2 mounts share the destination /vol") {
		t.Errorf("Enabled: err = %v, want a refusal naming /vol", err)
	}
	a, err := decide(ifPossible, func() rewrite.Support { return supported }, &api.PodSandbox{}, &api.Container{Mounts: mounts})
	if err != nil || a.Adjust != nil || len(a.Skipped) != 1 {
		t.Errorf("IfPossible: adjustment %v, skipped %q, err %v; want none, one note, nil", a.Adjust, a.Skipped, err)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"--nri-socket", "/x.sock", "--handler-runtime", "kata=/usr/bin/kata", "--policy", "Enabled"}, io.Discard)
	if err != nil || c.socket != "/x.sock" || c.handlers["kata"] != "/usr/bin/kata" || c.policyName != "Enabled" {
		t.Fatalf("parseFlags: %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"--handler-runtime", "kata"}, {"extra"}, {"--probe-timeout", "0s"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// TestDaemonSetManifest: deploy/nri-daemonset.yaml runs this binary where
// the installer image puts it, with flags it accepts.
func TestDaemonSetManifest(t *testing.T) {
	b, err := os.ReadFile("../../deploy/nri-daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, `command: ["/usr/local/bin/rro-nri"]`) {
		t.Errorf("the manifest does not run /usr/local/bin/rro-nri, where the image (Dockerfile) installs it")
	}
	var args []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "args:":
			in = true
		case in && strings.HasPrefix(trimmed, "- "):
			args = append(args, strings.TrimPrefix(trimmed, "- "))
		case in:
			in = false
		}
	}
	if len(args) == 0 {
		t.Fatal("no args in the manifest")
	}
	c, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("rro-nri rejects the manifest's args %q: %v", args, err)
	}
	if c.hostRoot != "/host" || !strings.Contains(text, "mountPath: /host\n") {
		t.Errorf("--host-root %q must be where the node's / is mounted (/host)", c.hostRoot)
	}
}
