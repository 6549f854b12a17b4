package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mount returns a mounts[] element as a client would write it.
func mount(dest string, opts ...string) string {
	o, _ := json.Marshal(opts)
	return fmt.Sprintf(`{"destination":%q,"type":"bind","source":"/host%s","options":%s}`, dest, dest, o)
}

// config returns a config.json with the given mounts[] elements and, when
// annotations is not "", that raw annotations value.
func config(annotations string, mounts ...string) []byte {
	s := `{"ociVersion":"1.2.0","root":{"path":"rootfs"},"mounts":[` + strings.Join(mounts, ",") + `]`
	if annotations != "" {
		s += `,"annotations":` + annotations
	}
	return []byte(s + `}`)
}

var supported = Support{Supported: true}

func mustAnalyze(t *testing.T, cfg []byte, opts Options) *Plan {
	t.Helper()
	p, err := Analyze(cfg, opts)
	if err != nil {
		t.Fatalf("Analyze: %v\nconfig: %s", err, cfg)
	}
	checkRuncView(t, cfg, p)
	return p
}

func rewrite(t *testing.T, cfg []byte, opts Options, s Support) *Result {
	t.Helper()
	res, err := mustAnalyze(t, cfg, opts).Apply(s)
	if err != nil {
		t.Fatalf("Apply: %v\nconfig: %s", err, cfg)
	}
	checkOutput(t, cfg, opts, res)
	return res
}

// checkRuncView checks that the plan saw the mounts runc sees: those
// encoding/json decodes into specs.Spec.
func checkRuncView(t testing.TB, cfg []byte, p *Plan) {
	t.Helper()
	var spec specs.Spec
	if json.Unmarshal(cfg, &spec) != nil {
		return // runc would refuse it too; nothing to compare with
	}
	if len(spec.Mounts) != len(p.Mounts) {
		t.Fatalf("plan has %d mounts, encoding/json %d\nconfig: %s", len(p.Mounts), len(spec.Mounts), cfg)
	}
	for i, m := range spec.Mounts {
		d := p.Mounts[i]
		if d.Destination != m.Destination || d.Source != m.Source || d.Type != m.Type || !slices.Equal(d.Before, m.Options) {
			t.Fatalf("mounts[%d]: plan sees %q %q %q %q, encoding/json %q %q %q %q\nconfig: %s", i,
				d.Destination, d.Source, d.Type, d.Before, m.Destination, m.Source, m.Type, m.Options, cfg)
		}
	}
}

// checkOutput checks the properties every successful rewrite has: valid
// JSON, only insertions, the rewritten options as decided, and a fixed
// point.
func checkOutput(t testing.TB, in []byte, opts Options, res *Result) {
	t.Helper()
	if !res.Changed {
		if len(in) > 0 && &res.Config[0] != &in[0] {
			t.Fatalf("unchanged result is a copy, want the input slice itself")
		}
		if len(res.Applied) != 0 {
			t.Fatalf("unchanged, but Applied = %q", res.Applied)
		}
		return
	}
	if !json.Valid(res.Config) {
		t.Fatalf("output is not valid JSON:\n%s", res.Config)
	}
	again, err := Analyze(res.Config, opts)
	if err != nil {
		t.Fatalf("Analyze(output): %v\n%s", err, res.Config)
	}
	if again.NeedsSupport() {
		t.Fatalf("output still has candidates:\n%s", res.Config)
	}
	res2, err := again.Apply(Support{Supported: true})
	if err != nil || res2.Changed {
		t.Fatalf("rewriting the output again: changed=%v err=%v", res2.Changed, err)
	}
	for i, d := range again.Mounts {
		if want := res.Mounts[i].After; !slices.Equal(d.Before, want) {
			t.Fatalf("mounts[%d] options in output = %q, want %q", i, d.Before, want)
		}
	}
	var top struct{ Annotations map[string]string }
	if err := json.Unmarshal(res.Config, &top); err != nil {
		t.Fatalf("output annotations: %v", err)
	}
	for key, want := range res.AnnotationValues() {
		if got, ok := top.Annotations[key]; got != want || ok != (want != "") {
			t.Fatalf("annotation %s = %q (present %v), want %q", key, got, ok, want)
		}
	}
	// Without an applied list in the input, nothing is kept from one.
	if got := res.AnnotationValues()[AnnotationApplied]; !bytes.Contains(in, []byte("applied")) && got != strings.Join(res.Applied, ",") {
		t.Fatalf("annotation %s = %q, Applied %q", AnnotationApplied, got, res.Applied)
	}
}

