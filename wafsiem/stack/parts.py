"""What each part of the local stack is: how to configure, start and probe it."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings
from wafsiem.stack import artifacts

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    user: int | None = None  # run as this uid/gid (OpenSearch refuses to run as root)
    group: int | None = None


@dataclass(frozen=True)
class Part:
    """One server of the stack."""

    name: str
    port: int
    profile: str | None  # Maven profile holding its artifact; None for Python parts
    prepare: Callable[[Settings, Path], Launch] = field(repr=False)
    probe: Callable[[Settings], str | None] = field(repr=False)
    env: Callable[[Settings], dict[str, str]] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def needs_java(self) -> bool:
        return self.profile is not None


def _http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method="GET")  # noqa: S310 (loopback URL we built)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _java() -> str:
    java = shutil.which("java", path=os.environ.get("PATH"))
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        java = str(Path(home) / "bin" / "java")
    if java is None:
        raise WafsiemError(
            "Java is missing: the local stack's OpenSearch, S3Proxy and ElasticMQ need Java 17+",
            hint="install OpenJDK 17 (Debian: apt-get install openjdk-17-jre-headless)",
        )
    return java


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "JAVA_HOME", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


# --- OpenSearch ---------------------------------------------------------------------------


def _opensearch_runtime_dir(settings: Settings, workdir: Path) -> tuple[Path, int | None]:
    """Where OpenSearch's config, data and logs live, and the uid it runs as.

    OpenSearch refuses to run as root. When wafsiem runs as root it starts OpenSearch as
    the unprivileged ``settings.stack.opensearch_user``, with its files in a directory
    that user can reach (a root home is usually mode 0700); ``<workdir>/runtime`` links there.
    """
    if os.geteuid() != 0:
        return workdir, None
    user = pwd.getpwnam(settings.stack.opensearch_user)
    digest = hashlib.sha256(str(settings.state_dir.resolve()).encode()).hexdigest()[:10]
    runtime = Path(settings.stack.root_runtime_dir) / f"wafsiem-opensearch-{digest}"
    runtime.mkdir(parents=True, exist_ok=True)
    link = workdir / "runtime"
    if not link.is_symlink():
        link.symlink_to(runtime, target_is_directory=True)
    return runtime, user.pw_uid


def _linked_copy(source: Path, target: Path) -> None:
    """A copy of the distribution made of hard links where the filesystem allows it."""
    marker = target / ".source"
    if marker.exists() and marker.read_text() == str(source):
        return
    shutil.rmtree(target, ignore_errors=True)

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, target, copy_function=link_or_copy, symlinks=True)
    marker.write_text(str(source))


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(Path(root) / name, uid, gid, follow_symlinks=False)


def _prepare_opensearch(settings: Settings, workdir: Path) -> Launch:
    runtime, uid = _opensearch_runtime_dir(settings, workdir)
    home = artifacts.opensearch_home(settings.cache_dir)
    if uid is not None:  # the unprivileged user cannot reach the cache under a root home
        _linked_copy(home, runtime / "home")
        home = runtime / "home"
    conf = runtime / "config"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(home / "config", conf)
    data = runtime / "data"
    logs = runtime / "logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    st = settings.stack
    (conf / "opensearch.yml").write_text(
        "\n".join(
            [
                "cluster.name: wafsiem-local",
                "node.name: wafsiem-local-1",
                "discovery.type: single-node",
                f"network.host: {HOST}",
                f"http.port: {st.opensearch_port}",
                f"transport.port: {st.opensearch_transport_port}",
                f"path.data: {data}",
                f"path.logs: {logs}",
                # a developer machine may be short of disk: never flip indices read-only
                "cluster.routing.allocation.disk.threshold_enabled: false",
                "action.auto_create_index: true",
                "",
            ]
        )
    )
    gid = None
    if uid is not None:
        gid = pwd.getpwuid(uid).pw_gid
        for path in (runtime, conf, data, logs):
            _chown_tree(path, uid, gid)
    heap = st.opensearch_heap
    env = _base_env() | {
        "OPENSEARCH_PATH_CONF": str(conf),
        "OPENSEARCH_JAVA_OPTS": f"-Xms{heap} -Xmx{heap} -XX:ActiveProcessorCount=2",
        "JAVA_HOME": str(Path(_java()).resolve().parents[1]),
    }
    if uid is not None:
        env["HOME"] = str(runtime)
        env["OPENSEARCH_TMPDIR"] = str(runtime / "tmp")
        (runtime / "tmp").mkdir(exist_ok=True)
        os.chown(runtime / "tmp", uid, gid or uid)
    return Launch(
        argv=[str(home / "bin" / "opensearch")], env=env, cwd=runtime, user=uid, group=gid
    )


def _probe_opensearch(settings: Settings) -> str | None:
    base = f"http://{HOST}:{settings.stack.opensearch_port}"
    status, _ = _http_get(f"{base}/_cluster/health?wait_for_status=yellow&timeout=1s")
    if status != 200:
        return None
    _, root = _http_get(f"{base}/")
    return "opensearch " + str(json.loads(root)["version"]["number"])


def _env_opensearch(settings: Settings) -> dict[str, str]:
    return {"WAFSIEM_OPENSEARCH__URL": f"http://{HOST}:{settings.stack.opensearch_port}"}


# --- S3Proxy --------------------------------------------------------------------------------


def _prepare_s3(settings: Settings, workdir: Path) -> Launch:
    st = settings.stack
    basedir = workdir / "data"
    basedir.mkdir(parents=True, exist_ok=True)
    props = workdir / "s3proxy.conf"
    props.write_text(
        "\n".join(
            [
                f"s3proxy.endpoint=http://{HOST}:{st.s3_port}",
                "s3proxy.authorization=aws-v2-or-v4",
                f"s3proxy.identity={st.access_key_id}",
                f"s3proxy.credential={st.secret_access_key.get_secret_value()}",
                "jclouds.provider=filesystem-nio2",
                f"jclouds.filesystem.basedir={basedir}",
                "s3proxy.ignore-unknown-headers=true",
                "",
            ]
        )
    )
    props.chmod(0o600)
    argv = [
        _java(),
        "-Xmx512m",
        "-cp",
        artifacts.classpath(settings.cache_dir, "s3proxy"),
        "org.gaul.s3proxy.Main",
        "--properties",
        str(props),
    ]
    return Launch(argv=argv, env=_base_env(), cwd=workdir)


def _probe_s3(settings: Settings) -> str | None:
    # Any S3 answer (an AccessDenied XML for an anonymous request) means it serves.
    status, body = _http_get(f"http://{HOST}:{settings.stack.s3_port}/")
    return "s3proxy" if status in (200, 403) and b"<" in body else None


def _aws_env(prefix: str, settings: Settings, port: int) -> dict[str, str]:
    st = settings.stack
    return {
        f"WAFSIEM_{prefix}__ENDPOINT_URL": f"http://{HOST}:{port}",
        f"WAFSIEM_{prefix}__ACCESS_KEY_ID": st.access_key_id,
        f"WAFSIEM_{prefix}__SECRET_ACCESS_KEY": st.secret_access_key.get_secret_value(),
        f"WAFSIEM_{prefix}__REGION": "us-east-1",
    }


def _env_s3(settings: Settings) -> dict[str, str]:
    return _aws_env("S3", settings, settings.stack.s3_port)


# --- ElasticMQ ------------------------------------------------------------------------------


def _prepare_sqs(settings: Settings, workdir: Path) -> Launch:
    port = settings.stack.sqs_port
    conf = workdir / "elasticmq.conf"
    conf.write_text(
        "\n".join(
            [
                'include classpath("application.conf")',
                "node-address {",
                "  protocol = http",
                f'  host = "{HOST}"',
                f"  port = {port}",
                '  context-path = ""',
                "}",
                "rest-sqs {",
                "  enabled = true",
                f"  bind-port = {port}",
                f'  bind-hostname = "{HOST}"',
                "  sqs-limits = strict",
                "}",
                "rest-stats.enabled = false",
                "generate-node-address = false",
                'aws { region = "us-east-1", accountId = "000000000000" }',
                "messages-storage {",
                "  enabled = true",
                f'  uri = "jdbc:h2:{workdir / "messages"}"',
                "}",
                "queues-storage {",
                "  enabled = true",
                f'  path = "{workdir / "queues.conf"}"',
                "}",
                "",
            ]
        )
    )
    argv = [
        _java(),
        "-Xmx384m",
        f"-Dconfig.file={conf}",
        "-cp",
        artifacts.classpath(settings.cache_dir, "elasticmq"),
        "org.elasticmq.server.Main",
    ]
    return Launch(argv=argv, env=_base_env(), cwd=workdir)


def _probe_sqs(settings: Settings) -> str | None:
    status, _ = _http_get(
        f"http://{HOST}:{settings.stack.sqs_port}/?Action=ListQueues&Version=2012-11-05"
    )
    return "elasticmq" if status == 200 else None


def _env_sqs(settings: Settings) -> dict[str, str]:
    return _aws_env("SQS", settings, settings.stack.sqs_port)


# --- moto (WAFv2 only) ----------------------------------------------------------------------


def _prepare_waf(settings: Settings, workdir: Path) -> Launch:
    argv = [
        sys.executable,
        "-m",
        "moto.server",
        "-H",
        HOST,
        "-p",
        str(settings.stack.waf_port),
    ]
    env = _base_env() | {"PYTHONUNBUFFERED": "1", "MOTO_ALLOW_NONEXISTENT_REGION": "false"}
    return Launch(argv=argv, env=env, cwd=workdir)


def _probe_waf(settings: Settings) -> str | None:
    status, _ = _http_get(f"http://{HOST}:{settings.stack.waf_port}/moto-api/data.json")
    return "moto" if status == 200 else None


def _env_waf(settings: Settings) -> dict[str, str]:
    return _aws_env("WAF", settings, settings.stack.waf_port)


def all_parts(settings: Settings) -> list[Part]:
    st = settings.stack
    return [
        Part(
            "opensearch",
            st.opensearch_port,
            "opensearch",
            _prepare_opensearch,
            _probe_opensearch,
            _env_opensearch,
        ),
        Part("s3", st.s3_port, "s3proxy", _prepare_s3, _probe_s3, _env_s3),
        Part("sqs", st.sqs_port, "elasticmq", _prepare_sqs, _probe_sqs, _env_sqs),
        Part("waf", st.waf_port, None, _prepare_waf, _probe_waf, _env_waf),
    ]


def stack_env(settings: Settings) -> dict[str, str]:
    """The settings that point the rest of wafsiem at the local stack."""
    env: dict[str, str] = {}
    for part in all_parts(settings):
        env.update(part.env(settings))
    env["WAFSIEM_STATE_DIR"] = str(settings.state_dir)
    return env
