"""A throw-away Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

For the e2e tests and for trying the Kubernetes platform by hand (``python -m sandbox kube``). The
binaries come from ``scripts/toolchain.sh`` (found on PATH or in ``$WASMCLOUD_LATTICE_TOOLCHAIN_DIR``).

There is no kubelet, scheduler or node, so pods never run. The controller manager is there because
the Pulumi Kubernetes provider deletes with foreground propagation (the garbage collector clears the
finalizer; without it a delete hangs), because deleting a namespace needs the namespace controller,
and because pods are only admitted once the ``default`` ServiceAccount exists. Nothing reports pods
ready or gives load balancers an address unless :class:`sandbox.simulated_node.SimulatedNode` runs
beside it (the e2e tests and ``python -m sandbox kube`` run it, so the provider's waits are real).

Every process is started by the sandbox's ``Supervisor`` (PR_SET_PDEATHSIG, stopped by PID on exit);
the certificates, etcd's data and the kubeconfig live in a temp dir removed on exit.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from lattice.addressing import CertificateHosts
from sandbox.ports import free_ports
from sandbox.processes import Supervisor
from sandbox.tls import PrivateCA, pem_key, subject_name

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CIDR = "10.0.0.0/24"  # an address range inside the API server's model only; nothing routes to it
SERVICE_IP = "10.0.0.1"  # the first one: the `kubernetes` Service's cluster IP, named by the serving cert


class KubeError(RuntimeError):
    """A control-plane process failed to start or to become ready (the message carries its log)."""


def find_binaries() -> dict[str, Path]:
    """Each control-plane binary: from the toolchain dir if it is set, else from PATH."""
    toolchain = os.environ.get("WASMCLOUD_LATTICE_TOOLCHAIN_DIR")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in BINARIES:
        candidate = Path(toolchain, "bin", name) if toolchain else None
        if candidate is not None and os.access(candidate, os.X_OK):
            found[name] = candidate
        elif (on_path := shutil.which(name)) is not None:
            found[name] = Path(on_path)
        else:
            missing.append(name)
    if missing:
        raise KubeError(
            f"not found: {', '.join(missing)}. Build them with `make toolchain`, then "
            '`eval "$(scripts/toolchain.sh --env)"`'
        )
    return found


@dataclass(frozen=True)
class Pki:
    """The PEM files a control plane needs: one CA signs the serving cert and the client certs."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public_key: Path
    sa_private_key: Path


def make_pki(directory: Path) -> Pki:
    """A private CA, the API server's serving cert (127.0.0.1, localhost and the in-cluster names), an
    admin client cert in ``system:masters`` and the service-account signing key pair."""
    ca = PrivateCA("wasmcloud-lattice kube")
    dns = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
    serving = ca.sign(
        subject_name("kube-apiserver"),
        (ExtendedKeyUsageOID.SERVER_AUTH,),
        CertificateHosts(dns_names=dns, ip_addresses=("127.0.0.1", SERVICE_IP)),
    )
    admin = ca.sign(subject_name("sandbox-admin", "system:masters"), (ExtendedKeyUsageOID.CLIENT_AUTH,), None)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_public = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "ca.pem": ca.cert_pem.encode(),
        "apiserver.pem": serving.cert_pem.encode(),
        "apiserver-key.pem": serving.key_pem.encode(),
        "admin.pem": admin.cert_pem.encode(),
        "admin-key.pem": admin.key_pem.encode(),
        "sa.pub": sa_public,
        "sa-key.pem": pem_key(sa_key).encode(),
    }
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        path.chmod(0o600)
    return Pki(
        ca_cert=directory / "ca.pem",
        serving_cert=directory / "apiserver.pem",
        serving_key=directory / "apiserver-key.pem",
        admin_cert=directory / "admin.pem",
        admin_key=directory / "admin-key.pem",
        sa_public_key=directory / "sa.pub",
        sa_private_key=directory / "sa-key.pem",
    )