func TestCandidate(t *testing.T) {
	tests := []struct {
		name      string
		opts      []string
		candidate bool
		reason    string
	}{
		{"ctr", []string{"rbind", "ro"}, true, "read-only recursive bind"},
		{"CRI", []string{"rbind", "rprivate", "ro"}, true, ""},
		{"Docker", []string{"rbind", "ro", "rprivate"}, true, ""},
		{"Podman", []string{"ro", "rprivate", "rbind"}, true, ""},
		{"nerdctl rro already", []string{"rbind", "ro", "rro"}, false, "already rro"},
		{"rrw opt-out", []string{"rbind", "ro", "rrw"}, false, "already rrw"},
		{"rw last wins", []string{"rbind", "ro", "rw"}, false, "read-write"},
		{"ro last wins", []string{"rbind", "rw", "ro"}, true, ""},
		{"no ro means rw", []string{"rbind"}, false, "read-write"},
		{"non-recursive bind", []string{"bind", "ro"}, false, "non-recursive"},
		{"rbind then bind keeps MS_REC", []string{"rbind", "bind", "ro"}, true, ""},
		{"bind then rbind", []string{"bind", "rbind", "ro"}, true, ""},
		{"not a bind", []string{"nosuid", "ro"}, false, "not a bind"},
		{"no options", nil, false, "not a bind"},
		{"empty options", []string{}, false, "not a bind"},
		{"case matters to runc", []string{"RBIND", "RO"}, false, "not a bind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mount("/vol", tt.opts...)
			if tt.opts == nil {
				m = `{"destination":"/vol","type":"bind","source":"/h"}`
			}
			p := mustAnalyze(t, config("", m), Options{Policy: IfPossible})
			d := p.Mounts[0]
			if d.Candidate() != tt.candidate || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("Candidate = %v (%s), want %v (%s)", d.Candidate(), d.Reason, tt.candidate, tt.reason)
			}
			if p.NeedsSupport() != tt.candidate {
				t.Fatalf("NeedsSupport = %v, want %v", p.NeedsSupport(), tt.candidate)
			}
			if d.Action != Unchanged {
				t.Fatalf("preliminary Action = %v", d.Action)
			}
		})
	}
}

func TestTypeIgnored(t *testing.T) {
	// runc ignores the type of a mount whose options say bind.
	for _, typ := range []string{"bind", "none", "", "tmpfs", "ext4"} {
		t.Run(typ, func(t *testing.T) {
			m := fmt.Sprintf(`{"destination":"/vol","type":%q,"source":"/h","options":["rbind","ro"]}`, typ)
			if !mustAnalyze(t, config("", m), Options{Policy: IfPossible}).Mounts[0].Candidate() {
				t.Fatal("not a candidate")
			}
		})
	}
}

// TestPropagation covers every propagation option under every policy and
// propagation mode, with support.
func TestPropagation(t *testing.T) {
	props := []string{"", "private", "rprivate", "unbindable", "runbindable", "slave", "rslave", "shared", "rshared"}
	for _, pol := range []Policy{Disabled, IfPossible, Enabled} {
		for _, mode := range []Propagation{Strict, Lenient} {
			for _, prop := range props {
				name := fmt.Sprintf("%s/%s/%s", pol, mode, prop)
				if prop == "" {
					name += "none"
				}
				t.Run(name, func(t *testing.T) {
					before := []string{"rbind", "ro"}
					if prop != "" {
						before = append(before, prop)
					}
					strict := pol == Enabled && mode == Strict
					var want []string
					var wantErr error
					switch {
					case pol == Disabled:
					case (prop == "" || prop == "private" || prop == "unbindable") && strict:
						// private and unbindable act on the top mount only.
						want = append(slices.Clone(before), "rro", "rprivate")
					case strings.Contains(prop, "slave") || strings.Contains(prop, "shared"):
						if strict {
							wantErr = ErrPropagation
						} else {
							want = append(slices.Clone(before), "rro")
						}
					default:
						want = append(slices.Clone(before), "rro")
					}
					opts := Options{Policy: pol, Propagation: mode}
					cfg := config("", mount("/data", "nosuid"), mount("/data", before...))
					p := mustAnalyze(t, cfg, opts)
					res, err := p.Apply(supported)
					if wantErr != nil {
						if !errors.Is(err, wantErr) || !errors.Is(err, ErrRefused) {
							t.Fatalf("err = %v, want %v", err, wantErr)
						}
						for _, s := range []string{"policy Enabled", "/data (mounts[1])", "propagation " + prop, "rprivate", "lenient"} {
							if !strings.Contains(err.Error(), s) {
								t.Errorf("error %q does not say %q", err, s)
							}
						}
						if res.Changed || res.Mounts[1].Action != Refused || res.Applied != nil {
							t.Fatalf("refused, but Changed=%v Action=%v Applied=%q", res.Changed, res.Mounts[1].Action, res.Applied)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					checkOutput(t, cfg, opts, res)
					d := res.Mounts[1]
					if want == nil {
						if res.Changed || d.Action != Unchanged || !slices.Equal(d.After, before) {
							t.Fatalf("Changed=%v Action=%v After=%q, want unchanged", res.Changed, d.Action, d.After)
						}
						return
					}
					if !res.Changed || d.Action != Rewritten || !slices.Equal(d.After, want) || !slices.Equal(res.Applied, []string{"/data"}) {
						t.Fatalf("Changed=%v Action=%v After=%q Applied=%q, want After %q", res.Changed, d.Action, d.After, res.Applied, want)
					}
					if !slices.Equal(d.Before, before) {
						t.Fatalf("Before changed to %q", d.Before)
					}
					if res.Mounts[0].Action != Unchanged {
						t.Fatalf("the non-candidate was %v", res.Mounts[0].Action)
					}
				})
			}
		}
	}
}

func TestSupport(t *testing.T) {
	reason := "runtime /usr/sbin/crun does not support rro (no features command, version 1.3)"
	cfg := config("", mount("/a", "rbind", "ro"), mount("/b", "rbind", "rw"), mount("/c", "rbind", "ro", "rprivate"))
	tests := []struct {
		name    string
		policy  Policy
		support Support
		wantErr error
		action  Action
		reason  string
	}{
		{"IfPossible unsupported is left alone", IfPossible, Support{Reason: reason}, nil, Unchanged, reason},
		{"IfPossible with no reason given", IfPossible, Support{}, nil, Unchanged, "unknown"},
		{"Enabled unsupported is refused", Enabled, Support{Reason: reason}, ErrUnsupported, Refused, reason},
		{"Disabled ignores support", Disabled, Support{Reason: reason}, nil, Unchanged, "policy Disabled"},
		{"IfPossible supported", IfPossible, supported, nil, Rewritten, "added rro"},
		{"Enabled supported", Enabled, supported, nil, Rewritten, "added rro,rprivate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustAnalyze(t, cfg, Options{Policy: tt.policy})
			if p.NeedsSupport() != (tt.policy != Disabled) {
				t.Fatalf("NeedsSupport = %v", p.NeedsSupport())
			}
			res, err := p.Apply(tt.support)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrRefused) {
					t.Errorf("%v does not wrap ErrRefused", err)
				}
				for _, s := range []string{"policy Enabled", reason, "/a (mounts[0])", "/c (mounts[2])"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				if strings.Contains(err.Error(), "/b") {
					t.Errorf("error %q names the read-write mount", err)
				}
				if res.Changed || !bytes.Equal(res.Config, cfg) {
					t.Fatal("config changed on refusal")
				}
			} else {
				checkOutput(t, cfg, Options{Policy: tt.policy}, res)
			}
			if d := res.Mounts[0]; d.Action != tt.action || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("mounts[0]: %v %q, want %v %q", d.Action, d.Reason, tt.action, tt.reason)
			}
			if d := res.Mounts[1]; d.Action != Unchanged || d.Reason != "read-write" {
				t.Fatalf("mounts[1]: %v %q", d.Action, d.Reason)
			}
		})
	}
}

