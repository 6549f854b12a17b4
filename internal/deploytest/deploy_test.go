package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/rro-runc/rro-runc/internal/configure"
)

const deployDir = "../../deploy"

// objects are the decoded manifests, by kind.
type objects struct {
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	daemonSets      map[string]*appsv1.DaemonSet // by file
	runtimeClasses  []*nodev1.RuntimeClass
}

// decodeStrict decodes one YAML document into out, failing on a field
// the type does not have (a typo Kubernetes would silently drop or an
// apiserver would reject).
// Field names match case-sensitively (encoding/json alone would take
// hostPid for hostPID), as the apiserver matches them.
func decodeStrict(doc []byte, out any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, out, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func load(t *testing.T) *objects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	o := &objects{daemonSets: map[string]*appsv1.DaemonSet{}}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "nri-") {
			continue // the NRI plugin's manifests, tested with it
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s document %d", filepath.Base(f), i+1)
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var out any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Namespace":
				out = &corev1.Namespace{}
			case "v1 ServiceAccount":
				out = &corev1.ServiceAccount{}
			case "apps/v1 DaemonSet":
				out = &appsv1.DaemonSet{}
			case "node.k8s.io/v1 RuntimeClass":
				out = &nodev1.RuntimeClass{}
			default:
				t.Fatalf("%s: unexpected apiVersion %q kind %q", where, tm.APIVersion, tm.Kind)
			}
			if err := decodeStrict([]byte(doc), out); err != nil {
				t.Fatalf("%s: strict decode as %s: %v", where, tm.Kind, err)
			}
			switch v := out.(type) {
			case *corev1.Namespace:
				o.namespaces = append(o.namespaces, v)
			case *corev1.ServiceAccount:
				o.serviceAccounts = append(o.serviceAccounts, v)
			case *appsv1.DaemonSet:
				o.daemonSets[filepath.Base(f)] = v
			case *nodev1.RuntimeClass:
				o.runtimeClasses = append(o.runtimeClasses, v)
			}
		}
	}
	return o
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestStrictDecodingCatchesTypos makes sure the decoding above would fail
// on a misspelt field, so that the other tests mean something.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "rro-runc-install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict(b, &appsv1.DaemonSet{}); err != nil {
		t.Fatal(err)
	}
	for _, typo := range [][2]string{{"hostPID:", "hostPid:"}, {"nodeSelector:", "nodeselector:"}, {"readOnlyRootFilesystem:", "readOnlyRootFileSystem:"}, {"args:", "arg:"}} {
		// The first use outside a comment.
		re := regexp.MustCompile(`(?m)^(\s*)` + regexp.QuoteMeta(typo[0]))
		loc := re.FindIndex(b)
		if loc == nil {
			t.Fatalf("no %s in the manifest", typo[0])
		}
		bad := slices.Concat(b[:loc[0]], re.ReplaceAll(b[loc[0]:loc[1]], []byte("${1}"+typo[1])), b[loc[1]:])
		if !bytes.Contains(bad, []byte(typo[1])) {
			t.Fatalf("typo %s not made", typo[1])
		}
		if err := decodeStrict(bad, &appsv1.DaemonSet{}); err == nil {
			t.Errorf("%s decoded without error", typo[1])
		}
	}
}

