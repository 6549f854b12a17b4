package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/sirupsen/logrus"

	"github.com/rro-runc/rro-runc/internal/launch"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/probe"
	"github.com/rro-runc/rro-runc/rewrite"
)

// plugin answers NRI's CreateContainer. It subscribes to nothing else:
// every other event would be a round trip for nothing.
type plugin struct {
	cfg       *config
	log       *logrus.Logger
	prober    *probe.Prober
	overrides policy.Overrides
	// requestTimeout is containerd's plugin_request_timeout as the stub
	// learnt it at registration (nanoseconds; 0 until then).
	requestTimeout atomic.Int64
	// lastPolicy is the configured policy last read, for the answer when
	// deciding runs out of time before the settings are read again.
	lastPolicy atomic.Int32
	// stub is the current connection's stub, for Configure.
	stub atomic.Pointer[stub.Stub]
}

// Configure runs when containerd accepts the registration, in the
// goroutine that just stored the request timeout in the stub.
func (p *plugin) Configure(_ context.Context, _, runtime, version string) (api.EventMask, error) {
	if s := p.stub.Load(); s != nil {
		t := (*s).RequestTimeout()
		p.requestTimeout.Store(int64(t))
		p.log.Infof("rro-nri: registered with %s %s; plugin_request_timeout %s, answering within %s", runtime, version, t, p.budget())
	}
	return 0, nil // 0: the events the plugin implements
}

// DefaultRequestTimeout is NRI's own default, used until containerd says.
const DefaultRequestTimeout = 2 * time.Second

// budget is how long CreateContainer may take. containerd treats a plugin
// that misses plugin_request_timeout as dead: it closes the connection and
// creates the container unadjusted, even under required_plugins (measured
// in e2e/nri TestNeverBlocks). So the plugin answers itself, a quarter
// before that deadline, whatever is still running.
func (p *plugin) budget() time.Duration {
	t := time.Duration(p.requestTimeout.Load())
	if t <= 0 {
		t = DefaultRequestTimeout
	}
	return t * 3 / 4
}

func newPlugin(cfg *config, log *logrus.Logger) (*plugin, error) {
	p := &plugin{
		cfg:       cfg,
		log:       log,
		prober:    &probe.Prober{CacheDir: cfg.cacheDir, Timeout: cfg.probeTimeout},
		overrides: policy.Overrides{Policy: cfg.policyName, Config: cfg.policyFile},
	}
	// A configuration that is broken now is refused now, loudly, rather
	// than on every container.
	s, err := p.settings()
	if err != nil {
		return nil, err
	}
	// Probe once before registering, so that the first container does not
	// pay for it (and a runtime that cannot be found is reported at once).
	rt, err := p.runtimeFor("", s)
	if err != nil {
		if s.Policy == rewrite.Enabled {
			return nil, err
		}
		log.Warnf("rro-nri: %v", err)
	} else {
		sup := p.support(rt)
		log.Infof("rro-nri: policy %s (%s), runtime %s: supported=%v %s", s.Policy, s.Sources["policy"], rt, sup.Supported, sup.Reason)
	}
	return p, nil
}

// settings reads the configuration as the wrapper does on every create:
// an edit takes effect for the next container, without a restart.
func (p *plugin) settings() (*policy.Settings, error) {
	s, err := policy.Load(p.overrides, os.Getenv)
	if err == nil {
		p.lastPolicy.Store(int32(s.Policy))
	}
	return s, err
}

// runtimeFor is the runtime binary whose support matters for a pod on the
// CRI runtime handler handler.
func (p *plugin) runtimeFor(handler string, s *policy.Settings) (string, error) {
	name := p.cfg.handlers[handler]
	if name == "" {
		name = p.cfg.runtime
	}
	if name == "" {
		name = s.Runtime
	}
	rt, err := launch.Resolve(name)
	if err != nil {
		return "", fmt.Errorf("runtime to probe for handler %q: %w (set --runtime or --handler-runtime)", handler, err)
	}
	return rt, nil
}

func (p *plugin) support(runtime string) rewrite.Support {
	rt, err := p.prober.Runtime(runtime)
	if err != nil {
		return rewrite.Support{Reason: err.Error()}
	}
	ok, reason := probe.Support(probe.ProbeKernel(), rt)
	return rewrite.Support{Supported: ok, Reason: reason}
}