func TestUnsupportedNamesTheMount(t *testing.T) {
	cfg := config("", mount("/dev/shm", "rbind", "ro"), mount("/data", "rbind", "ro"))
	p := mustAnalyze(t, cfg, Options{Policy: Enabled, Exclude: []string{"/dev"}})
	_, err := p.Apply(Support{Reason: "kernel 5.4 has no mount_setattr"})
	want := "container refused: recursive read-only not supported: policy Enabled (from config) needs rro, but kernel 5.4 has no mount_setattr; refusing to start with mount /data (mounts[1]) not recursively read-only"
	if !errors.Is(err, ErrUnsupported) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestExclude covers the administrator's list: each entry and everything
// beneath it, by destination. Nothing is excluded by destination unless
// the administrator says so: a pod picks its destinations.
func TestExclude(t *testing.T) {
	admin := []string{"/dev", "/proc", "/sys"}
	tests := []struct {
		dest     string
		exclude  []string
		excluded bool
	}{
		{"/dev", admin, true},
		{"/dev/shm", admin, true},
		{"/device", admin, false},
		{"/sys/fs/cgroup", admin, true},
		{"/proc", admin, true},
		{"/procfs", admin, false},
		{"dev/shm", admin, true}, // runc roots a relative destination
		{"//dev///shm/", admin, true},
		{"/dev/../etc", admin, false},
		{"/etc/../dev/x", admin, true},
		{"/data", []string{"/data/"}, true},
		{"/data/sub", []string{"data"}, true},
		{"/database", []string{"/data"}, false},
		{"/anything", []string{"/"}, true},
		{"/anything", []string{"", " "}, false},
		{"/vol", nil, false},
		// The default excludes no destination, not even these.
		{"/dev", DefaultExclude, false},
		{"/dev/data", DefaultExclude, false},
		{"/sys/x", DefaultExclude, false},
		{"/proc/x", DefaultExclude, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%q", tt.dest, tt.exclude), func(t *testing.T) {
			cfg := config("", fmt.Sprintf(`{"destination":%q,"type":"bind","source":"/srv/volume","options":["rbind","ro"]}`, tt.dest))
			p := mustAnalyze(t, cfg, Options{Policy: Enabled, Exclude: tt.exclude})
			d := p.Mounts[0]
			if got := d.ExcludedBy != ""; got != tt.excluded || d.Candidate() == tt.excluded || got != strings.HasPrefix(d.Reason, "excluded by") {
				t.Fatalf("excluded = %v (%s), want %v", got, d.Reason, tt.excluded)
			}
		})
	}
}

// TestHostInterfaces covers the built-in exclusion: a bind of the host's
// own /dev, /proc, /sys or /sys/fs/cgroup, by its source, exactly and as
// written, wherever it is mounted; never a path beneath them, which can
// lead anywhere (/dev/fd/.. is /proc/self, /proc/1/root the host's /).
func TestHostInterfaces(t *testing.T) {
	tests := []struct {
		source, dest string
		excluded     string
	}{
		{"/dev", "/dev", "/dev"},
		{"/dev/", "/hostdev", "/dev"},
		{"//proc", "/host/proc", "/proc"},
		{"/sys", "/sys", "/sys"},
		{"/sys/fs/cgroup", "/sys/fs/cgroup", "/sys/fs/cgroup"},
		{"/dev/shm", "/dev/shm", ""},
		{"/dev/fd/../root/data", "/data", ""},
		{"/proc/1/root/srv", "/srv", ""},
		{"/sys/fs/cgroup/../../../srv", "/srv", ""},
		{"/srv/../dev", "/dev", ""},
		{"/./dev", "/dev", ""},
		{"dev", "/dev", ""}, // relative: the bundle's dev, not the host's
		{"/srv/volume", "/dev", ""},
		{"/srv/volume", "/sys/x", ""},
		{"/srv/volume", "/proc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.source+"->"+tt.dest, func(t *testing.T) {
			cfg := config("", fmt.Sprintf(`{"destination":%q,"type":"bind","source":%q,"options":["rbind","ro"]}`, tt.dest, tt.source))
			res, err := mustAnalyze(t, cfg, Options{Policy: Enabled}).Apply(supported)
			if err != nil {
				t.Fatal(err)
			}
			d := res.Mounts[0]
			if d.ExcludedBy != tt.excluded || (tt.excluded == "") != (d.Action == Rewritten) {
				t.Fatalf("ExcludedBy %q, %v (%s); want %q", d.ExcludedBy, d.Action, d.Reason, tt.excluded)
			}
			if tt.excluded != "" && !strings.Contains(d.Reason, "submounts stay writable") {
				t.Fatalf("reason %q does not say what an excluded read-only bind means", d.Reason)
			}
		})
	}
}

