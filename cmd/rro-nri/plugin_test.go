package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/probe"
	"github.com/rro-runc/rro-runc/rewrite"
)

// slowPlugin is a plugin whose runtime probe takes a second, with
// containerd's request timeout set to 200ms (so a 150ms budget).
func slowPlugin(t *testing.T, pol string) *plugin {
	t.Helper()
	dir := t.TempDir()
	rt := filepath.Join(dir, "slow-runtime")
	if err := os.WriteFile(rt, []byte("#!/bin/sh\nsleep 1\necho 'slow version 1.0'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(conf, []byte("policy = \""+pol+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg, err := parseFlags([]string{"--config", conf, "--runtime", rt, "--cache-dir", dir, "--probe-timeout", "5s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := &plugin{cfg: cfg, log: log,
		prober:    &probe.Prober{CacheDir: cfg.cacheDir, Timeout: cfg.probeTimeout},
		overrides: policy.Overrides{Config: cfg.policyFile}}
	p.requestTimeout.Store(int64(200 * time.Millisecond))
	return p
}

func TestCreateContainerAnswersWithinBudget(t *testing.T) {
	ctr := &api.Container{Name: "c", Mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"))}
	for _, pol := range []string{"Enabled", "IfPossible"} {
		p := slowPlugin(t, pol)
		if _, err := p.settings(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		adj, _, err := p.CreateContainer(context.Background(), &api.PodSandbox{Name: "p"}, ctr)
		took := time.Since(start)
		if took > 500*time.Millisecond {
			t.Errorf("%s: answered after %s, budget 150ms", pol, took)
		}
		switch pol {
		case "Enabled":
			if !errors.Is(err, rewrite.ErrRefused) || !strings.Contains(err.Error(), "deciding took longer than 150ms") {
				t.Errorf("Enabled: err = %v, want a refusal naming the budget", err)
			}
		default:
			if err != nil || adj != nil {
				t.Errorf("IfPossible: adjustment %v, err %v; want the container left unchanged", adj, err)
			}
		}
	}
}

// BenchmarkCreateContainer is the plugin's whole answer to one container
// with a read-only volume: the configuration read, the warm probe cache,
// the kernel check, the decision and the adjustment (NRI's ttrpc round
// trip excluded).
func BenchmarkCreateContainer(b *testing.B) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		b.Skip("runc not in PATH")
	}
	dir := b.TempDir()
	conf := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(conf, []byte("policy = \"IfPossible\"\nruntime = \""+runc+"\"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := parseFlags([]string{"--config", conf, "--cache-dir", dir}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	p, err := newPlugin(cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	pod := &api.PodSandbox{Name: "p", Namespace: "ns"}
	ctr := &api.Container{Name: "c", Mounts: criMounts(vol("/vol", "rbind", "rprivate", "ro"))}
	b.ReportAllocs()
	for b.Loop() {
		adj, _, err := p.CreateContainer(context.Background(), pod, ctr)
		if err != nil || adj == nil {
			b.Fatalf("adjustment %v, err %v", adj, err)
		}
	}
}
