"""Start the real Kafka broker and MongoDB-wire server on this machine, without Docker.

Used by the test fixtures, `make run` and `make bench`. The binaries come from
deploy/local/provision.sh (cached under ~/.cache/crm-hub). Each server runs as a child that
dies with its parent (PR_SET_PDEATHSIG), so an interrupted run leaves no orphans.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("CRMHUB_CACHE", Path.home() / ".cache" / "crm-hub"))
KAFKA_VERSION = os.environ.get("CRMHUB_KAFKA_VERSION", "4.4.0")
FERRETDB_VERSION = os.environ.get("CRMHUB_FERRETDB_VERSION", "v1.24.2")
HERE = Path(__file__).resolve().parent


class ProvisioningError(RuntimeError):
    """A server could not be found or started; the message says what to run."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class RunningServer:
    name: str
    address: str
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    # a Kafka broker started with SCRAM users: where its SASL listener is
    sasl_address: str | None = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )


def _wait_port(server: RunningServer, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ProvisioningError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise ProvisioningError(f"{server.name} did not listen on {port} within {timeout}s:\n{server.log_tail()}")


# --- Kafka -----------------------------------------------------------------------------------

KAFKA_BROKER_CONFIG = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "num.partitions": "3",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "min.insync.replicas": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
    "log.cleaner.min.compaction.lag.ms": "0",
}


def kafka_libs() -> Path:
    libs = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
    if not (libs.parent / ".complete").exists():
        raise ProvisioningError(f"Kafka {KAFKA_VERSION} is not provisioned in {libs.parent}: run `make provision`")
    return libs


def start_kafka(
    data_dir: Path,
    *,
    port: int | None = None,
    heap_mib: int = 512,
    timeout: float = 90.0,
    scram_users: dict[str, str] | None = None,
    sasl_port: int | None = None,
) -> RunningServer:
    """A single-node KRaft broker+controller; storage is formatted on first use of data_dir.

    With `scram_users` it also listens with SASL_PLAINTEXT (SCRAM-SHA-512) on `sasl_port` for
    those users, and authorizes by ACLs (`kafka_acl`); the PLAINTEXT listener stays for setup on
    loopback, as the super user."""
    if shutil.which("java") is None:
        raise ProvisioningError("java is not on PATH: Kafka needs Java 17+")
    libs = kafka_libs()
    port = port or free_port()
    controller_port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {
        **KAFKA_BROKER_CONFIG,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir / "log"),
    }
    if scram_users:
        sasl_port = sasl_port or free_port()
        config |= {
            "listeners": f"{config['listeners']},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
            "advertised.listeners": f"{config['advertised.listeners']},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
            "auto.create.topics.enable": "false",
        }
    props = data_dir / "server.properties"
    props.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
    java = [
        "java",
        f"-Xms{min(heap_mib, 256)}m",
        f"-Xmx{heap_mib}m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'kafka' / 'log4j2.properties'}",
        "-cp",
        f"{libs}/*",
    ]
    if not (data_dir / "log" / "meta.properties").exists():
        fmt = subprocess.run(
            # "=": a random id may start with "-", which the option parser would take for an option
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_kafka_cluster_id()}",
                "--config",
                str(props),
                "--standalone",
                *(
                    f"--add-scram=SCRAM-SHA-512=[name={user},password={password}]"
                    for user, password in (scram_users or {}).items()
                ),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise ProvisioningError(f"formatting Kafka storage failed:\n{fmt.stdout}\n{fmt.stderr}")
    log_path = data_dir / "kafka.log"
    server = RunningServer(
        "kafka",
        f"127.0.0.1:{port}",
        _spawn([*java, "kafka.Kafka", str(props)], log_path),
        log_path,
        data_dir,
    )
    _wait_port(server, port, timeout)
    _wait_kafka_metadata(server, timeout)
    if scram_users:
        server.sasl_address = f"127.0.0.1:{sasl_port}"
    return server