// TestExcludedAnnotation: under every policy but Disabled, read-only
// recursive binds left without rro by an exclusion are listed in
// org.rro-runc.excluded, whatever else happens, so that they are visible
// in `runc state`; a list the config arrived with is replaced or removed.
func TestExcludedAnnotation(t *testing.T) {
	dev := `{"destination":"/dev","type":"bind","source":"/dev","options":["rbind","ro"]}`
	for _, tc := range []struct {
		name        string
		opts        Options
		cfg         []byte
		s           Support
		want        string
		wantChanged bool
	}{
		{"host /dev, Enabled", Options{Policy: Enabled}, config("", dev, mount("/v", "rbind", "ro")), supported, "/dev", true},
		{"host /dev alone needs no probe", Options{Policy: Enabled}, config("", dev), Support{}, "/dev", true},
		{"admin entry", Options{Policy: IfPossible, Exclude: []string{"/v"}}, config("", mount("/v/a", "rbind", "ro")), Support{}, "/v/a", true},
		{"Disabled lists nothing", Options{Policy: Disabled}, config("", dev), Support{}, "", false},
		{"forged list removed", Options{Policy: IfPossible}, config(`{"org.rro-runc.excluded":"/x","k":"v"}`, mount("/v", "rbind", "rw")), supported, "", true},
		{"already right", Options{Policy: Enabled}, config(`{"org.rro-runc.excluded":"/dev"}`, dev), Support{}, "/dev", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustAnalyze(t, tc.cfg, tc.opts)
			res, err := p.Apply(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			checkOutput(t, tc.cfg, tc.opts, res)
			if got := res.AnnotationValues()[AnnotationExcluded]; got != tc.want || res.Changed != tc.wantChanged {
				t.Fatalf("excluded %q changed %v, want %q %v\n%s", got, res.Changed, tc.want, tc.wantChanged, res.Config)
			}
		})
	}
}

