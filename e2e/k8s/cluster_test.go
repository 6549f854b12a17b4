//go:build k8s

package k8s

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// k8sVersion is the Kubernetes the suite builds and runs.
const k8sVersion = "v1.34.4"

// cluster is a single-node Kubernetes cluster: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and a kubelet on Runtime.
type cluster struct {
	Dir        string
	Node       string // the node's name: this machine's hostname
	Runtime    *nodeRuntime
	Kubeconfig string // admin (system:masters)
	bin        string
	pki        string
	kubeletDir string
	PodLogs    string
	procs      []*fixture.Process // in start order
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// k8sBinaries runs build.sh once per test process: it returns at once when
// <repo>/.cache/k8s-v1.34.4/bin holds the right build, else it builds
// (several minutes).
func k8sBinaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root := fixture.ModuleRoot(t)
		start := time.Now()
		var out []byte
		out, buildErr = exec.Command(filepath.Join(root, "e2e", "k8s", "build.sh")).Output()
		buildBin = strings.TrimSpace(string(out))
		if buildErr == nil {
			t.Logf("Kubernetes %s binaries in %s (%.1fs)", k8sVersion, buildBin, time.Since(start).Seconds())
		}
	})
	if buildErr != nil {
		var stderr string
		if ee, ok := buildErr.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("e2e/k8s/build.sh: %v\n%s", buildErr, stderr)
	}
	return buildBin
}

// nodeName is the name the kubelet registers the node under: this
// machine's hostname when /etc/hosts resolves it, else "localhost" (the
// kubelet is then started with --hostname-override). The apiserver reaches
// the kubelet (kubectl logs) by that name, so it must resolve through
// /etc/hosts: any other name would send the apiserver to DNS, and nothing
// here may leave the machine.
func nodeName(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	h = strings.ToLower(h)
	f, err := os.Open("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line, _, _ := strings.Cut(s.Text(), "#")
		fields := strings.Fields(line)
		for _, name := range fields[min(1, len(fields)):] {
			if strings.ToLower(name) == h {
				return h
			}
		}
	}
	t.Logf("hostname %q is not in /etc/hosts: the node is called localhost", h)
	return "localhost"
}

