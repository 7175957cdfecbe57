# One image for every DirectoryBolt service (api, workers, beat, flower, migrate):
# the command decides the role, so a release is one build and one tag.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIRECTORYBOLT_CHROMIUM_PATH=/usr/bin/chromium \
    DIRECTORYBOLT_STATE_DIR=/var/lib/directorybolt

# Debian's Chromium (Playwright's own download needs network access at build time and
# is not what the tests run against). Fonts so screenshots render text, not boxes.
# tini is PID 1: Chromium's helper processes outlive their parents and must be reaped.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        chromium fonts-liberation fonts-dejavu-core fonts-noto-color-emoji tini \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --user-group directorybolt \
 && install -d -o directorybolt -g directorybolt /var/lib/directorybolt

WORKDIR /src
COPY setup.cfg pyproject.toml README.md beat_schedule.py ./
COPY directorybolt ./directorybolt
COPY tasks ./tasks
RUN pip install . \
 && directorybolt --help >/dev/null \
 && python -c "import playwright.sync_api, directorybolt.queueing.celery_app, directorybolt.api.app"

USER directorybolt
WORKDIR /home/directorybolt
EXPOSE 8000 5555
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["directorybolt", "--help"]
