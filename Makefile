# rro-runc: see README.md.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Static, trimmed binaries: no cgo means no dynamic loader on the
# pass-through path, -s -w drops symbol tables the runtime never reads.
export CGO_ENABLED = 0
GOFLAGS_BUILD = -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

# Fuzzing per target: a bounded count in `make test` (a few seconds each; a
# count, not a duration, because Go 1.26's coordinator can miss a short
# deadline on a loaded machine); `make fuzz FUZZTIME=10m` locally.
FUZZTIME ?= 20000x

.PHONY: all build setup test unit e2e fuzz-smoke fuzz bench bench-smoke demo install image deb clean k8s-bin k8s-test

all: build

build:
	$(GO) build $(GOFLAGS_BUILD) -o bin/rro-runc ./cmd/rro-runc
	$(GO) build $(GOFLAGS_BUILD) -o bin/rroctl ./cmd/rroctl
	$(GO) build $(GOFLAGS_BUILD) -o bin/rro-nri ./cmd/rro-nri

# Everything: unit tests, the root-only end-to-end suites (real runc, crun,
# containerd, CRI, Docker, Podman), bounded fuzzing, a benchmark smoke run,
# and the single-node Kubernetes suite. setup installs what the suites drive
# (idempotent, seconds when all is there), so `make test` alone passes on a
# fresh machine.
#
# Kubernetes is built from source the first time (about 15 minutes of two
# cores, then cached in .cache/k8s-*/bin). The build runs in the background
# at nice 19 while the other suites run: they spend much of their time
# waiting on daemons and containers, and at nice 19 the build takes only
# the CPU they leave idle (its own session, so that a failure stops all of
# it). Its log: .cache/k8s-build.log.
K8S_BUILD_LOG = .cache/k8s-build.log
test: setup build
	@mkdir -p .cache; setsid nice -n 19 ./e2e/k8s/build.sh >$(K8S_BUILD_LOG) 2>&1 & build=$$!; \
	$(MAKE) unit fuzz-smoke bench-smoke || { s=$$?; kill -- -$$build 2>/dev/null; wait $$build; exit $$s; }; \
	echo "waiting for the Kubernetes build (log: $(K8S_BUILD_LOG))"; \
	wait $$build || { tail -50 $(K8S_BUILD_LOG); echo "e2e/k8s/build.sh failed; log: $(K8S_BUILD_LOG)" >&2; exit 1; }; \
	$(MAKE) k8s-test

# As root: apt packages and the Go-built clients (e2e/setup.sh). Not root:
# nothing to install with, and the root-only suites skip (they fail under CI=true).
setup:
	@if [ "$$(id -u)" = 0 ]; then ./e2e/setup.sh; \
	else echo "make setup: not root, installing nothing; the end-to-end suites need root (sudo make test)" >&2; fi

# Kubernetes v1.34.4 and etcd built from the Go module proxy into
# .cache/k8s-v1.34.4/bin (minutes the first time, reused after).
k8s-bin:
	./e2e/k8s/build.sh

# The single-node Kubernetes suite (root): etcd, apiserver, controller
# manager, scheduler and kubelet on a private containerd 2.4.2, driven with
# kubectl. Behind the build tag k8s so that `go test ./...` never starts a
# Kubernetes build; `make test` runs it.
k8s-test: build k8s-bin
	$(GO) test -tags k8s -count=1 -timeout 40m -v ./e2e/k8s/

# The end-to-end packages run one at a time (-p 1): each starts daemons and
# mount namespaces, and a namespace one suite makes copies the mounts
# another suite's containers hold (podman rm then fails with EBUSY on the
# container's shm). Everything else runs in parallel as usual.
unit:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m $$($(GO) list ./... | grep -v '/e2e/')
	$(GO) test -count=1 -timeout 40m -p 1 ./e2e/...

fuzz-smoke:
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(FUZZTIME) ./rewrite
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/argv
	$(GO) test -run '^$$' -fuzz '^FuzzParseTOML$$' -fuzztime $(FUZZTIME) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzEdit$$' -fuzztime $(FUZZTIME) ./internal/configure

bench: build
	./internal/bench/run.sh

bench-smoke: build
	BENCH_SMOKE=1 ./internal/bench/run.sh

demo: build
	./scripts/demo.sh

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 bin/rro-runc bin/rroctl bin/rro-nri $(DESTDIR)$(BINDIR)/

# The installer image (Dockerfile's, built with no engine or registry) as a
# docker-archive: docker load / podman load / ctr image import -i.
IMAGE ?= rro-runc/rro-runc:latest
image: build
	$(GO) run ./internal/imagetar/mkimage -o bin/rro-runc-image.tar -tag $(IMAGE) -version $(VERSION) bin/rro-runc bin/rroctl $(wildcard bin/rro-nri)

# The Debian package: bin/rro-runc_<version>_<arch>.deb.
deb: build
	VERSION=$(VERSION) ./packaging/deb/build.sh

clean:
	rm -rf bin
