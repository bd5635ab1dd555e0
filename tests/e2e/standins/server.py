"""The ResourceProvider gRPC service both stand-ins serve (``pulumi/runtime/proto/provider.proto``).

What the engine (CLI v3.276, ``pkg/resource/plugin/provider_plugin.go``) calls on a provider plugin
for custom resources, and what this answers:

- it starts ``pulumi-resource-<name> <engine address>`` and reads the port from its first stdout line;
- ``Handshake`` first (an Unimplemented answer would fall back to ``Configure``'s flags): this one
  accepts no secrets, resources or outputs, so the engine sends plain values and copies secretness
  from inputs to same-named outputs itself; the SDKs mark the computed secrets
  (``additional_secret_outputs``, e.g. ``base64``/``hex``, ``privateKeyPem``);
- ``GetPluginInfo`` (the version), ``CheckConfig``/``DiffConfig``/``Configure`` for the provider
  resource (no configuration here);
- per resource: ``Check`` (defaults applied, required inputs checked; the result is what the state
  keeps as inputs), ``Diff`` (old inputs against new: any change replaces, except the inputs a
  resource updates in place; create-before-delete), ``Create`` (in a preview too, with the computed
  outputs unknown), ``Update``, ``Read`` (refresh: the state as it is), ``Delete`` (nothing to delete);
- ``Cancel`` at shutdown, ``GetSchema`` for tools that ask (a schema naming the resources), ``Attach``
  only for providers the engine attaches to (``PULUMI_DEBUG_PROVIDERS``).

Each call is appended to the file named by ``STANDIN_CALL_LOG`` (one JSON line: provider, method,
type, preview), so a test can see what the engine asked for.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN  # how the engine writes a value not known yet

CALL_LOG = "STANDIN_CALL_LOG"
READY_FOR_RENEWAL = "readyForRenewal"

Properties = dict[str, Any]


class InputError(ValueError):
    """Inputs the real provider would refuse: the engine shows the message."""


@dataclass(frozen=True)
class ResourceKind:
    """One resource type: what ``Check`` fills in and requires, what ``Create`` computes."""

    token: str
    create: Callable[[Properties], tuple[str, Properties]]
    """Checked inputs -> (id, computed outputs)."""
    computed: tuple[str, ...]
    """The outputs ``create`` adds: unknown in a preview."""
    required: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    validate: Callable[[Properties], list[tuple[str, str]]] = lambda _: []
    """Known inputs -> (property, reason) failures."""
    update_in_place: frozenset[str] = frozenset()
    """Inputs whose change is an update; a change of any other input replaces the resource."""
    due_for_renewal: Callable[[Properties], bool] | None = None
    """State -> whether the next update replaces it (a certificate in its early-renewal window)."""


@dataclass(frozen=True)
class StandinProvider:
    name: str
    version: str
    kinds: Mapping[str, ResourceKind]

    def schema(self) -> str:
        """Enough of a package schema to name the package and its resources."""
        resources = {token: {"isComponent": False} for token in self.kinds}
        return json.dumps({"name": self.name, "version": self.version, "resources": resources})


def to_dict(struct: struct_pb2.Struct) -> Properties:
    return dict(json_format.MessageToDict(struct))


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def known(props: Mapping[str, Any]) -> Properties:
    """The properties whose values are known (a preview sends unknowns)."""
    return {k: v for k, v in props.items() if v != UNKNOWN}


_Response = TypeVar("_Response")


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


def _rpc(
    method: Callable[[StandinServicer, Any, grpc.ServicerContext], _Response],
) -> Callable[[StandinServicer, Any, grpc.ServicerContext], _Response]:
    """Logs the call; turns a refused input into INVALID_ARGUMENT and anything else into INTERNAL
    with the traceback, which the engine prints."""

    @functools.wraps(method)
    def wrapper(self: StandinServicer, request: Any, context: grpc.ServicerContext) -> _Response:
        self.log(method.__name__, request)
        try:
            return method(self, request, context)
        except InputError as err:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{self.provider.name} (stand-in): {err}")
        except Exception:
            _abort(context, grpc.StatusCode.INTERNAL, f"{self.provider.name} (stand-in): {traceback.format_exc()}")

    return wrapper


class StandinServicer(provider_pb2_grpc.ResourceProviderServicer):
    """One stand-in provider's ResourceProvider service; the base class answers Unimplemented for
    the rest (Invoke, Call, Construct, Parameterize, List, GetMapping)."""

    def __init__(self, provider: StandinProvider) -> None:
        self.provider = provider
        self._log_path = os.environ.get(CALL_LOG)

    def log(self, method: str, request: Any) -> None:
        if not self._log_path:
            return
        entry = {
            "provider": self.provider.name,
            "method": method,
            "type": getattr(request, "type", ""),
            "preview": bool(getattr(request, "preview", False)),
        }
        with open(self._log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def kind(self, request: Any) -> ResourceKind:
        token = request.type or request.urn.split("::")[-2].split("$")[-1]
        if token not in self.provider.kinds:
            raise InputError(f"unknown resource type {token!r}: the stand-in serves {sorted(self.provider.kinds)}")
        return self.provider.kinds[token]

    # --- the plugin and the provider resource ---

    @_rpc
    def Handshake(
        self, request: provider_pb2.ProviderHandshakeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ProviderHandshakeResponse:
        return provider_pb2.ProviderHandshakeResponse(accept_secrets=False, accept_resources=False)

    @_rpc
    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=self.provider.version)

    @_rpc
    def GetSchema(
        self, request: provider_pb2.GetSchemaRequest, context: grpc.ServicerContext
    ) -> provider_pb2.GetSchemaResponse:
        return provider_pb2.GetSchemaResponse(schema=self.provider.schema())

    @_rpc
    def CheckConfig(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    @_rpc
    def DiffConfig(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    @_rpc
    def Configure(
        self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ConfigureResponse:
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True, acceptResources=False)

    @_rpc
    def Attach(self, request: plugin_pb2.PluginAttach, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()  # nothing calls back into the engine

    @_rpc
    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()  # every call is short and finishes

    # --- resources ---

    @_rpc
    def Check(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        kind = self.kind(request)
        news = {**kind.defaults, **to_dict(request.news)}
        failures = [(p, f"Missing required property '{p}'") for p in kind.required if news.get(p) is None]
        if not failures:
            failures = kind.validate(known(news))
        return provider_pb2.CheckResponse(
            inputs=to_struct(news),
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures],
        )

    @_rpc
    def Diff(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        kind = self.kind(request)
        state = to_dict(request.olds)
        # the engine sends the old inputs since 3.x (it says so in Configure: sends_old_inputs)
        olds = to_dict(request.old_inputs) if request.HasField("old_inputs") else state
        news = to_dict(request.news)
        ignored = set(request.ignoreChanges)
        changed = sorted(k for k in olds.keys() | news.keys() if olds.get(k) != news.get(k) and k not in ignored)
        replaces = [k for k in changed if k not in kind.update_in_place]
        detailed = {k: _property_diff(k in olds, k in news, k in replaces) for k in changed}
        if kind.due_for_renewal is not None and kind.due_for_renewal({**state, **known(news)}):
            changed.append(READY_FOR_RENEWAL)
            replaces.append(READY_FOR_RENEWAL)
            detailed[READY_FOR_RENEWAL] = provider_pb2.PropertyDiff(
                kind=provider_pb2.PropertyDiff.UPDATE_REPLACE, inputDiff=False
            )
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            replaces=replaces,
            diffs=changed,
            detailedDiff=detailed,
            hasDetailedDiff=True,
            deleteBeforeReplace=False,
        )

    @_rpc
    def Create(self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext) -> provider_pb2.CreateResponse:
        kind = self.kind(request)
        inputs = to_dict(request.properties)
        if request.preview:
            return provider_pb2.CreateResponse(
                properties=to_struct({**inputs, **dict.fromkeys(kind.computed, UNKNOWN)})
            )
        resource_id, outputs = kind.create(inputs)
        return provider_pb2.CreateResponse(id=resource_id, properties=to_struct({**inputs, **outputs}))

    @_rpc
    def Update(self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext) -> provider_pb2.UpdateResponse:
        kind = self.kind(request)
        state = {**to_dict(request.olds), **to_dict(request.news)}
        if kind.due_for_renewal is not None:
            state[READY_FOR_RENEWAL] = kind.due_for_renewal(state)
        return provider_pb2.UpdateResponse(properties=to_struct(state))

    @_rpc
    def Read(self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext) -> provider_pb2.ReadResponse:
        kind = self.kind(request)
        state = to_dict(request.properties)
        if not state:  # an import or a `get`: nothing to read it from
            raise InputError(f"cannot import or get {kind.token} {request.id!r}: it has no state to read")
        if kind.due_for_renewal is not None and kind.due_for_renewal(state):
            state[READY_FOR_RENEWAL] = True
        return provider_pb2.ReadResponse(id=request.id, properties=to_struct(state), inputs=request.inputs)

    @_rpc
    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()  # the value lives only in the state


def _property_diff(before: bool, after: bool, replace: bool) -> provider_pb2.PropertyDiff:
    d = provider_pb2.PropertyDiff
    if not before:
        kind = d.ADD_REPLACE if replace else d.ADD
    elif not after:
        kind = d.DELETE_REPLACE if replace else d.DELETE
    else:
        kind = d.UPDATE_REPLACE if replace else d.UPDATE
    return provider_pb2.PropertyDiff(kind=kind, inputDiff=True)


def _exit_with_parent(parent: int) -> None:
    """Stop when the engine is gone (killed without stopping its plugins): the process is reparented.
    Polled rather than PR_SET_PDEATHSIG, which fires when the forking *thread* exits, and Go's do."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def serve(provider: StandinProvider, argv: list[str]) -> None:
    """Listen on a loopback port, tell the engine which (the first line on stdout), serve until the
    engine kills it or exits."""
    args = argparse.ArgumentParser(prog=f"pulumi-resource-{provider.name} (stand-in)")
    args.add_argument("engine", nargs="?", help="the engine's address (unused: nothing calls back)")
    args.parse_known_args(argv)  # the engine may add flags (--logtostderr, -v=N, --tracing ...)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(StandinServicer(provider), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    server.wait_for_termination()
