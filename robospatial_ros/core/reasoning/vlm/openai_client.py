"""The `openai` reasoning backend: any OpenAI-compatible chat-completions endpoint.

vLLM (`vllm serve ...`), SGLang and hosted APIs all speak `POST {base_url}/chat/completions`.
One request carries one image (a base64 data URL) and one text prompt; a batch of questions is
sent over a small thread pool and answered in order. Only the standard library talks HTTP
(urllib), so this backend adds no dependency.

Settings come from `OpenAIConfig` (YAML / CLI overrides) with environment fallbacks, resolved
when the client is built: ROBOSPATIAL_OPENAI_BASE_URL, then OPENAI_BASE_URL, for the endpoint;
ROBOSPATIAL_OPENAI_MODEL for the model; the API key from the variable named by `api_key_env`
(OPENAI_API_KEY by default), so keys stay out of config files and out of every message we print.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from robospatial_ros.core.configio import check_field_types
from robospatial_ros.core.errors import ConfigError, one_line
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion, VLMError

BASE_URL_ENV_VARS = ("ROBOSPATIAL_OPENAI_BASE_URL", "OPENAI_BASE_URL")
MODEL_ENV_VAR = "ROBOSPATIAL_OPENAI_MODEL"
DEFAULT_BASE_URL = "http://localhost:8000/v1"
IMAGE_FORMATS = ("png", "jpeg")
JPEG_QUALITY = 95
ERROR_EXCERPT_CHARS = 200  # how much of a server's error body a message quotes


@dataclass(frozen=True)
class OpenAIConfig:
    """How to reach an OpenAI-compatible endpoint and how to ask it. Empty strings mean "from the env"."""

    base_url: str = ""  # e.g. http://localhost:8000/v1; "" -> ROBOSPATIAL_OPENAI_BASE_URL, OPENAI_BASE_URL, default
    model: str = ""  # the served model name; "" -> ROBOSPATIAL_OPENAI_MODEL (required one way or the other)
    api_key_env: str = "OPENAI_API_KEY"  # the env var holding the key ("" = none); keep keys out of files
    api_key: str = field(default="", repr=False)  # explicit key, wins over api_key_env; never printed
    timeout_s: float = 60.0  # per socket operation (connect, each read), not per whole reply
    max_retries: int = 3  # extra attempts after the first, on connection errors, timeouts, 429 and 5xx
    retry_backoff_s: float = 0.5  # wait before retry k (k = 0, 1, ...) is retry_backoff_s * 2**k
    max_retry_wait_s: float = 30.0  # cap on any single wait, the server's Retry-After included
    max_tokens: int = 512
    temperature: float = 0.0
    max_concurrency: int = 4  # parallel requests while answering a batch
    image_format: str = "png"  # png (lossless) or jpeg (smaller requests)
    system_prompt: str = ""  # sent as a system message when not empty

    def __post_init__(self) -> None:
        try:
            check_field_types(self)
        except ValueError as exc:
            raise ConfigError(f"openai config: {exc}") from None
        for name in ("timeout_s", "max_retry_wait_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"openai config: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_retries", "retry_backoff_s", "temperature"):
            if getattr(self, name) < 0:
                raise ConfigError(f"openai config: {name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("max_tokens", "max_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"openai config: {name} must be >= 1, got {getattr(self, name)!r}")
        if self.image_format not in IMAGE_FORMATS:
            raise ConfigError(f"openai config: image_format must be one of {IMAGE_FORMATS}, got {self.image_format!r}")
        if self.base_url:
            check_base_url(self.base_url, "base_url")


def check_base_url(url: str, source: str) -> str:
    """The URL without a trailing slash; ConfigError unless it is http(s)://host[...]."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"openai config: {source} must be an http:// or https:// URL with a host, got {url!r}")
    return url.strip().rstrip("/")


def resolve_base_url(config: OpenAIConfig) -> str:
    """config.base_url, else the first set env var of BASE_URL_ENV_VARS, else DEFAULT_BASE_URL."""
    if config.base_url:
        return check_base_url(config.base_url, "base_url")
    for var in BASE_URL_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return check_base_url(value, f"${var}")
    return DEFAULT_BASE_URL


