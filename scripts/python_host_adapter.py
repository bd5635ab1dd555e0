"""A protocol adapter in front of pulumi-language-python v3.79.0, the newest Python language
host the Go module proxy serves (scripts/toolchain.versions says why).

That host reads a plugin's location from ``RunPluginRequest.program`` and ``pwd``; the CLI
this toolchain builds (v3.276) says where a plugin is in ``RunPluginRequest.info`` (its
program directory and entry point) and leaves ``program`` relative to it, so the old host
would run the project's own program as the policy pack or component provider. This adapter
starts the real host, forwards every call to it unchanged, and fills ``program`` and ``pwd``
of a RunPlugin call from ``info``, and drops from its command line the runtime options
it does not know (``-toolchain``). Nothing else differs.

The engine launches it as ``pulumi-language-python <engine address> ...``; like every
plugin it prints the port it listens on as its first line of output.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from pulumi.runtime.proto import language_pb2

SERVICE = "pulumirpc.LanguageRuntime"
REAL_HOST_VARIABLE = "WASMCLOUD_LATTICE_PYTHON_HOST"
"""The real host's path, which the toolchain's launcher sets."""


NEWER_FLAGS = ("toolchain", "typechecker")
"""Runtime options newer CLIs pass as flags (``-toolchain=pip``), which this host does not
define (it would exit on them); it runs the Python ``PULUMI_PYTHON_CMD`` names either way."""


def host_arguments(argv: list[str]) -> list[str]:
    """``argv`` without the flags this host does not know."""
    return [a for a in argv if a.lstrip("-").split("=", 1)[0] not in NEWER_FLAGS or not a.startswith("-")]


def plugin_located(request: language_pb2.RunPluginRequest) -> language_pb2.RunPluginRequest:
    """``program`` and ``pwd`` as the old host reads them, from ``info`` where the CLI gives it."""
    info = request.info
    if info.program_directory:
        located = language_pb2.RunPluginRequest()
        located.CopyFrom(request)
        located.program = os.path.join(info.program_directory, info.entry_point or ".")
        located.pwd = info.program_directory
        return located
    return request


class Forward(grpc.GenericRpcHandler):
    """Every LanguageRuntime method, forwarded as raw bytes; RunPlugin located first."""

    def __init__(self, channel: grpc.Channel):
        self.methods: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {}
        for method in language_pb2.DESCRIPTOR.services_by_name["LanguageRuntime"].methods:
            path = f"/{SERVICE}/{method.name}"
            if method.server_streaming:
                stream: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(path)
                self.methods[path] = grpc.unary_stream_rpc_method_handler(
                    self._streamed(stream, method.name == "RunPlugin")
                )
            else:
                self.methods[path] = grpc.unary_unary_rpc_method_handler(self._unary(channel.unary_unary(path)))

    @staticmethod
    def _unary(call: Any) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                response: bytes = call(request, metadata=context.invocation_metadata())
            except grpc.RpcError as err:
                context.abort(err.code(), err.details() or "")
            return response

        return forward

    @staticmethod
    def _streamed(call: Any, run_plugin: bool) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
        def forward(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            if run_plugin:
                parsed = language_pb2.RunPluginRequest.FromString(request)
                request = plugin_located(parsed).SerializeToString()
            try:
                yield from call(request, metadata=context.invocation_metadata())
            except grpc.RpcError as err:
                context.abort(err.code(), err.details() or "")

        return forward

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        return self.methods.get(handler_call_details.method)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the host goes when this adapter goes, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def main() -> int:
    host = subprocess.Popen(
        [os.environ[REAL_HOST_VARIABLE], *host_arguments(sys.argv[1:])],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
    )
    assert host.stdout is not None
    port = host.stdout.readline().strip()
    if not port.isdigit():
        host.kill()
        print(f"pulumi-language-python adapter: the host printed {port!r}, not its port", file=sys.stderr)
        return 1
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[Forward(channel)])
    own_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(own_port, flush=True)

    def stop(*_: Any) -> None:
        server.stop(grace=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.wait_for_termination()
    finally:
        host.terminate()
        try:
            host.wait(timeout=5)
        except subprocess.TimeoutExpired:
            host.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
