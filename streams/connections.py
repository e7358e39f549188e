"""How every client connects to Kafka and Redis: the one place connection options are built.

Security (README, "Security"): every Kafka client — the worker's Faust consumer and producer,
its transactional producers and state readers, the admin, the report's and the simulator's
clients — takes the same ``security.protocol``, SASL mechanism and credentials, and the same
TLS context (:func:`kafka_options`; Faust gets them as its ``broker_credentials``,
:func:`faust_credentials`). Redis clients take the user and password of ``REDIS_URL`` and,
for ``rediss://``, the TLS files (:func:`redis_client`).

:func:`check_connections` is the worker's first contact with both: a refused password, a
certificate the CA file does not vouch for, or a listener that speaks another protocol ends
the worker at start with a :class:`ConnectionSetupError` naming the setting to fix. Messages
never hold a secret: user names and files are named, passwords never.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from typing import TYPE_CHECKING, Any, Final

from redis.asyncio import Redis

from streams.config import Settings, TlsFiles, redacted

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

log = logging.getLogger(__name__)

_TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
# A listener that speaks another protocol, or wants a client certificate it was not shown,
# accepts the TCP connection, then closes or resets it: a server that is starting or stopping
# may do that too, so only a repeated close is a verdict.
_CLOSED_ATTEMPTS: Final = 3
_CLOSED_ERRORS: Final = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_CHECK_TIMEOUT_S: Final = 15.0
_RETRY_S: Final = 1.0


class ConnectionSetupError(Exception):
    """The settings describe a connection the server refuses; the message names the fix."""


@functools.lru_cache(maxsize=8)
def tls_context(files: TlsFiles) -> ssl.SSLContext:
    """A client TLS context (server certificate and host name verified) for these files.

    Built once per set of files and shared by every client. ValueError, naming the variable,
    when a file cannot be used.
    """
    prefix = files.prefix
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=files.cafile or None
        )
    except (ssl.SSLError, OSError) as error:
        raise ValueError(
            f"{prefix}_SSL_CAFILE={files.cafile}: no CA certificate can be read from it "
            f"({error})"
        ) from None
    if files.certfile:
        try:
            # A callable, never None: with None, OpenSSL would prompt on the terminal for
            # the password of an encrypted key, and a worker without one would hang.
            context.load_cert_chain(
                files.certfile, files.keyfile or None, password=lambda: files.key_password
            )
        except (ssl.SSLError, OSError) as error:
            key = f"{prefix}_SSL_KEYFILE={files.keyfile}" if files.keyfile else "its key"
            hint = (
                f"is {prefix}_SSL_KEY_PASSWORD right?" if files.key_password
                else f"an encrypted key needs {prefix}_SSL_KEY_PASSWORD"
            )
            raise ValueError(
                f"{prefix}_SSL_CERTFILE={files.certfile} and {key}: the client certificate "
                f"cannot be loaded ({error}): does the key match the certificate? {hint}"
            ) from None
    return context


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (consumer, producers, admin)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": protocol,
    }
    if protocol in _TLS_PROTOCOLS:
        options["ssl_context"] = tls_context(settings.kafka_tls)
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The ``broker_credentials`` of the worker's Faust app: :func:`kafka_options`' security.

    Faust turns them back into aiokafka options for its consumer, its producer and the
    topic creation it does with their clients (``credentials_to_aiokafka_auth``); the
    options come out equal to :func:`kafka_options`' (tests/unit/test_connections.py).
    """
    import faust  # noqa: PLC0415 (only the worker needs Faust)

    protocol = settings.kafka_security_protocol
    context = tls_context(settings.kafka_tls) if protocol in _TLS_PROTOCOLS else None
    if protocol.startswith("SASL_"):
        # SASL_SSL with a context, SASL_PLAINTEXT without one.
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def redis_client(
    settings: Settings, *, decode_responses: bool = False, subscriber: bool = False,
    client_name: str | None = None,
) -> Redis:
    """A Redis client for the settings (a Cluster client when KPI_REDIS_CLUSTER is set).

    ``subscriber``: a plain client of the REDIS_URL node even on a cluster, to hold a
    subscription (a cluster broadcasts every PUBLISH to all its nodes; redis-py's cluster
    client has no asyncio pub/sub).
    """
    from streams.sinks.redis import client_from_url  # noqa: PLC0415 (the sink imports this)

    files = settings.redis_tls
    tls = {
        option: value
        for option, value in (
            ("ssl_ca_certs", files.cafile),
            ("ssl_certfile", files.certfile),
            ("ssl_keyfile", files.keyfile),
            ("ssl_password", files.key_password),
        )
        if value
    }
    if client_name is not None:
        tls["client_name"] = client_name
    return client_from_url(
        settings.redis_url, decode_responses=decode_responses,
        cluster=settings.redis_cluster and not subscriber, **tls,
    )


