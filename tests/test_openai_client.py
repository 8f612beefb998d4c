"""The openai backend against a real local HTTP server (tests/chat_server.py): request shape,
images, auth, ordering under concurrency, retries, timeouts, errors and config resolution."""

from __future__ import annotations

import base64
import json
import random
import socket
import threading

import cv2
import numpy as np
import pytest
from chat_server import ChatServer, RawReply, error_reply, user_text

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion, VLMError
from robospatial_ros.core.reasoning.vlm.openai_client import (
    DEFAULT_BASE_URL,
    OpenAIChatClient,
    OpenAIConfig,
    encode_image_data_url,
)

ENV_VARS = ("ROBOSPATIAL_OPENAI_BASE_URL", "OPENAI_BASE_URL", "ROBOSPATIAL_OPENAI_MODEL", "OPENAI_API_KEY")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Hermetic: no endpoint, model, key or proxy leaks in from the machine."""
    for var in ENV_VARS + PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with ChatServer(reply=lambda req: f"echo: {user_text(req)}") as s:
        yield s


def make_client(url: str, waits: list[float] | None = None, **overrides) -> OpenAIChatClient:
    """A client for tests: tiny timeouts and backoff, retry waits recorded instead of slept."""
    values = {"base_url": url, "model": "test-model", "timeout_s": 5.0, "retry_backoff_s": 0.01} | overrides
    sleep = waits.append if waits is not None else (lambda _s: None)
    return OpenAIChatClient(OpenAIConfig(**values), sleep=sleep, progress=False)


def random_rgb(seed: int, height: int = 12, width: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)  # (H, W, 3) RGB


def decode_data_url(url: str) -> tuple[str, np.ndarray]:
    """(mime type, (H, W, 3) uint8 RGB) from a data:image/...;base64,... URL."""
    header, payload = url.split(",", 1)
    assert header.startswith("data:") and header.endswith(";base64")
    buffer = np.frombuffer(base64.b64decode(payload), dtype=np.uint8)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return header[len("data:") : -len(";base64")], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def closed_port() -> int:
    """A port nothing listens on: bind to a free one, then close it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- request shape -----------------------------------------------------------------------------


def test_request_shape_image_prompt_and_auth(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    image = random_rgb(0)
    image[0, 0] = (255, 0, 0)  # pure red top-left: a swapped R/B channel would show up as blue
    client = make_client(server.url, system_prompt="Answer briefly.", max_tokens=64, temperature=0.25)
    assert client.chat(image, "Is the mug left of the bowl?") == "echo: Is the mug left of the bowl?"

    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.headers["content-type"] == "application/json"
    body = request.body
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("test-model", 64, 0.25)
    system, user = body["messages"]
    assert system == {"role": "system", "content": "Answer briefly."}
    assert user["role"] == "user"
    image_part, text_part = user["content"]
    assert text_part == {"type": "text", "text": "Is the mug left of the bowl?"}
    assert image_part["type"] == "image_url"
    mime, decoded = decode_data_url(image_part["image_url"]["url"])
    assert mime == "image/png"
    np.testing.assert_array_equal(decoded, image)  # png is lossless and the channels are in RGB order
    assert tuple(decoded[0, 0]) == (255, 0, 0)


def test_no_key_no_authorization_header_and_text_only_request(server):
    client = make_client(server.url)
    assert client.chat(None, "hello") == "echo: hello"
    (request,) = server.requests
    assert "authorization" not in request.headers
    assert request.body["messages"] == [{"role": "user", "content": "hello"}]  # no system prompt, no image


def test_jpeg_image_format_is_close_to_the_original():
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = (200, 40, 10)  # two flat halves survive jpeg nearly unchanged
    image[:, 16:] = (10, 60, 220)
    mime, decoded = decode_data_url(encode_image_data_url(image, "jpeg"))
    assert mime == "image/jpeg"
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 4.0


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8)]
)
def test_bad_images_are_rejected_before_any_request(server, bad):
    with pytest.raises(VLMError, match=r"\(H, W, 3\) uint8"):
        make_client(server.url).chat(bad, "q")
    assert server.requests == []


def test_content_given_as_a_list_of_parts_is_joined():
    image_part = {"type": "image_url", "image_url": {"url": "x"}}  # not text: skipped
    parts = [{"type": "text", "text": "Yes"}, image_part, {"type": "text", "text": "."}]
    reply = {"choices": [{"message": {"role": "assistant", "content": parts}}]}
    with ChatServer(reply=lambda req: RawReply(200, json.dumps(reply).encode())) as s:
        assert make_client(s.url).chat(None, "q") == "Yes."


# --- batches -----------------------------------------------------------------------------------


