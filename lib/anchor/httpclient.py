"""One HTTP policy for every client Anchor has: where it may connect, TLS, timeouts, retries.

The LLM client, the alert webhook, OSS, the remote Splunk backend and the
KV Store (through splunklib) all follow it:

- **URLs.** https, or plain http only to a loopback host (a local Ollama, a
  test receiver, the search head's own splunkd). ``check_url`` returns the
  parsed URL or raises ``UnsafeURL`` with one line that says what to fix. The
  URL itself is never put in the message: a webhook URL is a secret.
- **TLS.** Verification is always on; a CA bundle, when given, is trusted
  instead of the system's (requests' ``verify=<path>``).
- **Retries.** One ``RetryPolicy``: bounded attempts, retried statuses (429
  and 5xx unless a client adds more), backoff ``backoff * 2**(n-1)`` before
  retry n, a ``Retry-After`` (seconds or an HTTP date) honoured instead, every
  wait capped at ``MAX_WAIT``. Which methods may be retried after the request
  was sent is a parameter (a chat POST may, a multipart-upload POST may not);
  a refused connection is retried for any method, since nothing was sent.
  Over requests the policy is urllib3's ``Retry`` mounted on the session
  (written for urllib3 1.26, which the package vendors for Splunk 9.x's
  OpenSSL 1.0.2, and 2.x); ``call_with_retries`` applies it to splunklib.

- **Failures.** A request that gets no answer (refused or dropped connection,
  TLS, timeout) once the retries are spent raises ``RequestFailed``, which
  names requests' error by kind only: its text can carry the URL.

``requests`` is an optional dependency, imported only when a session is made:
the URL rule serves modules that never touch requests (splunkd's TLS context),
and the alert action and the nightly input start without it (about 90 ms).
"""

from __future__ import annotations

import email.utils
import functools
import time
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar
from urllib.parse import SplitResult, urlsplit

from anchor.errors import InputError

if TYPE_CHECKING:
    import requests

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_WAIT = 10.0  # seconds: the longest pause between two attempts, Retry-After included
TRANSIENT = frozenset({429, *range(500, 600)})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
T = TypeVar("T")


class UnsafeURL(InputError):
    """A URL Anchor will not talk to (wrong scheme, plain http to a remote host, credentials)."""


class RequestFailed(Exception):
    """No answer to a request, retries spent. ``cause`` is requests' exception; say ``kind``,
    not its text, which can carry the URL (a webhook URL is a secret)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause

    @property
    def kind(self) -> str:
        return type(self.cause).__name__

    @property
    def timed_out(self) -> bool:
        return is_timeout(self.cause)


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def check_url(url: str, what: str, *, credentials_ok: bool = False) -> SplitResult:
    """``url`` parsed, if Anchor may talk to it; ``what`` names it in the error ("the LLM URL")."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(f"{what} is not an http(s) URL with a host, such as https://host:port")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise UnsafeURL(
            f"{what} must use https (plain http only to a loopback host: 127.0.0.1, localhost, ::1)"
        )
    if not credentials_ok and (parts.username is not None or parts.password is not None):
        raise UnsafeURL(
            f"{what} must not carry a user name or password before the host: "
            "give the credential where Anchor asks for it"
        )
    return parts


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` value (seconds or HTTP date), capped; None if unusable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # "-0000": a time in UTC with no zone said
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(MAX_WAIT, max(0.0, seconds))


@dataclass
class RetryPolicy:
    """How one client retries; the differences between clients are these fields, not copies."""

    attempts: int = 3
    backoff: float = 0.5
    statuses: frozenset = TRANSIENT
    methods: frozenset = IDEMPOTENT  # retried even after the request was sent
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait(self, retry: int, retry_after: Optional[str] = None) -> float:
        """Seconds before retry number ``retry`` (1 for the first): Retry-After wins if usable."""
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return asked
        return min(MAX_WAIT, self.backoff * 2 ** max(0, retry - 1))


@functools.cache
def _types() -> tuple[Any, Any]:
    """urllib3's ``Retry`` and requests' ``Session`` as the policy needs them (imported late)."""
    import requests
    from urllib3.util.retry import Retry

    class PolicyRetry(Retry):
        """``Retry`` whose waits and sleep are the policy's (urllib3 1.26 and 2.x)."""

        policy = RetryPolicy()

        def new(self, **kw: Any) -> Any:
            # urllib3 makes a new Retry per attempt from its constructor arguments only.
            made = super().new(**kw)
            made.policy = self.policy
            return made

        def sleep(self, response: Any = None) -> None:
            header = response.headers.get("Retry-After") if response is not None else None
            self.policy.sleep(self.policy.wait(len(self.history), header))

    class PolicySession(requests.Session):
        """A session whose own CA bundle wins over ``REQUESTS_CA_BUNDLE``, and whose
        failures are ``RequestFailed`` (get, post and the rest all go through request)."""

        def request(self, method, url, *args, **kwargs):
            try:
                return super().request(method, url, *args, **kwargs)
            except requests.RequestException as error:
                raise RequestFailed(error) from error

        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None and isinstance(self.verify, str):
                settings["verify"] = self.verify
            return settings

    return PolicyRetry, PolicySession


def retry_for(policy: RetryPolicy) -> Any:
    """The urllib3 ``Retry`` for ``policy`` (what ``session`` mounts)."""
    retry = _types()[0](
        total=max(0, policy.attempts - 1),
        connect=None,
        read=None,
        status=None,
        other=0,  # TLS failures and the like: retrying cannot help
        redirect=0,
        allowed_methods=frozenset(m.upper() for m in policy.methods),
        status_forcelist=policy.statuses,
        backoff_factor=0,
        raise_on_status=False,  # the last answer comes back, for the client to describe
        respect_retry_after_header=True,
    )
    retry.policy = policy
    return retry


def session(
    policy: RetryPolicy, *, ca_bundle: Optional[str] = None, headers: Optional[dict] = None
) -> requests.Session:
    """A requests session with ``policy`` mounted and TLS verification on (``ca_bundle`` if given)."""
    from requests.adapters import HTTPAdapter

    http = _types()[1]()
    adapter = HTTPAdapter(max_retries=retry_for(policy))
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    http.verify = ca_bundle or True
    if headers:
        http.headers.update(headers)
    return http


def is_timeout(error: BaseException) -> bool:
    """True when a requests failure was the server not answering in time (retried or not)."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    if isinstance(error, requests.Timeout):
        return True
    # A read timeout that exhausted the retries reaches requests as a ConnectionError
    # wrapping urllib3's MaxRetryError, whose reason is the timeout.
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return isinstance(reason, ReadTimeoutError)


def call_with_retries(
    function: Callable[[], T], policy: RetryPolicy, retryable: Callable[[Exception], bool]
) -> T:
    """``function()`` retried by ``policy`` while ``retryable(error)``, for non-requests clients."""
    for retry in range(policy.attempts):
        try:
            return function()
        except Exception as error:
            if retry + 1 >= policy.attempts or not retryable(error):
                raise
        policy.sleep(policy.wait(retry + 1))
    raise AssertionError("unreachable")