// startCluster starts containerd and the whole cluster, waits until the
// node is registered and the default service account exists, and applies
// deploy/runtimeclass.yaml. Everything stops at the end of the test.
// configure, when not nil, edits containerd's config before it starts.
func startCluster(t *testing.T, o runtimeOptions, configure func(r *nodeRuntime)) *cluster {
	t.Helper()
	fixture.RequireRoot(t)
	crictlPath = fixture.Crictl(t)
	bin := k8sBinaries(t)
	start := time.Now()
	dir := fixture.ShortTempDir(t)
	track(dir)
	trackBin(bin)
	c := &cluster{
		Dir:        dir,
		Node:       nodeName(t),
		bin:        bin,
		pki:        filepath.Join(dir, "pki"),
		kubeletDir: filepath.Join(dir, "kubelet"),
		PodLogs:    filepath.Join(dir, "pod-logs"),
		Kubeconfig: filepath.Join(dir, "admin.kubeconfig"),
	}
	c.Runtime = newNodeRuntime(t, filepath.Join(dir, "ctrd"), o)
	if configure != nil {
		configure(c.Runtime)
	}
	// Before containerd starts: a containerd in a mount namespace of its
	// own must see the kubelet's root as a shared mount to get its volumes.
	c.shareKubeletDir(t)
	c.Runtime.Start(t)
	// Registered after the runtime's cleanup, so it runs first: the
	// kubelet stops before containerd.
	t.Cleanup(func() { c.stop(t) })

	makePKI(t, c.pki, c.Node)
	etcdPort, etcdPeer, apiPort, kubeletPort, healthzPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	api := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	p := func(name string) string { return filepath.Join(c.pki, name) }
	for _, kc := range []struct{ file, user string }{
		{c.Kubeconfig, "admin"}, {filepath.Join(dir, "kubelet.kubeconfig"), "kubelet"},
		{filepath.Join(dir, "controller-manager.kubeconfig"), "controller-manager"},
		{filepath.Join(dir, "scheduler.kubeconfig"), "scheduler"},
	} {
		writeKubeconfig(t, kc.file, api, p("ca.crt"), p(kc.user+".crt"), p(kc.user+".key"))
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	etcd := c.run(t, "etcd", "--name", "node", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "node="+peerURL, "--log-level", "warn",
		// A test cluster thrown away at the end: fsync only slows it down
		// on a machine whose disk the other suites share.
		"--unsafe-no-fsync")
	etcd.WaitReady(t, 2*time.Minute, "etcd", func() error {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	})

	apiserver := c.run(t, "kube-apiserver",
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(apiPort),
		// A loopback advertise address cannot go into the kubernetes
		// service's endpoints; pods here never use that service.
		"--endpoint-reconciler-type", "none",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--authorization-mode", "Node,RBAC",
		"--allow-privileged=true", // installer and NRI DaemonSets
		"--client-ca-file", p("ca.crt"),
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--kubelet-client-certificate", p("apiserver-kubelet-client.crt"),
		"--kubelet-client-key", p("apiserver-kubelet-client.key"),
		// The node's hostname resolves to 127.0.0.1 through /etc/hosts,
		// where the kubelet listens: kubectl logs stays on loopback.
		"--kubelet-preferred-address-types", "Hostname",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--enable-admission-plugins", "NodeRestriction",
		"--profiling=false")
	apiserver.WaitReady(t, 3*time.Minute, "kube-apiserver /readyz", func() error {
		_, err := c.Kubectl("get", "--raw", "/readyz")
		return err
	})

	c.run(t, "kube-controller-manager",
		"--kubeconfig", filepath.Join(dir, "controller-manager.kubeconfig"),
		// No pod CIDRs to allocate: pods use the host network.
		"--controllers", "*,-nodeipam",
		// Each controller under its own service account, as kubeadm runs
		// it: the controller-manager's own identity (the ClusterRole
		// system:kube-controller-manager) may not create a DaemonSet's
		// controllerrevisions, so DaemonSets would never get a pod.
		"--use-service-account-credentials=true",
		"--secure-port", "0", "--leader-elect=false",
		"--service-account-private-key-file", p("sa.key"),
		"--root-ca-file", p("ca.crt"), "--profiling=false")
	c.run(t, "kube-scheduler",
		"--kubeconfig", filepath.Join(dir, "scheduler.kubeconfig"),
		"--secure-port", "0", "--leader-elect=false", "--profiling=false")

	kubelet := c.startKubelet(t, kubeletPort, healthzPort)
	kubelet.WaitReady(t, 3*time.Minute, "node "+c.Node+" registered", func() error {
		_, err := c.Kubectl("get", "node", c.Node)
		return err
	})
	kubelet.WaitReady(t, 2*time.Minute, "service account default/default", func() error {
		_, err := c.Kubectl("get", "serviceaccount", "default")
		return err
	})
	if out, err := c.Kubectl("apply", "-f", filepath.Join(fixture.ModuleRoot(t), "deploy", "runtimeclass.yaml")); err != nil {
		t.Fatalf("kubectl apply -f deploy/runtimeclass.yaml: %v\n%s", err, out)
	}
	t.Logf("single-node cluster %s up in %.1fs (state in %s)", k8sVersion, time.Since(start).Seconds(), dir)
	return c
}

// run starts one of the Kubernetes binaries, logging to DIR/NAME.log.
func (c *cluster) run(t testing.TB, name string, args ...string) *fixture.Process {
	t.Helper()
	p := fixture.StartProcess(t, name, filepath.Join(c.Dir, name+".log"), nil, append([]string{filepath.Join(c.bin, name)}, args...)...)
	c.procs = append(c.procs, p)
	return p
}

// kubeletSysctls are the sysctls the kubelet sets on the host at start
// unless they already hold these values (pkg/kubelet/cm,
// setupKernelTunables); protectKernelDefaults would instead refuse to
// start on this machine's values.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// startKubelet runs the kubelet in a mount namespace of its own where
// kubeletSysctls read as the values it wants, so it leaves the host's
// kernel settings alone, and where /var/log/containers (its log links,
// a fixed path) is on a private tmpfs. Its root directory is a shared mount, so the
// volumes it mounts there (service account tokens, ...) propagate to the
// host's namespace, where containerd and the shims run.
func (c *cluster) startKubelet(t testing.TB, port, healthzPort int) *fixture.Process {
	t.Helper()
	fake := filepath.Join(c.Dir, "kubelet-sysctls")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	// Every mount but the kubelet's root becomes a slave (on a host whose
	// mounts are shared, as under systemd, what is mounted below them here
	// would otherwise appear on the host too); the kubelet's root stays a
	// peer of the host's, for the volumes.
	fmt.Fprintf(&script, `set -e
kd=%s
awk '{print $5}' /proc/self/mountinfo | while read -r m; do
	m=$(printf '%%b' "$m")
	case "$m" in "$kd"|"$kd"/*) continue ;; esac
	mount --make-slave "$m" 2>/dev/null || true
done
# The kubelet links every container's log into /var/log/containers.
mount -t tmpfs -o mode=0755,size=16m kubelet-var-log /var/log
`, shellQuote(c.kubeletDir))
	for name, v := range kubeletSysctls {
		f := filepath.Join(fake, strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(f, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s\n", shellQuote(f), name)
	}
	script.WriteString(`exec "$@"` + "\n")

	cfg := filepath.Join(c.Dir, "kubelet.yaml")
	ep := "unix://" + c.Runtime.Address
	writeFile(t, cfg, fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %s
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: %s
imageServiceEndpoint: %s
# No systemd on these machines, cgroups v1 (hybrid).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
# iptables chains would be global; nothing here needs them.
makeIPTablesUtilChains: false
podLogsDir: %s
# The images are imported, never pulled: never garbage-collect them, and
# do not evict pods because other suites fill the shared disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
syncFrequency: 10s
`, port, healthzPort, filepath.Join(c.pki, "ca.crt"), ep, ep, c.PodLogs), 0o644)
	p := fixture.StartProcess(t, "kubelet", filepath.Join(c.Dir, "kubelet.log"), nil,
		"unshare", "--mount", "--propagation", "unchanged", "--", "/bin/sh", "-c", script.String(), "kubelet",
		filepath.Join(c.bin, "kubelet"),
		"--config", cfg,
		"--kubeconfig", filepath.Join(c.Dir, "kubelet.kubeconfig"),
		"--hostname-override", c.Node,
		"--root-dir", c.kubeletDir,
		"--cert-dir", filepath.Join(c.Dir, "kubelet-pki"))
	c.procs = append(c.procs, p)
	return p
}

// shareKubeletDir makes the kubelet's root directory a shared mount, so
// that what the kubelet mounts there from its own mount namespace reaches
// the host's (and containerd's).
func (c *cluster) shareKubeletDir(t testing.TB) {
	t.Helper()
	for _, d := range []string{c.kubeletDir, c.PodLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount(c.kubeletDir, c.kubeletDir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", c.kubeletDir, err)
	}
	t.Cleanup(func() { fixture.UnmountUnder(t, c.kubeletDir) })
	if err := unix.Mount("", c.kubeletDir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", c.kubeletDir, err)
	}
}

// Kubectl runs kubectl as the cluster's admin.
func (c *cluster) Kubectl(args ...string) (string, error) {
	return c.KubectlIn("", args...)
}

// KubectlIn is Kubectl with stdin. Its discovery cache stays in the
// test's directory, not in $HOME/.kube.
func (c *cluster) KubectlIn(stdin string, args ...string) (string, error) {
	argv := append([]string{filepath.Join(c.bin, "kubectl"), "--kubeconfig", c.Kubeconfig, "--cache-dir", filepath.Join(c.Dir, "kubectl-cache")}, args...)
	return command(2*time.Minute, nil, stdin, argv...)
}

// stop stops the kubelet and the control plane by PID, newest first, and
// checks that the host's sysctls are as they were.
func (c *cluster) stop(t testing.TB) {
	t.Helper()
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(t, 30*time.Second)
	}
	// The kubelet's tmpfs volumes, and the shared bind of its root.
	fixture.UnmountUnder(t, c.kubeletDir)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// freePort is a TCP port free on 127.0.0.1 right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func writeKubeconfig(t testing.TB, path, server, ca, cert, key string) {
	t.Helper()
	writeFile(t, path, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rro-e2e
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: user
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: rro-e2e
  context:
    cluster: rro-e2e
    user: user
current-context: rro-e2e
`, server, ca, cert, key), 0o600)
}
