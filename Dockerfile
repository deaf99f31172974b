# The SomaGent application image: one image, every role
# (somagent serve api | worker | billing | projector | memory | analytics),
# configured by SOMAGENT_* variables.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# bubblewrap: the python tool runs snippets in namespaces (no network, read-only system).
# Unprivileged user namespaces must be allowed where workers run (Docker's default
# seccomp profile refuses them: see docs/tools.md), or set SOMAGENT_TOOL_SANDBOX=none.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY somagent ./somagent
COPY schemas ./schemas
COPY infra ./infra
RUN pip install . && useradd --system --home /app somagent
USER somagent
EXPOSE 8787
ENTRYPOINT ["somagent"]
CMD ["serve", "api"]
