//go:build k8s

package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// makePKI writes, with openssl, a CA and the certificates the cluster
// needs into dir: the apiserver's serving certificate (SANs localhost,
// 127.0.0.1 and the first service IP), client certificates for admin
// (system:masters), the kubelet (system:node:NODE), the controller-manager,
// the scheduler and the apiserver's calls to the kubelet, and an RSA
// service-account key pair. Valid for two days: a test cluster lives
// minutes.
func makePKI(t testing.TB, dir, node string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	openssl := func(args ...string) {
		t.Helper()
		if out, err := command(time.Minute, nil, "", append([]string{"openssl"}, args...)...); err != nil {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
	}
	openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"),
		"-days", "2", "-subj", "/CN=rro-e2e-ca")
	const client = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
	certs := []struct{ name, subj, ext string }{
		{"apiserver", "/CN=kube-apiserver",
			"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" +
				"subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1\n"},
		{"admin", "/O=system:masters/CN=admin", client},
		{"kubelet", "/O=system:nodes/CN=system:node:" + node, client},
		{"controller-manager", "/CN=system:kube-controller-manager", client},
		{"scheduler", "/CN=system:kube-scheduler", client},
		{"apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", client},
	}
	for i, c := range certs {
		ext := f(c.name + ".ext")
		writeFile(t, ext, c.ext, 0o600)
		openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f(c.name+".key"),
			"-out", f(c.name+".csr"), "-subj", c.subj)
		openssl("x509", "-req", "-in", f(c.name+".csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"),
			"-set_serial", fmt.Sprint(1000+i), "-days", "2", "-extfile", ext, "-out", f(c.name+".crt"))
	}
	openssl("genrsa", "-out", f("sa.key"), "2048")
	openssl("rsa", "-in", f("sa.key"), "-pubout", "-out", f("sa.pub"))
}