func TestAnnotations(t *testing.T) {
	mounts := []string{mount("/data", "rbind", "ro"), mount("/data/sub", "rbind", "ro"), mount("/database", "rbind", "ro")}
	ann := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name       string
		admin      Policy
		optOut     bool
		ann        string
		wantErr    []error
		errSays    []string
		policy     Policy
		policyFrom string
		rewritten  []string
	}{
		{name: "no annotations", admin: IfPossible, policy: IfPossible, policyFrom: "config",
			rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "raise to Enabled", admin: IfPossible, ann: ann(AnnotationPolicy, "Enabled"), policy: Enabled,
			policyFrom: "annotation " + AnnotationPolicy, rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "raise ignores case and space", admin: IfPossible, ann: ann(AnnotationPolicy, " enabled "), policy: Enabled,
			policyFrom: "annotation " + AnnotationPolicy, rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "same policy", admin: Enabled, ann: ann(AnnotationPolicy, "Enabled"), policy: Enabled, policyFrom: "config",
			rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "lower refused", admin: Enabled, ann: ann(AnnotationPolicy, "IfPossible"), wantErr: []error{ErrAnnotation},
			errSays: []string{AnnotationPolicy + "=IfPossible", "from Enabled", "allow_annotation_opt_out is false"}},
		{name: "lower to Disabled refused", admin: IfPossible, ann: ann(AnnotationPolicy, "Disabled"), wantErr: []error{ErrAnnotation},
			errSays: []string{AnnotationPolicy + "=Disabled"}},
		{name: "lower allowed", admin: Enabled, optOut: true, ann: ann(AnnotationPolicy, "IfPossible"), policy: IfPossible,
			policyFrom: "annotation " + AnnotationPolicy, rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "switch off allowed", admin: Enabled, optOut: true, ann: ann(AnnotationPolicy, "Disabled"), policy: Disabled,
			policyFrom: "annotation " + AnnotationPolicy},
		{name: "unknown policy", admin: IfPossible, optOut: true, ann: ann(AnnotationPolicy, "Always"),
			wantErr: []error{ErrAnnotation, ErrUnknownPolicy}, errSays: []string{AnnotationPolicy, `"Always"`}},
		{name: "empty policy", admin: IfPossible, ann: ann(AnnotationPolicy, ""),
			wantErr: []error{ErrAnnotation, ErrUnknownPolicy}, errSays: []string{AnnotationPolicy}},
		{name: "exclude refused", admin: IfPossible, ann: ann(AnnotationExclude, "/data"), wantErr: []error{ErrAnnotation},
			errSays: []string{AnnotationExclude + "=/data", "would exclude mounts", "allow_annotation_opt_out is false"}},
		{name: "exclude of no mount refused too", admin: IfPossible, ann: ann(AnnotationExclude, "/nowhere"), wantErr: []error{ErrAnnotation}},
		{name: "exclude allowed", admin: IfPossible, optOut: true, ann: ann(AnnotationExclude, " /data , ,/other"), policy: IfPossible,
			policyFrom: "config", rewritten: []string{"/database"}},
		{name: "blank exclude is nothing", admin: IfPossible, ann: ann(AnnotationExclude, " , "), policy: IfPossible,
			policyFrom: "config", rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "raise and exclude", admin: IfPossible, optOut: true, ann: ann(AnnotationPolicy, "Enabled", AnnotationExclude, "/data/sub"),
			policy: Enabled, policyFrom: "annotation " + AnnotationPolicy, rewritten: []string{"/data", "/database"}},
		{name: "admin Disabled ignores annotations", admin: Disabled, ann: ann(AnnotationPolicy, "Always", AnnotationExclude, "/data"),
			policy: Disabled, policyFrom: "config"},
		{name: "other annotations", admin: IfPossible, ann: ann("org.rro-runc.other", "x", "io.kubernetes.pod.name", "p"), policy: IfPossible,
			policyFrom: "config", rewritten: []string{"/data", "/data/sub", "/database"}},
		{name: "null annotations", admin: IfPossible, ann: "null", policy: IfPossible, policyFrom: "config",
			rewritten: []string{"/data", "/data/sub", "/database"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(tt.ann, mounts...)
			opts := Options{Policy: tt.admin, AllowAnnotationOptOut: tt.optOut}
			p, err := Analyze(cfg, opts)
			if tt.wantErr != nil {
				for _, e := range tt.wantErr {
					if !errors.Is(err, e) {
						t.Fatalf("err = %v, want %v", err, e)
					}
				}
				for _, s := range tt.errSays {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Policy != tt.policy || p.PolicyFrom != tt.policyFrom {
				t.Fatalf("policy %v from %q, want %v from %q", p.Policy, p.PolicyFrom, tt.policy, tt.policyFrom)
			}
			res, err := p.Apply(supported)
			if err != nil {
				t.Fatal(err)
			}
			checkOutput(t, cfg, opts, res)
			if !slices.Equal(res.Applied, tt.rewritten) {
				t.Fatalf("Applied = %q, want %q", res.Applied, tt.rewritten)
			}
		})
	}
}

// TestOwnedAnnotationsRemoved checks the exact bytes when rro-runc's own
// annotations are removed: from every object that reaches runc's map,
// with the commas around them, whatever their position.
func TestOwnedAnnotationsRemoved(t *testing.T) {
	rw := `"mounts":[{"destination":"/v","options":["rbind","rw"]}]`
	for _, tc := range []struct{ name, in, want string }{
		{"first of several", `{"annotations":{"org.rro-runc.applied":"/v", "a":"1"},` + rw + `}`, `{"annotations":{"a":"1"},` + rw + `}`},
		{"last of several", `{"annotations":{"a":"1" , "org.rro-runc.applied":"/v" },` + rw + `}`, `{"annotations":{"a":"1" },` + rw + `}`},
		{"the only one", `{"annotations":{ "org.rro-runc.excluded":"/v" },` + rw + `}`, `{"annotations":{  },` + rw + `}`},
		{"both, around a kept one", `{"annotations":{"org.rro-runc.applied":"/v","a":"1","org.rro-runc.excluded":"/w"},` + rw + `}`, `{"annotations":{"a":"1"},` + rw + `}`},
		{"two at the end", `{"annotations":{"a":"1","org.rro-runc.applied":"","org.rro-runc.excluded":"/w"},` + rw + `}`, `{"annotations":{"a":"1"},` + rw + `}`},
		{"escaped key, and in every merged object", `{"annotations":{"org.rro-runc.appli\u0065d":"/v"},"Annotations":{"b":"2","org.rro-runc.applied":"/v"},` + rw + `}`, `{"annotations":{},"Annotations":{"b":"2"},` + rw + `}`},
		{"not before a null that erased it", `{"annotations":{"org.rro-runc.applied":"/v"},"annotations":null,` + rw + `}`, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rewrite(t, []byte(tc.in), Options{Policy: IfPossible}, supported)
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if string(res.Config) != want || res.Changed != (tc.want != "") {
				t.Fatalf("got (changed %v)\n%s\nwant\n%s", res.Changed, res.Config, want)
			}
		})
	}
}

