# ssl-fault-exporter: docker build -t ssl-fault-exporter .
# docker run -d -p 9793:9793 -v "$PWD/config.yaml:/etc/sslfault/config.yaml:ro" ssl-fault-exporter
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN python -m venv /opt/sslfault \
 && /opt/sslfault/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="ssl-fault-exporter" \
      org.opencontainers.image.description="Prometheus exporter that finds SSL certificate faults and says how to fix them" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sslfault
COPY --from=build /opt/sslfault /opt/sslfault
ENV PATH=/opt/sslfault/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9793
# The configuration is mounted, never baked in: -v /path/config.yaml:/etc/sslfault/config.yaml:ro
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9793/-/healthy', timeout=4)"]
ENTRYPOINT ["sslfault"]
CMD ["serve", "--config.file=/etc/sslfault/config.yaml", "--web.listen-address=:9793"]
