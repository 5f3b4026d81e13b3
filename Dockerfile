# fcc in a container: one replica of a team gateway. deploy/compose.yaml runs several of them
# with one Redis behind a load balancer; README.md "Team gateway" has the whole setup.
#
#   docker build -t fcc .
#   docker run --rm -p 8082:8082 -v $PWD/routes.yaml:/etc/fcc/routes.yaml:ro -e FCC_AUTH_TOKEN=... fcc
#
# Python 3.11 with mitmproxy 11.0.2, as CI tests it. The `team` extra brings redis-py and
# prometheus-client. The proxy runs as an unprivileged user; its mitmproxy CA lives in its home.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/fcc
COPY pyproject.toml README.md ./
COPY addon ./addon
RUN pip install '.[team]' \
    && useradd --create-home --uid 10001 fcc

USER fcc
WORKDIR /home/fcc
# routes.yaml (mount it here); FCC_REDIS_URL and provider keys come from the environment.
ENV FCC_CONFIG=/etc/fcc/routes.yaml
EXPOSE 8082 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import socket; socket.create_connection(('127.0.0.1', 8082), 2).close()"
# In a container the listener must face the network: fcc refuses that without a token
# (FCC_AUTH_TOKEN, or a `users` section in routes.yaml).
ENTRYPOINT ["fcc", "run", "--listen-host", "0.0.0.0", "--listen-port", "8082"]
CMD ["--set", "termlog_verbosity=info", "--set", "flow_detail=0"]
