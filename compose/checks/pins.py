"""Every image pinned to an exact version (check 7 of compose/validate.py)."""

from __future__ import annotations

import re

from .compose import REPO
from .report import problem


# the image compose builds from this repo (the Dockerfile, whose FROM lines are checked instead)
LOCAL_IMAGES = {"brokerbench:local"}
# an exact release: major.minor.patch, then a variant (-alpine, -management, -emulators, -bookworm)
EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-_][A-Za-z0-9][A-Za-z0-9._-]*)?$")
# images whose releases have two numbers: Debian's point releases (12.12)
TWO_NUMBER_RELEASES = {"debian": re.compile(r"^\d+\.\d+(?:-[a-z]+)?$")}


def unpinned(image: str) -> str | None:
    """Why `image` is not pinned to an exact version, or None when it is."""
    if image in LOCAL_IMAGES or re.search(r"@sha256:[0-9a-f]{64}$", image):
        return None
    last = image.rsplit("/", 1)[-1]  # a registry's host:port is before the last /
    if ":" not in last:
        return "no tag (that is :latest)"
    repo, tag = last.rsplit(":", 1)
    if not (TWO_NUMBER_RELEASES.get(repo) or EXACT_TAG).match(tag):
        return f"tag {tag!r} is not an exact version"
    return None


def check_pin_rule() -> None:
    """The rule itself: what it must refuse and what it must take."""
    refused = ["mongo:7", "mongo", "redis:latest", "redis:7", "rabbitmq:3-management", "nats:2.10-alpine",
               "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators", "rust:1-bookworm",
               "debian:bookworm-slim", "localhost:5000/mongo", "grafana/grafana:11", "apache/kafka:4.4"]
    taken = ["mongo:7.0.16", "redis:7.4.1", "rabbitmq:3.13.7-management", "nats:2.10.29-alpine",
             "gcr.io/google.com/cloudsdktool/google-cloud-cli:528.0.0-emulators", "rust:1.95.0-bookworm",
             "debian:12.12-slim", "prom/prometheus:v2.55.1", "localhost:5000/mongo:7.0.16",
             "apache/kafka:4.4.0", "brokerbench:local", "mongo@sha256:" + "0" * 64]
    for image in refused:
        if unpinned(image) is None:
            problem(f"the pin rule takes {image!r}, which is not an exact version")
    for image in taken:
        if unpinned(image) is not None:
            problem(f"the pin rule refuses {image!r}: {unpinned(image)}")


def check_images(label: str, cfg: dict) -> None:
    for name, svc in (cfg.get("services") or {}).items():
        why = unpinned(str(svc.get("image", "")))
        if why:
            problem(f"{label}: {name} uses image {svc.get('image')!r}: {why}; pin an exact version")


def check_dockerfile() -> None:
    stages: set[str] = set()
    for n, line in enumerate((REPO / "Dockerfile").read_text().splitlines(), 1):
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        image = args[0]
        if len(args) >= 3 and args[1].upper() == "AS":
            stages.add(args[2])
        if image in stages:
            continue
        why = unpinned(image)
        if why:
            problem(f"Dockerfile:{n}: FROM {image}: {why}; pin an exact version")
        else:
            print(f"  ok   Dockerfile:{n}: FROM {image}")