def kafka_acl(server: RunningServer, *args: str) -> None:
    """Add an ACL through the broker's setup listener: `kafka_acl(server, "--allow-principal", "User:bi", ...)`."""
    java = [
        "java",
        "-Xmx256m",
        "-cp",
        f"{kafka_libs()}/*",
        "org.apache.kafka.tools.AclCommand",
        "--bootstrap-server",
        server.address,
        "--add",
        "--force",
    ]
    result = subprocess.run([*java, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProvisioningError(f"adding the ACL {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _kafka_cluster_id() -> str:
    # Kafka wants a base64url-encoded 16-byte UUID, like `kafka-storage.sh random-uuid` prints.
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _wait_kafka_metadata(server: RunningServer, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=server.address, request_timeout_ms=5000)
        await admin.start()
        try:
            await admin.describe_cluster()
        finally:
            await admin.close()

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ProvisioningError(f"kafka exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            asyncio.run(probe())
            return
        except Exception as exc:  # the broker answers only once its controller is elected
            last = exc
            time.sleep(0.3)
    server.stop()
    raise ProvisioningError(f"kafka at {server.address} never answered metadata requests: {last}\n{server.log_tail()}")


# --- MongoDB-wire server -----------------------------------------------------------------------

MONGO_JAVA_SERVER_VERSION = os.environ.get("CRMHUB_MONGO_JAVA_SERVER_VERSION", "1.47.0")


def mongo_wire_kind() -> str:
    """Which MongoDB-wire server to run: CRMHUB_MONGO_WIRE, or mongod when on PATH, else mongo-java-server."""
    kind = os.environ.get("CRMHUB_MONGO_WIRE", "auto")
    if kind == "auto":
        kind = "mongod" if shutil.which("mongod") else "mongo-java-server"
    if kind not in ("mongod", "mongo-java-server", "ferretdb"):
        raise ProvisioningError(f"unknown CRMHUB_MONGO_WIRE={kind!r}: use auto, mongod, mongo-java-server or ferretdb")
    return kind


def wire_server_hash() -> str:
    """Which compiled version of WireServer.java (and of its patch of the library) to run: the one
    of their current sources (provision.sh)."""
    import hashlib

    here = Path(__file__).resolve().parent / "mongo-wire"
    sources = (here / "WireServer.java", here / "library.patch")
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]


def _mongo_command(kind: str, data_dir: Path, port: int) -> list[str]:
    if kind == "mongod":
        mongod = shutil.which("mongod")
        if mongod is None:
            raise ProvisioningError("CRMHUB_MONGO_WIRE=mongod but there is no mongod on PATH")
        return [mongod, "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(data_dir), "--quiet"]
    if kind == "mongo-java-server":
        home = CACHE / f"mongo-java-server-{MONGO_JAVA_SERVER_VERSION}"
        if not (home / ".complete").exists() or not (home / f"classes-{wire_server_hash()}").exists():
            raise ProvisioningError(f"mongo-java-server is not provisioned in {home}: run `make provision`")
        return [
            "java",
            "-Xms128m",
            "-Xmx4g",
            "-XX:+UseG1GC",
            # each collection's pauses, for whoever wonders where a slow answer went
            f"-Xlog:gc:file={data_dir / 'gc.log'}:uptime:filecount=2,filesize=5m",
            "-cp",
            f"{home / f'classes-{wire_server_hash()}'}:{home / 'libs'}/*",
            "WireServer",
            str(data_dir / "hub.mv.db"),
            "127.0.0.1",
            str(port),
        ]
    ferret = CACHE / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"
    if not ferret.exists():
        raise ProvisioningError(f"FerretDB is not built at {ferret}: run `CRMHUB_MONGO_WIRE=ferretdb make provision`")
    (data_dir / "sqlite").mkdir(exist_ok=True)
    return [
        str(ferret),
        "--handler=sqlite",
        f"--sqlite-url=file:{data_dir / 'sqlite'}/",
        f"--listen-addr=127.0.0.1:{port}",
        "--debug-addr=-",
        f"--state-dir={data_dir}",
        "--log-level=warn",
        "--telemetry=disable",
    ]


def start_mongo(data_dir: Path, *, port: int | None = None, timeout: float = 60.0) -> RunningServer:
    kind = mongo_wire_kind()
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{kind}.log"
    server = RunningServer(
        kind, f"mongodb://127.0.0.1:{port}/", _spawn(_mongo_command(kind, data_dir, port), log_path), log_path, data_dir
    )
    _wait_port(server, port, timeout)
    return server


# --- Hub services ------------------------------------------------------------------------------

ROOT = HERE.parent.parent
SERVICES: dict[str, int] = {"leads": 8001, "telephony": 8002, "deals": 8003, "motivation": 8004, "notifier": 8005}
PYTHONPATH = [ROOT / "shared", *(ROOT / "services" / name for name in SERVICES)]


def service_command(name: str) -> list[str]:
    """How every deployment starts a service: `python -m <name>` (compose and Kubernetes alike)."""
    return ["python", "-m", name]


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def start_service(
    name: str, *, env: dict[str, str], port: int, log_path: Path, python: str | None = None, timeout: float = 60.0
) -> RunningServer:
    """Start one hub service as its own process and wait until /ready answers (Kafka, MongoDB and its read models usable)."""
    import sys
    import urllib.request

    prefix = name.upper()
    full_env = {
        "PYTHONPATH": os.pathsep.join(str(p) for p in PYTHONPATH),
        "PYTHONUNBUFFERED": "1",
        **env,
        f"{prefix}_HTTP_PORT": str(port),
        f"{prefix}_HTTP_HOST": "127.0.0.1",
    }
    cmd = [python or sys.executable, *service_command(name)[1:]]
    server = RunningServer(name, f"http://127.0.0.1:{port}", _spawn(cmd, log_path, full_env), log_path, log_path.parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ProvisioningError(f"service {name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.address}/ready", timeout=5) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise ProvisioningError(f"service {name} did not become ready within {timeout}s:\n{server.log_tail()}")


OIDC_DIR = Path(__file__).resolve().parent / "oidc"


def start_oidc(
    data_dir: Path, *, accounts: dict[str, dict[str, object]], port: int | None = None, timeout: float = 30.0
) -> RunningServer:
    """A real OpenID Connect provider (node-oidc-provider, deploy/local/oidc) on loopback."""
    import json
    import shutil
    import urllib.request

    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        raise ProvisioningError(
            "the OpenID Connect provider needs node and `make provision` (npm install of oidc-provider)"
        )
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "oidc.log"
    env = {"OIDC_PORT": str(port), "OIDC_ACCOUNTS": json.dumps(accounts)}
    server = RunningServer(
        "oidc",
        f"http://127.0.0.1:{port}",
        _spawn([node, str(OIDC_DIR / "provider.mjs")], log_path, env),
        log_path,
        data_dir,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ProvisioningError(
                f"the OpenID Connect provider exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.address}/.well-known/openid-configuration", timeout=1) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise ProvisioningError(f"the OpenID Connect provider did not answer within {timeout}s:\n{server.log_tail()}")
