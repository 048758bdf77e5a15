"""Starts Redis, placement, scheduler, then every app+daprd pair at once, waits for each to be
ready, then restarts any that exits (restarts.py); on stop ends exactly the processes it started (by
pid, in reverse order)."""

from __future__ import annotations

import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from devstack import health, jaeger
from devstack.errors import StackError
from devstack.pairs import PairPorts, default_pairs, kind_of, process_index
from devstack.ports import check_ports_free
from devstack.process import ManagedProcess
from devstack.redis import ensure_redis_server
from devstack.restarts import RestartPolicy, Watchdog
from devstack.runtime import ensure_runtime
from devstack.settings import DevSettings

log = logging.getLogger(__name__)

# Layered over the shared --config for the stack's daprd only (see the file for why).
LOCAL_CONFIG = Path(__file__).with_name("daprd-local.yaml")


class Stack:
    def __init__(
        self,
        settings: DevSettings,
        *,
        with_app: bool = True,
        app_env: dict[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
        pairs: list[PairPorts] | None = None,
    ) -> None:
        self.settings = settings
        self.pairs = pairs if pairs is not None else default_pairs(settings)
        self.with_app = with_app
        # Called (from the watchdog's thread) whenever a part exits, restarts or is ready.
        self.on_change = on_change
        self.lock = threading.RLock()
        self.watchdog: Watchdog | None = None
        # Extra environment for the app process (tests set limits and tokens this way).
        self.app_env = app_env or {}
        self.run_dir = settings.stack.run_dir
        self.log_dir = self.run_dir / "logs"
        self.processes: list[ManagedProcess] = []
        self.app_token = self._app_token()

    def _app_token(self) -> str:
        """The token daprd sends the app and the app requires on /actors/... and /subscribe:
        the configured one, else a fresh one per stack, so the stack's app never answers
        those routes to another local process (anything on the machine can reach loopback)."""
        token = self.settings.auth.app_api_token
        return token.get_secret_value() if token is not None else secrets.token_urlsafe(32)

    def start(self) -> None:
        """Start everything, or raise StackError having stopped whatever did start."""
        check_ports_free(self.settings, self.pairs)
        redis_server = ensure_redis_server(self.settings.stack.redis_server)
        bins = ensure_runtime(self.settings.stack.bin_dir)
        plan = [
            self._redis(redis_server),
            self._placement(bins["placement"]),
            self._scheduler(bins["scheduler"]),
        ]
        if self.settings.tracing.enabled:  # first: it receives from the first span on
            binary = jaeger.ensure_jaeger()
            plan.insert(0, jaeger.jaeger_process(self.settings, binary, self._log("jaeger")))
        pairs: list[ManagedProcess] = []
        for pair in self.pairs:
            pairs.append(self._daprd(bins["daprd"], pair))
            if self.with_app:
                pairs.append(self._app(pair))
        try:
            for proc in plan:
                start = time.monotonic()
                self._spawn(proc)
                self._await_ready(proc, start)
            # The pairs need only the control plane, not each other: started together, N pairs
            # are ready about as soon as one (an app's start-up is most of a stack's).
            started = time.monotonic()
            for proc in pairs:
                self._spawn(proc)
            for proc in pairs:
                self._await_ready(proc, started)
        except BaseException:
            self.stop()
            raise
        self.watchdog = Watchdog(self, RestartPolicy.of(self.settings.stack), self.on_change)
        self.watchdog.start()

    def _spawn(self, proc: ManagedProcess) -> None:
        log.info("starting %s (log: %s)", proc.name, proc.log_path)
        proc.start()
        self.processes.append(proc)

    def _await_ready(self, proc: ManagedProcess, start: float) -> None:
        # daprd only turns healthy once the app answers, so its readiness waits below.
        if kind_of(proc.name) != "daprd" or not self.with_app:
            proc.wait_ready(start + self.settings.stack.ready_timeout_s)
        if kind_of(proc.name) == "app":
            self.daprd_of(proc.name).wait_ready(start + self.settings.stack.ready_timeout_s)
        log.info("%s ready in %.1fs (pid %s)", proc.name, time.monotonic() - start, proc.pid)

    @property
    def daprd(self) -> ManagedProcess:
        return next(p for p in self.processes if p.name == "daprd")

    def daprd_of(self, name: str) -> ManagedProcess:
        """The daprd of the pair that process ``name`` belongs to."""
        return self.process("daprd" + self.pairs[process_index(name)].suffix)

    def process(self, name: str) -> ManagedProcess:
        return next(p for p in self.processes if p.name == name)

    def restart(self, name: str, *, crash: bool = False) -> None:
        """Stop one part and start it again with the same command, or (``crash``) kill -9 it
        as a crash would and let the watchdog bring it back. Returns once it is ready."""
        proc = self.process(name)
        start = time.monotonic()
        deadline = start + self.settings.stack.ready_timeout_s
        if crash and self.watchdog is not None:
            self.crash(name)
        else:
            with self.lock:  # the watchdog sees the new process, never the gap
                proc.kill() if crash else proc.stop()
                proc.start()
            if kind_of(name) != "daprd" or not self.with_app:
                proc.wait_ready(deadline)
        if kind_of(name) in ("daprd", "app") and self.with_app:
            self.daprd_of(name).wait_ready(deadline)
        log.info("%s restarted in %.1fs (pid %s)", name, time.monotonic() - start, proc.pid)

    def crash(self, name: str) -> float:
        """kill -9 one part and wait until the watchdog has restarted it and it is ready;
        returns the seconds from its exit to ready."""
        if self.watchdog is None:
            raise StackError("the stack is not running: nothing restarts a crashed part.")
        before = self.watchdog.parts[name].restarts
        self.process(name).kill()
        wait = self.settings.stack.ready_timeout_s + self.watchdog.policy.backoff_max_s
        return self.watchdog.wait_back(name, before, time.monotonic() + wait)

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None
        for proc in reversed(self.processes):
            if proc.running():
                log.info("stopping %s (pid %s)", proc.name, proc.pid)
            proc.stop()
        self.processes.clear()

    # -- the parts ---------------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _redis(self, redis_server: str) -> ManagedProcess:
        port = self.settings.stack.redis_port
        data = self.run_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            "",
        ]
        return ManagedProcess("redis", argv, self._log("redis"), lambda: health.redis_ping(port))

    def _control_plane_flags(self, port: int, healthz: int, metrics: int) -> list[str]:
        """What placement and scheduler share: every listener on loopback, ports apart.
        Dapr 1.18.2 ignores --healthz-listen-address (ports.ALL_INTERFACES); it is passed for
        the runtime that honours it (dapr/dapr#10394)."""
        return [
            "--port",
            str(port),
            "--listen-address",
            "127.0.0.1",
            "--healthz-port",
            str(healthz),
            "--healthz-listen-address",
            "127.0.0.1",
            "--metrics-port",
            str(metrics),
            "--metrics-listen-address",
            "127.0.0.1",
            "--log-level",
            self.settings.stack.log_level,
        ]

    def _placement(self, binary: Path) -> ManagedProcess:
        s = self.settings.stack
        argv = [
            str(binary),
            *self._control_plane_flags(
                s.placement_port, s.placement_healthz_port, s.placement_metrics_port
            ),
            "--initial-cluster",
            f"dapr-placement-0=127.0.0.1:{s.placement_raft_port}",
            # Its health server listens on every interface (see above): never the placement
            # tables there, whatever DAPR_PLACEMENT_METADATA_ENABLED says in the environment.
            "--metadata-enabled=false",
        ]
        url = f"http://127.0.0.1:{s.placement_healthz_port}/healthz"
        return ManagedProcess(
            "placement", argv, self._log("placement"), lambda: health.http_ok(url)
        )

    def _scheduler(self, binary: Path) -> ManagedProcess:
        s = self.settings.stack
        data = self.run_dir / "scheduler-etcd"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(binary),
            *self._control_plane_flags(
                s.scheduler_port, s.scheduler_healthz_port, s.scheduler_metrics_port
            ),
            "--etcd-data-dir",
            str(data),
            "--etcd-client-port",
            str(s.scheduler_etcd_client_port),
            "--etcd-client-listen-address",
            "127.0.0.1",
            "--etcd-initial-cluster",
            f"dapr-scheduler-server-0=http://127.0.0.1:{s.scheduler_etcd_peer_port}",
        ]
        url = f"http://127.0.0.1:{s.scheduler_healthz_port}/healthz"
        return ManagedProcess(
            "scheduler", argv, self._log("scheduler"), lambda: health.http_ok(url)
        )

    def _daprd(self, binary: Path, pair: PairPorts) -> ManagedProcess:
        s, d = self.settings.stack, self.settings.dapr
        argv = [
            str(binary),
            "--app-id",
            d.app_id,
            "--mode",
            "standalone",
            "--app-port",
            str(pair.app),
            "--app-channel-address",
            s.app_host,
            "--app-protocol",
            "http",
            "--dapr-http-port",
            str(pair.http),
            "--dapr-grpc-port",
            str(pair.grpc),
            "--dapr-internal-grpc-port",
            str(pair.internal_grpc),
            "--dapr-listen-addresses",
            "127.0.0.1",
            "--metrics-port",
            str(pair.metrics),
            "--metrics-listen-address",
            "127.0.0.1",
            "--dapr-internal-grpc-listen-address",
            "127.0.0.1",
            "--profile-port",
            str(pair.profile),
            "--placement-host-address",
            f"127.0.0.1:{s.placement_port}",
            "--scheduler-host-address",
            f"127.0.0.1:{s.scheduler_port}",
            # The app splits its actor payloads to stay under this size: it gets the same
            # setting (_app).
            "--max-body-size",
            str(d.max_body_bytes),
            "--resources-path",
            str(s.components_dir),
            "--config",
            str(s.config_file),
            "--config",
            str(LOCAL_CONFIG),
            *self._tracing_config(),
            "--log-level",
            s.log_level,
        ]
        env = self._dapr_env()
        name = "daprd" + pair.suffix
        return ManagedProcess(
            name, argv, self._log(name), lambda: health.daprd_ready(pair.http), env
        )

    def _dapr_env(self) -> dict[str, str]:
        return {
            # Sandboxes often have no routable interface: daprd must advertise loopback.
            "DAPR_HOST_IP": "127.0.0.1",
            # components/*.yaml read the Redis address with envRef.
            "REDIS_HOST": f"127.0.0.1:{self.settings.stack.redis_port}",
            "APP_API_TOKEN": self.app_token,
            **self._gomaxprocs(),
            **(jaeger.daprd_env(self.settings) if self.settings.tracing.enabled else {}),
        }

    def _gomaxprocs(self) -> dict[str, str]:
        # Go's idle Ps spin looking for work on every wake-up; a daprd serving one
        # single-threaded app never needs a second core, and the spinning took 13-33 % of its
        # CPU per turn (docs/BENCHMARKS.md, "daprd on one core").
        procs = self.settings.stack.daprd_gomaxprocs
        return {"GOMAXPROCS": str(procs)} if procs else {}

    def _tracing_config(self) -> list[str]:
        if not self.settings.tracing.enabled:
            return []
        return ["--config", str(jaeger.daprd_config(self.settings))]

    def _app(self, pair: PairPorts) -> ManagedProcess:
        s = self.settings.stack
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "agent_actors.main:create_app",
            "--factory",
            "--host",
            s.app_host,
            "--port",
            str(pair.app),
            *(() if s.access_log else ("--no-access-log",)),
            # daprd keeps connections to the app open longer than uvicorn's 5 s default; a
            # connection closed just as daprd reuses it fails that actor call.
            "--timeout-keep-alive",
            "120",
        ]
        env = {
            "AGENT_ACTORS_DAPR__HTTP_PORT": str(pair.http),
            "AGENT_ACTORS_DAPR__GRPC_PORT": str(pair.grpc),
            "AGENT_ACTORS_DAPR__MAX_BODY_BYTES": str(self.settings.dapr.max_body_bytes),
            **(jaeger.app_env(self.settings) if self.settings.tracing.enabled else {}),
            **self.app_env,
            "APP_API_TOKEN": self.app_token,
        }
        # Always, one pair or several: a stream's ResponseAgent may run in another pair's app
        # (tokens come over Redis), and each streamed or long turn's events are kept there, so
        # a client that lost its connection reconnects with Last-Event-ID.
        env["AGENT_ACTORS_STREAMS__RELAY_URL"] = f"redis://127.0.0.1:{s.redis_port}"
        url = f"http://{s.app_host}:{pair.app}/healthz"
        name = "app" + pair.suffix
        return ManagedProcess(name, argv, self._log(name), lambda: health.http_ok(url), env)
