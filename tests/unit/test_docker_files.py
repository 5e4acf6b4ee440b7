"""The compose file and Dockerfile hang together (no Docker engine here to run them)."""

from __future__ import annotations

from pathlib import Path

import yaml

from wafsiem.settings import SQSSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "docker-compose.yml"


def test_compose_services_and_references() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"opensearch", "s3", "sqs", "wafsiem", "init"} <= set(services)
    assert services["opensearch"]["image"].startswith("opensearchproject/opensearch:2.19.")
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            assert volume.split(":", 1)[0] in spec["volumes"], volume
        env = service.get("environment", {})
        if name in ("wafsiem", "init"):
            assert env["WAFSIEM_OPENSEARCH__URL"] == "http://opensearch:9200"
            assert env["WAFSIEM_S3__ENDPOINT_URL"].startswith("http://s3:")
            assert env["WAFSIEM_SQS__ENDPOINT_URL"].startswith("http://sqs:")
    build = services["init"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()


def test_dockerfile_copies_what_exists() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert 'ENTRYPOINT ["wafsiem"]' in dockerfile


def test_compose_runs_the_consumer_and_the_tiering_job() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    image = services["wafsiem"]["image"]
    consumer, tier = services["ingest-sqs"], services["tier"]
    for service in (consumer, tier):
        assert service["image"] == image == services["init"]["image"]
        assert service["environment"] == services["wafsiem"]["environment"]
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert service["healthcheck"] == {"disable": True}  # nothing listens on 8080 there
    assert consumer["command"][:2] == ["ingest", "sqs"] and "--follow" in consumer["command"]
    assert "wafsiem tier run" in tier["command"][0]
    env = services["wafsiem"]["environment"]
    assert env["WAFSIEM_LOG__FORMAT"] == "json"
    assert consumer["command"][2] == SQSSettings().queue_name  # the queue `wafsiem init` makes