func TestManifests(t *testing.T) {
	o := load(t)
	if len(o.namespaces) != 1 || len(o.serviceAccounts) != 1 || len(o.runtimeClasses) != 1 {
		t.Fatalf("want one namespace, service account and RuntimeClass; have %d, %d, %d", len(o.namespaces), len(o.serviceAccounts), len(o.runtimeClasses))
	}
	ns, sa, rc := o.namespaces[0], o.serviceAccounts[0], o.runtimeClasses[0]
	if sa.Namespace != ns.Name || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %s/%s: want it in %s with no token mounted", sa.Namespace, sa.Name, ns.Name)
	}
	if rc.Handler != configure.DefaultRuntimeName || rc.Name != configure.DefaultRuntimeName {
		t.Errorf("RuntimeClass %s handler %q: want %q, the runtime name rroctl install configures", rc.Name, rc.Handler, configure.DefaultRuntimeName)
	}
	if rc.Scheduling == nil || len(rc.Scheduling.NodeSelector) == 0 {
		t.Fatalf("RuntimeClass has no scheduling.nodeSelector: pods could land on nodes without rro-runc")
	}
	image := makefileImage(t)
	bin := rroctl(t)

	for file, verb := range map[string]string{"rro-runc-install.yaml": "install", "rro-runc-uninstall.yaml": "uninstall"} {
		t.Run(file, func(t *testing.T) {
			ds := o.daemonSets[file]
			if ds == nil {
				t.Fatalf("no DaemonSet in %s", file)
			}
			spec := ds.Spec.Template.Spec
			if ds.Namespace != ns.Name || spec.ServiceAccountName != sa.Name {
				t.Errorf("namespace %q / service account %q: want %q / %q", ds.Namespace, spec.ServiceAccountName, ns.Name, sa.Name)
			}
			for k, v := range ds.Spec.Selector.MatchLabels {
				if ds.Spec.Template.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
				}
			}
			for k, v := range rc.Scheduling.NodeSelector {
				if spec.NodeSelector[k] != v {
					t.Errorf("nodeSelector %v lacks the RuntimeClass's %s=%s", spec.NodeSelector, k, v)
				}
			}
			// hostNetwork: the pod talks to nothing, and must run on a
			// node whose CNI is not up (or is what broke); privileged with
			// the host's root mounted, the host's network namespace gives
			// it nothing more.
			if !spec.HostPID || !spec.HostNetwork || spec.HostIPC {
				t.Errorf("hostPID %v (needed for --restart systemd), hostNetwork %v (no pod network needed), hostIPC %v (never needed)", spec.HostPID, spec.HostNetwork, spec.HostIPC)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("the installer never calls the API: its token must not be mounted")
			}
			if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
				t.Fatalf("want one container")
			}
			c := spec.Containers[0]
			if c.Image != image {
				t.Errorf("image %q, but make image tags %q", c.Image, image)
			}
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("the image's root filesystem should be read-only: rroctl writes only under the host root")
			}
			if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != verb {
				t.Errorf("args %q: want the image's entrypoint (rroctl) with %s", c.Args, verb)
			}
			// The host root: the node's / at the --host-root mount.
			hostRoot := ""
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--host-root="); ok {
					hostRoot = v
				}
			}
			var vol string
			for _, m := range c.VolumeMounts {
				if m.MountPath == hostRoot {
					vol = m.Name
				}
			}
			found := false
			for _, v := range spec.Volumes {
				if v.Name == vol && v.HostPath != nil && v.HostPath.Path == "/" {
					found = true
				}
			}
			if hostRoot == "" || !found {
				t.Errorf("--host-root=%q is not a mount of the node's / (mounts %+v)", hostRoot, c.VolumeMounts)
			}
			if verb == "install" && !slices.Contains(c.Args, "--engine=containerd") {
				t.Errorf("install args %q do not name the engine", c.Args)
			}
			checkArgsAccepted(t, bin, c.Args, hostRoot)
		})
	}
}

// makefileImage is the IMAGE make image tags.
func makefileImage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE \?= (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no IMAGE ?= in the Makefile")
	}
	return string(m[1])
}

// checkArgsAccepted runs rroctl with the DaemonSet's arguments against a
// scratch host root (without --wait, and --restart none since this
// machine has no systemd): every flag must exist and the command succeed.
func checkArgsAccepted(t *testing.T, bin string, args []string, hostRoot string) {
	t.Helper()
	root := t.TempDir()
	var run []string
	for _, a := range args {
		switch {
		case a == "--wait":
		case a == "--restart=systemd":
			run = append(run, "--restart=none")
		case a == "--host-root="+hostRoot:
			run = append(run, "--host-root="+root)
		default:
			run = append(run, a)
		}
	}
	if run[0] == "install" {
		run = append(run, "--source="+filepath.Dir(bin))
	}
	out, err := exec.Command(bin, run...).CombinedOutput()
	if err != nil {
		t.Errorf("rroctl %s: %v\n%s", strings.Join(run, " "), err, out)
	}
}

func rroctl(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// install --source copies rro-runc from beside rroctl: any file will do.
	if err := os.WriteFile(filepath.Join(dir, "rro-runc"), []byte("stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "rroctl"), "../../cmd/rroctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go build rroctl: %v\n%s", err, out)
	}
	return filepath.Join(dir, "rroctl")
}