# --------------------------------------------------------------------------------------------
# The worker's first contact


async def check_connections(settings: Settings) -> None:
    """Connect to Kafka and Redis as the worker will; ConnectionSetupError if refused.

    Kafka is waited for while it does not answer; Redis is not (the worker runs without it
    and its sink waits), but a Redis that answers and refuses the worker is an error.
    """
    await _check_kafka(settings)
    await _check_redis(settings)


async def _check_kafka(settings: Settings) -> None:
    """One Metadata request on the bootstrap servers, authenticated as every client will be."""
    from aiokafka.conn import create_conn  # noqa: PLC0415
    from aiokafka.errors import KafkaConnectionError, KafkaError  # noqa: PLC0415
    from aiokafka.protocol.metadata import MetadataRequest  # noqa: PLC0415

    options = kafka_options(settings)
    del options["bootstrap_servers"]
    closed: dict[str, int] = {}
    logged = False
    while True:
        for host in settings.kafka_bootstrap.split(","):
            name, _, port = host.rpartition(":")
            try:
                # What AIOKafkaClient.bootstrap does, which logs the cause and raises a bare
                # "Unable to bootstrap": here the cause decides the message.
                connection = await asyncio.wait_for(
                    create_conn(name, int(port), request_timeout_ms=int(_CHECK_TIMEOUT_S * 1000),
                                **options),
                    _CHECK_TIMEOUT_S,
                )
                try:
                    await connection.send(MetadataRequest([]))
                finally:
                    connection.close()
                return
            except ssl.SSLError as error:
                raise ConnectionSetupError(_kafka_tls_problem(settings, host, error)) from None
            except (KafkaConnectionError, *_CLOSED_ERRORS) as error:
                closed[host] = closed.get(host, 0) + 1
                if closed[host] >= _CLOSED_ATTEMPTS:
                    raise ConnectionSetupError(
                        _kafka_closed_problem(settings, host, error)
                    ) from None
                problem: BaseException = error
            except KafkaError as error:
                raise ConnectionSetupError(_kafka_sasl_problem(settings, host, error)) from None
            except (OSError, TimeoutError) as error:
                problem = error
            if not logged:
                log.warning("Kafka at %s: no answer yet (%s); trying again",
                            host, _describe(problem))
                logged = True
        await asyncio.sleep(_RETRY_S)


def _kafka_tls_problem(settings: Settings, host: str, error: ssl.SSLError) -> str:
    protocol = settings.kafka_security_protocol
    if isinstance(error, ssl.SSLCertVerificationError):
        cafile = settings.kafka_ssl_cafile or "(unset: the system's CAs)"
        return (
            f"Kafka at {host}: its TLS certificate is not trusted ({error.verify_message}): "
            f"KAFKA_SSL_CAFILE={cafile} must hold the CA that signed it, and the certificate "
            "must name the host of KAFKA_BOOTSTRAP"
        )
    return (
        f"Kafka at {host}: the TLS handshake failed ({error.reason or error}): "
        f"KAFKA_SECURITY_PROTOCOL={protocol} expects a TLS listener there; if the broker "
        "requires a client certificate, set KAFKA_SSL_CERTFILE (and KAFKA_SSL_KEYFILE)"
    )


def _kafka_closed_problem(settings: Settings, host: str, error: BaseException) -> str:
    protocol = settings.kafka_security_protocol
    hint = f"KAFKA_SECURITY_PROTOCOL={protocol} is probably not the protocol of that listener"
    if protocol in _TLS_PROTOCOLS and not settings.kafka_ssl_certfile:
        hint += ", or it requires a client certificate (KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE)"
    return (
        f"Kafka at {host} accepted the connection and closed it before answering, "
        f"{_CLOSED_ATTEMPTS} times ({_describe(error)}): {hint}"
    )