def resolve_model(config: OpenAIConfig) -> str:
    model = config.model.strip() or os.environ.get(MODEL_ENV_VAR, "").strip()
    if not model:
        raise ConfigError(
            f"openai backend: no model set; set `model` in the config (e.g. --set model=NAME) or ${MODEL_ENV_VAR}"
        )
    return model


def resolve_api_key(config: OpenAIConfig) -> str:
    """The explicit key, else the env var's value, else "" (local servers usually need none)."""
    if config.api_key:
        return config.api_key
    return os.environ.get(config.api_key_env, "").strip() if config.api_key_env else ""


def encode_image_data_url(image: np.ndarray, image_format: str = "png") -> str:
    """A data URL ("data:image/png;base64,...") holding the image, compressed with OpenCV."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise VLMError(f"image must be a non-empty (H, W, 3) uint8 RGB array, got shape {array.shape} {array.dtype}")
    bgr = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)  # OpenCV encoders expect BGR
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if image_format == "jpeg" else []
    ok, encoded = cv2.imencode(f".{'jpg' if image_format == 'jpeg' else 'png'}", bgr, params)
    if not ok:
        raise VLMError(f"could not encode a {array.shape[1]}x{array.shape[0]} image as {image_format}")
    return f"data:image/{image_format};base64,{base64.b64encode(encoded.tobytes()).decode('ascii')}"


class _AttemptFailed(Exception):
    """One HTTP attempt failed; `retryable` says whether another attempt may help."""

    def __init__(self, message: str, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class OpenAIChatClient:
    """A TextAnswerer over an OpenAI-compatible chat-completions endpoint.

    `sleep` is how retries wait (tests pass a recorder); `progress` shows a bar over batches.
    """

    name = "openai"

    def __init__(
        self,
        config: OpenAIConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        progress: bool = True,
    ):
        self.config = config if config is not None else OpenAIConfig()
        self.base_url = resolve_base_url(self.config)
        self.model = resolve_model(self.config)
        self._api_key = resolve_api_key(self.config)
        self._endpoint = f"{self.base_url}/chat/completions"
        self._sleep = sleep
        self._progress = progress
        # Our own opener: honours *_proxy env vars as read now, never a process-wide cached one.
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        return f"OpenAIChatClient(base_url={self.base_url!r}, model={self.model!r})"

    # --- one request -------------------------------------------------------------------------

    def chat(self, image: np.ndarray | None, prompt: str) -> str:
        """Ask one question (with an optional (H, W, 3) uint8 RGB image); the reply's text."""
        if not isinstance(prompt, str):
            raise VLMError(f"prompt must be a string, got {type(prompt).__name__}")
        body = json.dumps(self.request_body(image, prompt)).encode("utf-8")
        reply = self._post_with_retries(body)
        return self._reply_text(reply)

    def request_body(self, image: np.ndarray | None, prompt: str) -> dict[str, Any]:
        """The JSON body of one chat-completions request."""
        messages: list[dict[str, Any]] = []
        if self.config.system_prompt:
            messages.append({"role": "system", "content": self.config.system_prompt})
        if image is None:
            messages.append({"role": "user", "content": prompt})  # plain text: text-only servers accept it too
        else:
            url = encode_image_data_url(image, self.config.image_format)
            content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": prompt}]
            messages.append({"role": "user", "content": content})
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": int(self.config.max_tokens),
            "temperature": float(self.config.temperature),
        }

    # --- a batch -----------------------------------------------------------------------------

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        """One reply per question, in order; up to max_concurrency requests in flight."""
        questions = list(questions)
        workers = min(int(self.config.max_concurrency), len(questions))
        show = self._progress and workers >= 1
        bar = tqdm(total=len(questions), desc="openai", unit="q", leave=False, disable=not show)
        try:
            if workers <= 1:
                return [self._answer_one(i, q, len(questions), bar) for i, q in enumerate(questions)]
            return self._answer_concurrently(questions, workers, bar)
        finally:
            bar.close()

    def _answer_concurrently(self, questions: list[VisualQuestion], workers: int, bar: tqdm) -> list[str]:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai")
        try:
            futures: list[Future[str]] = [
                pool.submit(self._answer_one, i, q, len(questions), bar) for i, q in enumerate(questions)
            ]
            return [f.result() for f in futures]  # the first failure (in question order) propagates
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # after a failure, the rest are not sent

    def _answer_one(self, index: int, question: VisualQuestion, total: int, bar: tqdm) -> str:
        try:
            text = self.chat(question.image, question.question)
        except VLMError as exc:
            raise VLMError(f"question {index + 1} of {total}: {exc}") from None
        bar.update(1)
        return text

    # --- HTTP --------------------------------------------------------------------------------

    def _post_with_retries(self, body: bytes) -> dict[str, Any]:
        attempts = int(self.config.max_retries) + 1
        for attempt in range(attempts):
            try:
                return self._post_once(body)
            except _AttemptFailed as failure:
                last_try = attempt == attempts - 1
                if not failure.retryable or last_try:
                    tail = f" (gave up after {attempt + 1} attempts)" if attempt > 0 else ""
                    raise VLMError(self._redact(failure.message + tail)) from None
                self._sleep(self._retry_wait_s(attempt, failure.retry_after_s))
        raise AssertionError("unreachable: the loop returns or raises")

    def _retry_wait_s(self, attempt: int, retry_after_s: float | None) -> float:
        wait = retry_after_s if retry_after_s is not None else float(self.config.retry_backoff_s) * 2.0**attempt
        return min(wait, float(self.config.max_retry_wait_s))

    def _post_once(self, body: bytes) -> dict[str, Any]:
        """One POST; the parsed JSON reply, or _AttemptFailed."""
        request = urllib.request.Request(self._endpoint, data=body, headers=self._headers(), method="POST")
        where = f"openai endpoint {self.base_url}"
        try:
            with self._opener.open(request, timeout=float(self.config.timeout_s)) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_failure(exc, where) from None
        except urllib.error.URLError as exc:
            raise self._network_failure(exc.reason, where) from None
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise self._network_failure(exc, where) from None
        return self._parse_json(raw, where)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _http_failure(self, exc: urllib.error.HTTPError, where: str) -> _AttemptFailed:
        status = int(exc.code)
        try:
            raw = exc.read()
        except (OSError, http.client.HTTPException):
            raw = b""
        excerpt = _error_excerpt(raw)
        message = f"{where} answered {status} {exc.reason}" + (f": {excerpt}" if excerpt else "")
        retryable = status == 429 or status >= 500
        return _AttemptFailed(message, retryable, _retry_after_s(exc.headers.get("Retry-After")))

    def _network_failure(self, reason: object, where: str) -> _AttemptFailed:
        if isinstance(reason, TimeoutError):
            return _AttemptFailed(f"{where} timed out after {self.config.timeout_s:g} s (timeout_s)", True)
        if isinstance(reason, ssl.SSLCertVerificationError):  # retrying cannot fix a certificate
            return _AttemptFailed(f"{where} is unusable: {one_line(reason)}", False)
        return _AttemptFailed(f"{where} is unreachable: {one_line(reason) or type(reason).__name__}", True)

    @staticmethod
    def _parse_json(raw: bytes, where: str) -> dict[str, Any]:
        try:
            reply = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _AttemptFailed(f"malformed reply from {where}: not JSON: {_error_excerpt(raw)!r}", False) from None
        if not isinstance(reply, dict):
            raise _AttemptFailed(f"malformed reply from {where}: expected a JSON object", False)
        return reply

    def _reply_text(self, reply: dict[str, Any]) -> str:
        """choices[0].message.content; a list of parts is joined by its text parts."""
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if isinstance(content, list):
            texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
            content = "".join(t for t in texts if isinstance(t, str)) if texts else None
        if not isinstance(content, str):
            raise VLMError(
                f"malformed reply from openai endpoint {self.base_url}: no text in choices[0].message.content: "
                f"{_error_excerpt(json.dumps(reply).encode())!r}"
            )
        return content

    def _redact(self, message: str) -> str:
        """Never let the key through, even when a server echoes it back in its error body."""
        return message.replace(self._api_key, "***") if self._api_key else message


def _error_excerpt(raw: bytes) -> str:
    """The message of an OpenAI / vLLM error body, else the body itself; one line, shortened."""
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        nested = error.get("message") if isinstance(error, dict) else error
        message = nested if isinstance(nested, str) else data.get("message")
        if isinstance(message, str) and message.strip():
            text = message
    return one_line(text, ERROR_EXCERPT_CHARS)


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form and junk are ignored (backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 and np.isfinite(seconds) else None