def test_answer_texts_keeps_order_under_concurrency():
    """Replies arrive out of order (random delays, the first question held back until another
    request is in flight); the answers still line up with the questions."""
    second_arrived = threading.Event()
    rng = random.Random(7)
    delays = {f"question {i}": rng.uniform(0.0, 0.03) for i in range(16)}

    def reply(req):
        prompt = user_text(req)
        if prompt != "question 0":
            second_arrived.set()
        elif not second_arrived.wait(5.0):  # would only time out if the client were sequential
            return 500
        return prompt.upper()[::-1]

    with ChatServer(reply=reply, delay_s=lambda req: delays[user_text(req)]) as s:
        client = make_client(s.url, max_concurrency=4, max_retries=0)
        questions = [VisualQuestion(image=random_rgb(i, 4, 4), question=f"question {i}") for i in range(16)]
        answers = client.answer_texts(questions)
    assert answers == [f"QUESTION {i}"[::-1] for i in range(16)]
    assert sorted(s.prompts()) == sorted(delays)  # each question asked exactly once


def test_answer_texts_of_nothing_sends_nothing(server):
    assert make_client(server.url).answer_texts([]) == []
    assert server.requests == []


def test_a_failing_question_is_named_in_the_batch_error():
    with ChatServer(reply=lambda req: 400 if user_text(req) == "q2" else "fine") as s:
        client = make_client(s.url, max_concurrency=2)
        questions = [VisualQuestion(image=random_rgb(i, 4, 4), question=f"q{i}") for i in range(4)]
        with pytest.raises(VLMError, match=r"^question 3 of 4: openai endpoint .* answered 400"):
            client.answer_texts(questions)


# --- retries and errors ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 429, 503])
def test_retries_succeed_after_two_failures(status):
    waits: list[float] = []
    with ChatServer(reply="recovered", fail_first=2, fail_status=status) as s:
        client = make_client(s.url, waits, max_retries=3, retry_backoff_s=0.1)
        assert client.chat(None, "q") == "recovered"
    assert len(s.requests) == 3
    assert waits == pytest.approx([0.1, 0.2])  # exponential: backoff * 2**k


def test_gives_up_after_max_retries_with_a_clear_error():
    waits: list[float] = []
    with ChatServer(fail_first=100, fail_status=503) as s:
        client = make_client(s.url, waits, max_retries=2, retry_backoff_s=0.05)
        with pytest.raises(VLMError) as caught:
            client.chat(None, "q")
    assert len(s.requests) == 3  # the first attempt + 2 retries
    assert waits == pytest.approx([0.05, 0.1])
    expected = f"openai endpoint {s.url} answered 503 Service Unavailable: scripted failure 3"
    expected += " (gave up after 3 attempts)"
    assert str(caught.value) == expected


def test_retry_after_header_is_honoured_and_capped():
    waits: list[float] = []
    with ChatServer(reply="ok", fail_first=1, fail_status=429, retry_after="0.3") as s:
        assert make_client(s.url, waits, retry_backoff_s=5.0).chat(None, "q") == "ok"
    assert waits == pytest.approx([0.3])  # the server's wish, not the 5 s backoff
    with ChatServer(reply="ok", fail_first=1, fail_status=429, retry_after="120") as s:
        assert make_client(s.url, waits, max_retry_wait_s=2.0).chat(None, "q") == "ok"
    assert waits[1:] == pytest.approx([2.0])


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_not_retried(status):
    waits: list[float] = []
    with ChatServer(reply=lambda req: error_reply(status, "bad   request\n  detail")) as s:
        with pytest.raises(VLMError, match=rf"answered {status} .*: bad request detail$"):
            make_client(s.url, waits, max_retries=3).chat(None, "q")
    assert len(s.requests) == 1 and waits == []


def test_wrong_key_names_url_and_status_but_never_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-456")
    with ChatServer(reply="ok", api_key="sk-right") as s:
        with pytest.raises(VLMError) as caught:
            make_client(s.url).chat(None, "q")
    assert str(caught.value) == f"openai endpoint {s.url} answered 401 Unauthorized: invalid key"
    # A server that echoes the key back still does not get it printed.
    echo = RawReply(401, b'{"error": {"message": "key sk-wrong-456 is not valid"}}')
    with ChatServer(reply=lambda req: echo) as s:
        with pytest.raises(VLMError) as caught:
            make_client(s.url).chat(None, "q")
    assert "sk-wrong-456" not in str(caught.value) and "key *** is not valid" in str(caught.value)


def test_timeout_is_reported_and_retried():
    with ChatServer(reply="too late", delay_s=3.0) as s:
        client = make_client(s.url, timeout_s=0.2, max_retries=1, retry_backoff_s=0.0)
        with pytest.raises(VLMError, match=r"timed out after 0\.2 s \(timeout_s\) \(gave up after 2 attempts\)"):
            client.chat(None, "q")
    assert len(s.requests) == 2


