"""The deployment files stay in step with the code: docker cannot run here, so they are read.

deploy/routes.team.yaml (with users.example.yaml as users.yaml) loads as the replicas would load
it; compose.yaml mounts files that exist and points the replicas at its Redis; the Dockerfile
installs the `team` extra and listens where compose and nginx expect it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from fcc.config import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
KEYS = {"NVIDIA_NIM_API_KEY": "k" * 24, "OPENROUTER_API_KEY": "k" * 24}


def test_team_routes_load_with_the_example_users(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "routes.team.yaml", tmp_path / "routes.yaml")
    shutil.copy(DEPLOY / "users.example.yaml", tmp_path / "users.yaml")
    config = load_config(str(tmp_path / "routes.yaml"), {**KEYS, "FCC_REDIS_URL": "redis://redis:6379/0"})
    assert config.shared_state == "redis://redis:6379/0"
    assert config.metrics_listen == "0.0.0.0:9464"
    assert [u.name for u in config.users] == ["alice", "bob"]
    assert config.users[1].routes == frozenset({"sonnet", "haiku"})
    assert config.providers["nvidia_nim"].requests_per_minute == 40


def test_compose_wires_replicas_redis_and_the_balancer() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    fcc = services["fcc"]
    assert fcc["environment"]["FCC_REDIS_URL"] == "redis://redis:6379/0"
    assert fcc["deploy"]["replicas"] >= 2
    assert (DEPLOY / fcc["build"]["context"] / fcc["build"]["dockerfile"]).is_file()
    for mount in fcc["volumes"] + services["gateway"]["volumes"]:
        source = mount.split(":", 1)[0]
        assert source == "./users.yaml" or (DEPLOY / source).is_file(), mount  # users.yaml is the user's copy
    assert "--appendonly" in services["redis"]["command"]
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_buffering off" in nginx and "http://fcc:8082" in nginx
    assert services["gateway"]["ports"] == ["8082:8082"]


def test_dockerfile_installs_the_team_extra_and_faces_the_network() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert "pip install '.[team]'" in dockerfile
    assert '"--listen-host", "0.0.0.0", "--listen-port", "8082"' in dockerfile
    assert "ENV FCC_CONFIG=/etc/fcc/routes.yaml" in dockerfile
    assert "USER fcc" in dockerfile
