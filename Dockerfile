# rro-runc's installer image: only the static binaries, rroctl as the
# entrypoint. A DaemonSet (deploy/) runs
#   IMAGE install --host-root /host --engine containerd --restart systemd --wait
#
# `make image` builds the same image without any engine or registry
# (internal/imagetar/mkimage) and saves it as bin/rro-runc-image.tar; with
# an engine at hand, the equivalent is:
#   make build && docker build -t rro-runc/rro-runc:latest .
# The binaries are static (CGO_ENABLED=0), so scratch is enough.
FROM scratch
# rro-nri is optional: the [i] glob copies it only when it was built.
COPY bin/rro-runc bin/rroctl bin/rro-nr[i] /usr/local/bin/
ENV PATH=/usr/local/bin
LABEL org.opencontainers.image.title="rro-runc" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/rro-runc/rro-runc"
ENTRYPOINT ["/usr/local/bin/rroctl"]
CMD ["--help"]