def test_connection_refused_is_reported():
    port = closed_port()
    waits: list[float] = []
    client = make_client(f"http://127.0.0.1:{port}/v1", waits, max_retries=1)
    with pytest.raises(VLMError, match=rf"^openai endpoint http://127\.0\.0\.1:{port}/v1 is unreachable: .*refused"):
        client.chat(None, "q")
    assert waits == pytest.approx([0.01])  # connection errors are retried


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"<html>oops</html>", "not JSON: '<html>oops</html>'"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"choices": []}', "no text in choices"),
        (b'{"choices": [{"message": {"role": "assistant", "content": null}}]}', "no text in choices"),
        (b'{"object": "list"}', "no text in choices"),
    ],
)
def test_malformed_replies_are_errors_and_not_retried(body, expected):
    with ChatServer(reply=lambda req: RawReply(200, body)) as s:
        with pytest.raises(VLMError, match=r"^malformed reply from openai endpoint") as caught:
            make_client(s.url, max_retries=3).chat(None, "q")
    assert expected in str(caught.value)
    assert len(s.requests) == 1


def test_vllm_style_error_body_message_is_quoted():
    body = json.dumps({"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError"})
    with ChatServer(reply=lambda req: RawReply(404, body.encode())) as s:
        with pytest.raises(VLMError, match=r"answered 404 Not Found: The model `x` does not exist\.$"):
            make_client(s.url).chat(None, "q")


# --- configuration -----------------------------------------------------------------------------


def test_env_vars_resolve_endpoint_model_and_key(server, monkeypatch):
    monkeypatch.setenv("ROBOSPATIAL_OPENAI_BASE_URL", server.url + "/")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")  # the project-specific variable wins
    monkeypatch.setenv("ROBOSPATIAL_OPENAI_MODEL", "env-model")
    monkeypatch.setenv("MY_KEY", "sk-env")
    client = OpenAIChatClient(OpenAIConfig(api_key_env="MY_KEY"), progress=False)
    assert (client.base_url, client.model) == (server.url, "env-model")
    assert client.chat(None, "hi") == "echo: hi"
    assert server.requests[0].body["model"] == "env-model"
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


def test_base_url_fallbacks_and_explicit_settings_win(monkeypatch):
    monkeypatch.setenv("ROBOSPATIAL_OPENAI_MODEL", "m")
    assert OpenAIChatClient(OpenAIConfig()).base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    assert OpenAIChatClient(OpenAIConfig()).base_url == "https://api.example.com/v1"
    client = OpenAIChatClient(OpenAIConfig(base_url="http://10.0.0.2:30000/v1", model="explicit"))
    assert (client.base_url, client.model) == ("http://10.0.0.2:30000/v1", "explicit")
    monkeypatch.setenv("ROBOSPATIAL_OPENAI_BASE_URL", "ftp://nope")
    with pytest.raises(ConfigError, match=r"\$ROBOSPATIAL_OPENAI_BASE_URL must be an http:// or https:// URL"):
        OpenAIChatClient(OpenAIConfig())


def test_missing_model_names_the_setting():
    with pytest.raises(ConfigError, match=r"no model set.*`model`.*\$ROBOSPATIAL_OPENAI_MODEL"):
        OpenAIChatClient(OpenAIConfig(base_url="http://localhost:8000/v1"))


def test_key_never_appears_in_reprs(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    config = OpenAIConfig(model="m", api_key="sk-explicit-secret")
    client = OpenAIChatClient(config)
    for text in (repr(config), repr(client), str(config)):
        assert "secret" not in text
    assert client._headers()["Authorization"] == "Bearer sk-explicit-secret"  # the explicit key wins


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"timeout_s": 0.0}, "timeout_s must be > 0"),
        ({"timeout_s": -1.0}, "timeout_s must be > 0"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"retry_backoff_s": -0.5}, "retry_backoff_s must be >= 0"),
        ({"max_concurrency": 0}, "max_concurrency must be >= 1"),
        ({"max_tokens": 0}, "max_tokens must be >= 1"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"image_format": "gif"}, "image_format must be one of"),
        ({"base_url": "localhost:8000/v1"}, "base_url must be an http:// or https:// URL"),
        ({"base_url": "http:///v1"}, "base_url must be an http:// or https:// URL"),
        ({"max_retries": 1.5}, "max_retries must be a finite int"),
        ({"timeout_s": float("nan")}, "timeout_s must be a finite float"),
    ],
)
def test_config_validation(overrides, match):
    with pytest.raises(ConfigError, match=match):
        OpenAIConfig(**overrides)


def test_config_loads_from_yaml_with_overrides(tmp_path):
    path = tmp_path / "openai.yaml"
    path.write_text("base_url: http://gpu-box:8000/v1\nmodel: Qwen/Qwen2.5-VL-7B-Instruct\ntimeout_s: 120\n")
    config = load_config(OpenAIConfig, path, {"max_concurrency": 8})
    assert (config.base_url, config.model, config.timeout_s, config.max_concurrency) == (
        "http://gpu-box:8000/v1",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        120.0,
        8,
    )
    path.write_text("base_url: http://gpu-box:8000/v1\nmodle: typo\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(OpenAIConfig, path)