// CreateContainer is NRI's hook. Its error refuses the container; the
// message reaches the CRI caller after containerd's own prefix.
func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	start := time.Now()
	who := fmt.Sprintf("container %s in pod %s/%s", ctr.GetName(), pod.GetNamespace(), pod.GetName())
	type answer struct {
		a   *adjustment
		err error
	}
	done := make(chan answer, 1)
	go func() {
		a, err := p.decide(pod, ctr)
		done <- answer{a, err}
	}()
	budget := p.budget()
	var ans answer
	select {
	case ans = <-done:
	case <-time.After(budget):
		// Too late to decide: answer now rather than let containerd drop
		// the plugin and create the container unadjusted.
		wanted := rewrite.Policy(p.lastPolicy.Load())
		if v, ok := pod.GetAnnotations()[rewrite.AnnotationPolicy]; ok && strings.EqualFold(strings.TrimSpace(v), "Enabled") {
			wanted = rewrite.Enabled
		}
		if wanted == rewrite.Enabled {
			ans.err = fmt.Errorf("%w: policy Enabled: deciding took longer than %s (containerd's plugin_request_timeout is %s); refusing rather than letting the container start unchecked",
				rewrite.ErrRefused, budget, time.Duration(p.requestTimeout.Load()))
		} else {
			p.log.Warnf("rro-nri: %s: deciding took longer than %s; left unchanged (policy %s)", who, budget, wanted)
			return nil, nil, nil
		}
	}
	if ans.err != nil {
		err := fmt.Errorf("rro-nri: %s: %w", who, ans.err)
		p.log.Error(err)
		return nil, nil, err
	}
	a := ans.a
	for _, why := range a.Skipped {
		p.log.Warnf("rro-nri: %s: %s", who, why)
	}
	if len(a.Applied) > 0 {
		p.log.Infof("rro-nri: %s: rro on %s (policy %s from %s) in %s",
			who, strings.Join(a.Applied, ","), a.Plan.Policy, a.Plan.PolicyFrom, time.Since(start).Round(time.Microsecond))
	}
	return a.Adjust, nil, nil
}

func (p *plugin) decide(pod *api.PodSandbox, ctr *api.Container) (*adjustment, error) {
	s, err := p.settings()
	if err != nil {
		return nil, err
	}
	support := func() rewrite.Support {
		rt, err := p.runtimeFor(pod.GetRuntimeHandler(), s)
		if err != nil {
			return rewrite.Support{Reason: err.Error()}
		}
		return p.support(rt)
	}
	return decide(s.Options(), support, pod, ctr)
}

// Synchronize is called on every (re)connection with the containers that
// exist. Those whose read-only volumes the plugin would have made rro were
// created while it was not connected: NRI cannot change a created
// container's mounts, so the plugin names them on stderr for an operator
// (or a check on the log) to recreate. NRI v0.12.3 (containerd 2.4.2)
// lets the first CreateContainer after a plugin dies through even with
// required_plugins set, so this is how that container is found.
func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	s, err := p.settings()
	if err != nil {
		p.log.Errorf("rro-nri: synchronize: %v", err)
		return nil, nil
	}
	byID := make(map[string]*api.PodSandbox, len(pods))
	for _, pod := range pods {
		byID[pod.GetId()] = pod
	}
	n := 0
	for _, ctr := range ctrs {
		if ctr.GetState() == api.ContainerState_CONTAINER_STOPPED {
			continue
		}
		pod := byID[ctr.GetPodSandboxId()]
		a, err := decide(s.Options(), func() rewrite.Support { return rewrite.Support{Supported: true} }, pod, ctr)
		if err != nil || len(a.Applied) == 0 {
			continue
		}
		n++
		p.log.Errorf("rro-nri: container %s (%s) in pod %s/%s is not protected: %s not recursively read-only (it was created while rro-nri was not connected); recreate it",
			ctr.GetName(), ctr.GetId(), pod.GetNamespace(), pod.GetName(), strings.Join(a.Applied, ","))
	}
	p.log.Infof("rro-nri: synchronized with %d pods and %d containers, %d unprotected", len(pods), len(ctrs), n)
	return nil, nil
}
