"""App+daprd pairs: one by default, N with ``REPLICAS=N`` (placement spreads the actors).

Pair 0 has the configured ports (app 8000, daprd 3500/50001, ...); pair i takes those plus
``PAIR_OFFSET * i``. Private stacks give each pair ports that are free now instead. Pair 0's
processes are named ``daprd`` and ``app``, pair i's ``daprd-i`` and ``app-i``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from devstack.settings import DevSettings

PAIR_OFFSET = 100


@dataclass(frozen=True)
class PairPorts:
    index: int
    app: int
    http: int
    grpc: int
    internal_grpc: int
    metrics: int
    profile: int

    @property
    def suffix(self) -> str:
        return "" if self.index == 0 else f"-{self.index}"

    def ports(self) -> dict[str, int]:
        """Named for the message a clash produces."""
        n = f" (pair {self.index})" if self.index else ""
        return {
            f"app{n}": self.app,
            f"daprd HTTP{n}": self.http,
            f"daprd gRPC{n}": self.grpc,
            f"daprd internal gRPC{n}": self.internal_grpc,
            f"daprd metrics{n}": self.metrics,
            f"daprd profile{n}": self.profile,
        }


def first_pair(settings: DevSettings) -> PairPorts:
    s, d = settings.stack, settings.dapr
    return PairPorts(
        0,
        s.app_port,
        d.http_port,
        d.grpc_port,
        s.daprd_internal_grpc_port,
        s.daprd_metrics_port,
        s.daprd_profile_port,
    )


def default_pairs(settings: DevSettings) -> list[PairPorts]:
    base = first_pair(settings)
    return [
        replace(
            base,
            index=i,
            **{
                f: getattr(base, f) + PAIR_OFFSET * i
                for f in ("app", "http", "grpc", "internal_grpc", "metrics", "profile")
            },
        )
        for i in range(settings.stack.replicas)
    ]


def process_index(name: str) -> int:
    """0 for ``daprd``/``app``, i for ``daprd-i``/``app-i``."""
    _, _, index = name.partition("-")
    return int(index) if index.isdigit() else 0


def kind_of(name: str) -> str:
    """``daprd-2`` -> ``daprd``."""
    return name.partition("-")[0]