func TestExcludeDoesNotAliasOptions(t *testing.T) {
	base := make([]string, 1, 8)
	base[0] = "/dev"
	opts := Options{Policy: IfPossible, Exclude: base, AllowAnnotationOptOut: true}
	_, err := Analyze(config(`{"org.rro-runc.exclude":"/data"}`, mount("/data", "rbind", "ro")), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := base[:2][1]; got != "" {
		t.Fatalf("Analyze wrote %q into the caller's Exclude backing array", got)
	}
}

// TestAppliedAnnotation checks the exact bytes written, in every place
// the annotation can go.
func TestAppliedAnnotation(t *testing.T) {
	m := `{"destination":"/v","options":["rbind","ro"]}`
	tests := []struct{ name, in, want string }{
		{"created after the last member",
			`{"mounts":[` + m + `], "x":1 }`,
			`{"mounts":[{"destination":"/v","options":["rbind","ro","rro"]}], "x":1,"annotations":{"org.rro-runc.applied":"/v"} }`},
		{"added to existing",
			`{"annotations":{"a":"b"},"mounts":[` + m + `]}`,
			`{"annotations":{"a":"b","org.rro-runc.applied":"/v"},"mounts":[{"destination":"/v","options":["rbind","ro","rro"]}]}`},
		{"added to empty",
			`{"annotations":{ },"mounts":[` + m + `]}`,
			`{"annotations":{"org.rro-runc.applied":"/v" },"mounts":[{"destination":"/v","options":["rbind","ro","rro"]}]}`},
		{"after null, a member of its own: turning null into an object would revive what it erased",
			`{"annotations":{"a":"b"},"annotations":null,"mounts":[` + m + `]}`,
			`{"annotations":{"a":"b"},"annotations":null,"mounts":[{"destination":"/v","options":["rbind","ro","rro"]}],"annotations":{"org.rro-runc.applied":"/v"}}`},
		{"replaces a stale value",
			`{"annotations":{"org.rro-runc.applied" : "/old" ,"z":""},"mounts":[` + m + `]}`,
			`{"annotations":{"org.rro-runc.applied" : "/v" ,"z":""},"mounts":[{"destination":"/v","options":["rbind","ro","rro"]}]}`},
		{"goes into the last of duplicate annotations",
			`{"annotations":{"a":"1"},"mounts":[` + m + `],"Annotations":{"b":"2"}}`,
			`{"annotations":{"a":"1"},"mounts":[{"destination":"/v","options":["rbind","ro","rro"]}],"Annotations":{"b":"2","org.rro-runc.applied":"/v"}}`},
		{"options keep their spelling and layout",
			"{\"mounts\":[{\"destination\":\"/v\",\"options\":[ \"rbind\" ,\n  \"r\\u006f\"\n]}]}",
			"{\"mounts\":[{\"destination\":\"/v\",\"options\":[ \"rbind\" ,\n  \"r\\u006f\",\"rro\"\n]}],\"annotations\":{\"org.rro-runc.applied\":\"/v\"}}"},
		{"a destination twice is listed twice, so a second run keeps both (fuzz: two empty destinations)",
			`{"mounts":[` + m + `,` + m + `]}`,
			`{"mounts":[{"destination":"/v","options":["rbind","ro","rro"]},{"destination":"/v","options":["rbind","ro","rro"]}],"annotations":{"org.rro-runc.applied":"/v,/v"}}`},
		{"an applied entry vouches for one mount only",
			`{"annotations":{"org.rro-runc.applied":"/v"},"mounts":[{"destination":"/v","options":["rbind","ro","rro"]},{"destination":"/v","options":["rbind","ro","rro"]}]}`,
			`{"annotations":{"org.rro-runc.applied":"/v"},"mounts":[{"destination":"/v","options":["rbind","ro","rro"]},{"destination":"/v","options":["rbind","ro","rro"]}]}`},
		{"destinations joined in order and escaped without HTML escaping",
			`{"mounts":[{"destination":"/a<b>","options":["rbind","ro"]},{"destination":"/\u00e9\"q","options":["ro","rbind"]}]}`,
			`{"mounts":[{"destination":"/a<b>","options":["rbind","ro","rro"]},{"destination":"/\u00e9\"q","options":["ro","rbind","rro"]}],"annotations":{"org.rro-runc.applied":"/a<b>,/é\"q"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Policy: IfPossible}
			res := rewrite(t, []byte(tt.in), opts, supported)
			if string(res.Config) != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", res.Config, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ name, in, says string }{
		{"empty", ``, "not valid JSON"},
		{"truncated", `{"mounts":[`, "not valid JSON"},
		{"trailing garbage", `{} x`, "not valid JSON at byte"},
		{"BOM", "\xef\xbb\xbf{}", "not valid JSON"},
		{"top-level array", `[]`, "top level is an array"},
		{"top-level string", `"x"`, "top level is a string"},
		{"top-level null", ` null `, "top level is null"},
		{"top-level number", `1`, "top level is a number"},
		{"mounts object", `{"mounts":{}}`, "mounts is an object, not an array"},
		{"mounts string", `{"mounts":"x"}`, "mounts is a string"},
		{"mounts number", `{"mounts":5}`, "mounts is a number"},
		{"mounts bool", `{"mounts":true}`, "mounts is a boolean"},
		{"earlier mounts of wrong type", `{"mounts":5,"mounts":[]}`, "mounts is a number"},
		{"duplicate non-empty mounts", `{"mounts":[{"destination":"/a"}],"Mounts":[{"destination":"/b"}]}`, `mounts appears more than once (as "mounts" and "Mounts")`},
		{"mount number", `{"mounts":[{"destination":"/a"},5]}`, "mounts[1] is a number, not an object"},
		{"mount string", `{"mounts":["rbind"]}`, "mounts[0] is a string, not an object"},
		{"mount array", `{"mounts":[[]]}`, "mounts[0] is an array"},
		{"destination number", `{"mounts":[{"destination":5}]}`, `"" (mounts[0]): destination is a number, not a string`},
		{"destination object", `{"mounts":[{"destination":{}}]}`, `"" (mounts[0]): destination is an object`},
		{"source bool", `{"mounts":[{"destination":"/d","source":true}]}`, "/d (mounts[0]): source is a boolean"},
		{"type array", `{"mounts":[{"destination":"/d","type":[]}]}`, "/d (mounts[0]): type is an array"},
		{"options string", `{"mounts":[{"destination":"/data","options":"rbind,ro"}]}`, "/data (mounts[0]): options is a string, not an array of strings"},
		{"options object", `{"mounts":[{"destination":"/data","options":{}}]}`, "options is an object"},
		{"option number", `{"mounts":[{},{},{},{"destination":"/data","options":["rbind",1]}]}`, "/data (mounts[3]): options[1] is a number, not a string"},
		{"option null", `{"mounts":[{"destination":"/data","options":["rbind",null]}]}`, "/data (mounts[0]): options[1] is null, not a string"},
		{"option array", `{"mounts":[{"destination":"/data","options":[["ro"]]}]}`, "options[0] is an array"},
		{"earlier bad options", `{"mounts":[{"options":[1],"destination":"/data","options":["ro"]}]}`, "/data (mounts[0]): options[0] is a number"},
		{"destination named oddly", "{\"mounts\":[{\"destination\":\"/a\\n(b)\",\"options\":[1]}]}", `"/a\n(b)" (mounts[0])`},
		{"annotations array", `{"annotations":[]}`, "annotations is an array, not an object of strings"},
		{"annotations string", `{"annotations":"x"}`, "annotations is a string"},
		{"annotation number", `{"annotations":{"a":1}}`, "annotations is not an object of strings"},
		{"annotation object", `{"annotations":{"org.rro-runc.policy":{}}}`, "annotations is not an object of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pol := range []Policy{Disabled, IfPossible, Enabled} {
				p, err := Analyze([]byte(tt.in), Options{Policy: pol})
				if !errors.Is(err, ErrInvalidConfig) || p != nil {
					t.Fatalf("policy %v: err = %v, plan %v; want ErrInvalidConfig", pol, err, p)
				}
				if !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("error %q does not say %q", err, tt.says)
				}
			}
		})
	}
}

// TestReadsLikeRunc checks the corners where a naive reader and
// encoding/json (runc) disagree. checkRuncView compares every plan with
// encoding/json's decoding into specs.Spec.
func TestReadsLikeRunc(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		applied []string
	}{
		{"field names fold case", `{"MOUNTS":[{"Destination":"/v","OPTIONS":["rbind","ro"]}]}`, []string{"/v"}},
		{"Unicode folding: long s", `{"mountſ":[{"destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"escaped key", `{"m\u006funts":[{"destinatio\u006e":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"no match with a near miss", `{"mount":[{"destination":"/v","options":["rbind","ro"]}]}`, nil},
		{"last options wins", `{"mounts":[{"destination":"/v","options":["rbind","ro"],"options":["rbind","rw"]}]}`, nil},
		{"last options wins other way", `{"mounts":[{"destination":"/v","options":["rbind","rw","x"],"Options":["rbind","ro"]}]}`, []string{"/v"}},
		{"null options", `{"mounts":[{"destination":"/v","options":["rbind","ro"],"options":null}]}`, nil},
		{"last destination wins", `{"mounts":[{"destination":"/dev/x","destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"null destination keeps the earlier", `{"mounts":[{"destination":"/dev/x","destination":null,"options":["rbind","ro"]}]}`, nil}, // excluded by /dev
		{"mounts after null", `{"mounts":null,"mounts":[{"destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"mounts after empty", `{"mounts":[],"mounts":[{"destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"mounts then null", `{"mounts":[],"mounts":null}`, nil},
		{"null mount element", `{"mounts":[null,{"destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"unknown mount fields", `{"mounts":[{"destination":"/v","uidMappings":[{"containerID":0,"hostID":1,"size":1}],"x":{"options":["rw"]},"options":["rbind","ro"]}]}`, []string{"/v"}},
		{"merged annotations", `{"annotations":{"org.rro-runc.policy":"Enabled"},"annotations":{"b":"c"},"mounts":[{"destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
		{"invalid UTF-8 destination", "{\"mounts\":[{\"destination\":\"/v\xff\",\"options\":[\"rbind\",\"ro\"]}]}", []string{"/v\uFFFD"}},
		{"big numbers elsewhere", `{"x":18446744073709551615,"y":1e999,"mounts":[{"destination":"/v","options":["rbind","ro"]}]}`, []string{"/v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rewrite(t, []byte(tt.in), Options{Policy: IfPossible, Exclude: []string{"/dev"}}, supported)
			if !slices.Equal(res.Applied, tt.applied) {
				t.Fatalf("Applied = %q, want %q", res.Applied, tt.applied)
			}
		})
	}
}

func TestMergedAnnotationsRaisePolicy(t *testing.T) {
	in := `{"annotations":{"org.rro-runc.policy":"Enabled"},"annotations":{"b":"c"},"mounts":[]}`
	p := mustAnalyze(t, []byte(in), Options{Policy: IfPossible})
	if p.Policy != Enabled {
		t.Fatalf("policy %v: the first annotations object was lost", p.Policy)
	}
	in = `{"annotations":{"org.rro-runc.policy":"Enabled"},"annotations":null,"mounts":[]}`
	if p := mustAnalyze(t, []byte(in), Options{Policy: IfPossible}); p.Policy != IfPossible {
		t.Fatalf("policy %v: null did not reset the annotations", p.Policy)
	}
}

func TestNoMounts(t *testing.T) {
	for _, in := range []string{`{}`, `{"mounts":null}`, `{"mounts":[]}`, `{"annotations":{}}`, ` { "process" : { } } `} {
		t.Run(in, func(t *testing.T) {
			p := mustAnalyze(t, []byte(in), Options{Policy: Enabled})
			if p.NeedsSupport() || len(p.Mounts) != 0 {
				t.Fatalf("NeedsSupport %v, %d mounts", p.NeedsSupport(), len(p.Mounts))
			}
			res, err := p.Apply(Support{Reason: "no kernel"})
			if err != nil || res.Changed {
				t.Fatalf("changed %v, err %v", res.Changed, err)
			}
		})
	}
}

func TestApplyAgain(t *testing.T) {
	cfg := config("", mount("/v", "rbind", "ro"), mount("/w", "rbind", "rw"))
	before := string(cfg)
	p := mustAnalyze(t, cfg, Options{Policy: IfPossible})
	for i, s := range []Support{{Reason: "none"}, supported, {Reason: "none"}, supported} {
		res, err := p.Apply(s)
		if err != nil {
			t.Fatal(err)
		}
		d := res.Mounts[0]
		if res.Changed != s.Supported || (d.Action == Rewritten) != s.Supported || len(d.After) != 2+len(res.Applied) {
			t.Fatalf("call %d: Changed=%v Action=%v After=%q Applied=%q: it depends on an earlier call", i, res.Changed, d.Action, d.After, res.Applied)
		}
		if !s.Supported && d.Reason != "none" {
			t.Fatalf("call %d: Reason %q", i, d.Reason)
		}
		if res.Mounts[1].Reason != "read-write" || &res.Mounts[0] != &p.Mounts[0] {
			t.Fatalf("call %d: decisions not shared or non-candidate touched", i)
		}
	}
	if string(cfg) != before {
		t.Fatal("Apply modified the input")
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Unchanged: "unchanged", Rewritten: "rewrite", Refused: "refuse", 7: "Action(7)"} {
		if a.String() != want {
			t.Errorf("%d: %q, want %q", int(a), a, want)
		}
	}
	b, err := json.Marshal(Decision{Action: Rewritten})
	if err != nil || !strings.Contains(string(b), `"action":"rewrite"`) {
		t.Fatalf("JSON %s, %v", b, err)
	}
}

func TestMemberIs(t *testing.T) {
	tests := []struct {
		key   string
		field string
		want  bool
	}{
		{`"mounts"`, "mounts", true},
		{`"MOUNTS"`, "mounts", true},
		{`"MoUnTs"`, "mounts", true},
		{`"mount"`, "mounts", false},
		{`"mountsx"`, "mounts", false},
		{`"mount_"`, "mounts", false},
		{`"mount@"`, "mounts", false},
		{`"m\u006funts"`, "mounts", true},
		{`"mountſ"`, "mounts", true},
		{`"mountß"`, "mounts", false},
		{`"ﬆ"`, "st", false},
		{`""`, "mounts", false},
	}
	for _, tt := range tests {
		m := member{key: []byte(tt.key)}
		var decoded string
		_ = json.Unmarshal([]byte(tt.key), &decoded)
		if got := m.is(tt.field); got != tt.want || got != strings.EqualFold(decoded, tt.field) {
			t.Errorf("%s.is(%q) = %v, want %v", tt.key, tt.field, got, tt.want)
		}
	}
}

func TestExportedRules(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want bool
	}{
		{[]string{"rbind", "ro"}, true}, {[]string{"ro", "rprivate", "bind"}, true},
		{[]string{"rbind", "ro", "rw"}, false}, {[]string{"ro"}, false}, {nil, false},
	} {
		if got := ReadOnlyBind(tc.opts); got != tc.want {
			t.Errorf("ReadOnlyBind(%q) = %v, want %v", tc.opts, got, tc.want)
		}
	}
	for _, tc := range []struct{ dest, want string }{
		{"/dev/shm", "/dev"}, {"/device", ""}, {"proc/x", "/proc"}, {"/data", ""}, {"/sys", "/sys"},
	} {
		if got := ExcludedBy(tc.dest, []string{"/dev", "/proc", "/sys"}); got != tc.want {
			t.Errorf("ExcludedBy(%q) = %q, want %q", tc.dest, got, tc.want)
		}
	}
}

// TestPropagationSequences runs every sequence of up to three propagation
// options under Enabled and strict propagation, against a model of what
// runc 1.1 does with them: it applies each in order to the new mount,
// a recursive one to the top and the copied submounts, a plain one to
// the top only, starting from runc's default root propagation, rslave.
// rro holds for the container's life only when neither the top nor a
// submount is a slave or shared. The rewrite must keep only a sequence
// that is safe and ends with a recursive option, refuse one whose unsafe
// state the client asked for, and append rprivate otherwise.
func TestPropagationSequences(t *testing.T) {
	all := []string{"private", "rprivate", "unbindable", "runbindable", "slave", "rslave", "shared", "rshared"}
	var seqs [][]string
	var grow func(seq []string)
	grow = func(seq []string) {
		seqs = append(seqs, seq)
		if len(seq) < 3 {
			for _, o := range all {
				grow(append(slices.Clone(seq), o))
			}
		}
	}
	grow(nil)
	safe := func(state string) bool { return state == "private" || state == "unbindable" }
	for _, seq := range seqs {
		top, sub := "slave", "slave"
		topAsked, subAsked := false, false
		for _, o := range seq {
			kind := strings.TrimPrefix(o, "r")
			if o == "rprivate" || o == "rslave" || o == "rshared" || o == "runbindable" {
				sub, subAsked = kind, true
			} else {
				kind = o
			}
			top, topAsked = kind, true
		}
		before := append([]string{"rbind", "ro"}, seq...)
		var want string
		switch {
		case safe(top) && safe(sub) && len(seq) > 0 && slices.Contains([]string{"rprivate", "runbindable"}, seq[len(seq)-1]):
			want = "keep"
		case !safe(top) && topAsked || !safe(sub) && subAsked:
			want = "refuse"
		default:
			want = "rprivate"
		}
		opts := Options{Policy: Enabled, Propagation: Strict}
		res, err := mustAnalyze(t, config("", mount("/data", before...)), opts).Apply(supported)
		d := res.Mounts[0]
		var got string
		switch {
		case errors.Is(err, ErrPropagation) && d.Action == Refused:
			got = "refuse"
		case err != nil:
			t.Fatalf("%q: %v", seq, err)
		case slices.Equal(d.After, append(slices.Clone(before), "rro")):
			got = "keep"
		case slices.Equal(d.After, append(slices.Clone(before), "rro", "rprivate")):
			got = "rprivate"
		default:
			t.Fatalf("%q: After %q", seq, d.After)
		}
		if got != want {
			t.Errorf("options %q: %s (%s), want %s", before, got, d.Reason, want)
		}
	}
}
