# ssl-fault-exporter: docker build -t ssl-fault-exporter .
# docker run -d -p 17753:17753 -v "$PWD/config.yaml:/etc/sslfault/config.yaml:ro" \
#   -v sslfault-state:/var/lib/sslfault ssl-fault-exporter
FROM python:3.11-slim-bookworm AS build
# Every pip install below takes its versions from constraints.txt (CI installs from it too),
# the build backend included: PIP_CONSTRAINT reaches pip's isolated build environment.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_CONSTRAINT=/src/constraints.txt
WORKDIR /src
# Dependencies in their own layer, before the code: a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -m venv /opt/sslfault \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
 && /opt/sslfault/bin/pip install --no-cache-dir -r requirements.txt
COPY README.md ./
COPY exporter ./exporter
RUN /opt/sslfault/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="ssl-fault-exporter" \
      org.opencontainers.image.description="Prometheus exporter that finds SSL certificate faults and says how to fix them" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sslfault \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/sslfault
COPY --from=build /opt/sslfault /opt/sslfault
# The port is set once: `sslfault serve` listens on SSLFAULT_LISTEN_ADDRESS and the HEALTHCHECK
# probes it. Change it with `docker run -e SSLFAULT_LISTEN_ADDRESS=:PORT`.
ENV SSLFAULT_PORT=17753
ENV PATH=/opt/sslfault/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SSLFAULT_LISTEN_ADDRESS=:${SSLFAULT_PORT}
USER 10001:10001
EXPOSE ${SSLFAULT_PORT}
# The configuration is mounted, never baked in: -v /path/config.yaml:/etc/sslfault/config.yaml:ro.
# Results are kept in /var/lib/sslfault (mount a volume there so they survive re-creating the container).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-m", "exporter.http.healthcheck"]
ENTRYPOINT ["sslfault"]
CMD ["serve", "--config.file=/etc/sslfault/config.yaml", "--storage.state-file=/var/lib/sslfault/state.json"]