def _kafka_sasl_problem(settings: Settings, host: str, error: BaseException) -> str:
    from aiokafka.errors import (  # noqa: PLC0415
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    mechanism = settings.kafka_sasl_mechanism
    if isinstance(error, SaslAuthenticationFailed):
        return (
            f"Kafka at {host} refused the SASL login of user {settings.kafka_sasl_username!r} "
            f"with KAFKA_SASL_MECHANISM={mechanism} ({error}): check KAFKA_SASL_USERNAME and "
            "KAFKA_SASL_PASSWORD, and that the broker has that user for that mechanism"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return (
            f"Kafka at {host} does not accept KAFKA_SASL_MECHANISM={mechanism} on that "
            f"listener ({error}): use one it enables (sasl.enabled.mechanisms)"
        )
    return (
        f"Kafka at {host} refused the connection ({type(error).__name__}: {error}): check "
        f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} and the SASL settings"
    )


async def _check_redis(settings: Settings) -> None:
    from redis.exceptions import (  # noqa: PLC0415
        AuthenticationError,
        ConnectionError,
        NoPermissionError,
        RedisClusterException,
        RedisError,
    )

    where = f"Redis at {redacted(settings.redis_url)}"
    client = redis_client(settings)

    async def info() -> None:
        try:
            await client.info("server")
        except RedisClusterException as error:
            # A cluster client wraps what its seed nodes answered (refused, a wrong password,
            # a TLS failure): that answer is judged as a single Redis's would be.
            answer = _in_chain(
                error, (AuthenticationError, NoPermissionError, ConnectionError, OSError)
            )
            if answer is None:
                raise ConnectionSetupError(
                    f"{where}: {error}: with KPI_REDIS_CLUSTER=true, REDIS_URL must name a "
                    "node of a Redis Cluster (cluster-enabled yes)"
                ) from None
            raise answer from None

    try:
        for attempt in range(1, _CLOSED_ATTEMPTS + 1):
            try:
                await info()
                return
            except AuthenticationError as error:
                raise ConnectionSetupError(
                    f"{where} refused the user and password of REDIS_URL ({error}): check "
                    "them (a password with '@', ':' or '/' is percent-encoded in the URL)"
                ) from None
            except NoPermissionError as error:
                raise ConnectionSetupError(
                    f"{where}: the user of REDIS_URL may not run INFO ({error}): its ACL "
                    "needs the commands of the README's Security section"
                ) from None
            except (RedisError, OSError) as error:
                tls = _in_chain(error, ssl.SSLError)
                if isinstance(tls, ssl.SSLCertVerificationError):
                    cafile = settings.redis_ssl_cafile or "(unset: the system's CAs)"
                    raise ConnectionSetupError(
                        f"{where}: its TLS certificate is not trusted ({tls.verify_message}): "
                        f"REDIS_SSL_CAFILE={cafile} must hold the CA that signed it, and the "
                        "certificate must name the host of REDIS_URL"
                    ) from None
                if tls is not None:
                    raise ConnectionSetupError(
                        f"{where}: the TLS handshake failed ({tls.reason or tls}): is it a "
                        f"TLS port? {_REDIS_TLS_HINT}"
                    ) from None
                if _in_chain(error, _CLOSED_ERRORS) is None:
                    # Not refusing, just not there (yet): the sink waits for it, as for an
                    # outage, and the worker must not need Redis to start.
                    log.warning("%s not reachable at start (%s); the worker waits for it",
                                where, error)
                    return
                if attempt == _CLOSED_ATTEMPTS:
                    raise ConnectionSetupError(
                        f"{where} closed the connection right after accepting it, "
                        f"{_CLOSED_ATTEMPTS} times ({error}): is the scheme of REDIS_URL "
                        f"right (rediss:// for a TLS port)? {_REDIS_TLS_HINT}"
                    ) from None
                await client.aclose()
                client = redis_client(settings)
                await asyncio.sleep(_RETRY_S / 2)
    finally:
        await client.aclose()


_REDIS_TLS_HINT: Final = (
    "If Redis requires client certificates (tls-auth-clients), set REDIS_SSL_CERTFILE (and "
    "REDIS_SSL_KEYFILE)"
)


def _in_chain(
    error: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> Any:
    """The first error of these kinds behind a client's error (clients wrap socket errors)."""
    seen: BaseException | None = error
    visited: set[int] = set()
    # A re-raised cause (the cluster check's) makes the chain a loop: each error is seen once.
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, kinds):
            return seen
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name