def kubeconfig_text(server: str, pki: Pki, context: str = "sandbox") -> str:
    """An admin kubeconfig with the certificates inline, so it works from any directory."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_cert)}}],
        "users": [
            {
                "name": "sandbox-admin",
                "user": {"client-certificate-data": b64(pki.admin_cert), "client-key-data": b64(pki.admin_key)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "sandbox-admin"}}],
        "current-context": context,
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML: every kubeconfig reader takes it


class KubeControlPlane:
    """``with KubeControlPlane() as kube:`` gives ``kube.kubeconfig`` (a path) and ``kube.request``.

    Start-up waits for etcd's ``/health``, the API server's ``/readyz`` and then the ``default``
    ServiceAccount (the controller manager's controllers are running). Exit stops every process by PID
    and removes the temp dir, on every path out, errors during start-up included.
    """

    def __init__(self, *, ready_timeout: float = 120.0) -> None:
        self.ready_timeout = ready_timeout
        self.binaries = find_binaries()
        self.dir = Path()  # the temp dir: made on entry, so an object never entered leaves nothing behind
        self.supervisor = Supervisor(self.dir)
        self.server = ""
        self.kubeconfig = self.dir / "kubeconfig"
        self._ssl: ssl.SSLContext | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def __enter__(self) -> KubeControlPlane:
        self.dir = Path(tempfile.mkdtemp(prefix="sandbox-kube-"))
        self.supervisor = Supervisor(self.dir)
        self.kubeconfig = self.dir / "kubeconfig"
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), the API server before etcd, and remove the temp dir."""
        for name in reversed(list(self.supervisor.procs)):
            self.supervisor.stop(name, timeout=10.0)
        self.supervisor.stop_all()
        if self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)

    def _start(self) -> None:
        pki = make_pki(self.dir / "pki")
        etcd_client, etcd_peer, api_port, kcm_port = free_ports(4)
        self.server = f"https://127.0.0.1:{api_port}"
        self.supervisor.start(
            "etcd",
            [
                str(self.binaries["etcd"]),
                "--name=sandbox",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=sandbox=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",  # throw-away data: no fsync keeps a 2-core machine responsive
                "--log-level=warn",
            ],
        )
        self._wait("etcd", lambda: _http_ok(f"http://127.0.0.1:{etcd_client}/health", None))

        self.supervisor.start(
            "kube-apiserver",
            [
                str(self.binaries["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # it would publish the advertise address in the `kubernetes` Endpoints, which refuse loopback
                "--endpoint-reconciler-type=none",
                f"--secure-port={api_port}",
                f"--cert-dir={self.dir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki.sa_public_key}",
                f"--service-account-signing-key-file={pki.sa_private_key}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=0",
            ],
        )
        self._ssl = ssl.create_default_context(cafile=str(pki.ca_cert))
        self._ssl.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._wait("kube-apiserver", lambda: _http_ok(f"{self.server}/readyz", self._ssl))

        self.kubeconfig.write_text(kubeconfig_text(self.server, pki))
        self.kubeconfig.chmod(0o600)
        self.supervisor.start(
            "kube-controller-manager",
            [
                str(self.binaries["kube-controller-manager"]),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={self.dir / 'kcm-certs'}",
                "--leader-elect=false",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-account-private-key-file={pki.sa_private_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--v=0",
            ],
        )
        self._wait(
            "kube-controller-manager",
            lambda: _http_ok(f"{self.server}/api/v1/namespaces/default/serviceaccounts/default", self._ssl),
        )

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if (rc := self.supervisor.exited().get(name)) is not None:
                raise KubeError(f"{name} exited with {rc}:\n{self.supervisor.log_tail(name, 30)}")
            if ready():
                return
            time.sleep(0.25)
        raise KubeError(f"{name} not ready after {self.ready_timeout:.0f}s:\n{self.supervisor.log_tail(name, 30)}")

    # -- a small client for checks --------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """One API call as the admin (status, decoded JSON body); no client library needed.
        A PATCH is a JSON merge patch."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.server}{path}", data=data, method=method)  # noqa: S310 (https only)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=30) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None if it does not exist."""
        status, body = self.request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise KubeError(f"GET {path}: {status} {body}")
        return body

    def wait_deleted(self, path: str, timeout: float = 60.0) -> None:
        """Wait until the object at ``path`` is gone (a namespace goes once its controller emptied it)."""
        deadline = time.monotonic() + timeout
        while self.get(path) is not None:
            if time.monotonic() > deadline:
                raise KubeError(f"{path} still there after {timeout:.0f}s")
            time.sleep(0.5)


def _http_ok(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as resp:  # noqa: S310 (our own loopback URL)
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False
