"""The ``canaux`` command line: dispatch, ``serve`` options, the listening line (spec index.md)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from canaux.cli import build_parser, main
from canaux.commands.serve import config_from_args, mount_path_of
from canaux.server.config import Unauthorized

from .wire import TIMEOUT

ROOT = Path(__file__).resolve().parents[3]


def test_every_subcommand_is_listed() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    for name in ("serve", "tail", "publish", "conformance"):
        assert name in help_text


def test_serve_options_build_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--port",
            "0",
            "--conformance",
            "--resume-window-ms",
            "5000",
            "--resume-buffer",
            "2048",
            "--heartbeat-ms",
            "2000",
            "--hello-timeout-ms",
            "3000",
            "--max-frame-bytes",
            "8192",
            "--max-subscriptions",
            "16",
            "--max-rate",
            "50",
            "--publish-token",
            "tok",
            "--scan-root",
            str(tmp_path),
        ]
    )
    config = config_from_args(args)
    assert (config.host, config.port, config.conformance) == ("127.0.0.1", 0, True)
    limits = config.limits
    assert (limits.resume_window_ms, limits.resume_buffer, limits.heartbeat_ms) == (
        5000,
        2048,
        2000,
    )
    assert (limits.hello_timeout_ms, limits.max_frame_bytes) == (3000, 8192)
    assert (limits.max_subscriptions, limits.max_rate) == (16, 50)
    assert limits.dedup_ids >= limits.resume_buffer
    assert (config.publish_token, config.scan_root) == ("tok", tmp_path)


def test_serve_defaults() -> None:
    config = config_from_args(build_parser().parse_args(["serve", "--publish-token", "x"]))
    assert (config.host, config.port, config.conformance) == ("127.0.0.1", 8001, False)


def test_limits_below_the_spec_floor_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-rate", "1"]) == 2
    assert "max_rate" in capsys.readouterr().out


def test_conformance_passes_every_argument_to_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_suite(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    import canaux_conformance.cli

    monkeypatch.setattr(canaux_conformance.cli, "main", fake_suite)
    assert main(["conformance", "--report-dir", "out", "ws://h/ws"]) == 7
    assert seen == [["--report-dir", "out", "ws://h/ws"]]


async def _read_forever(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


@pytest.mark.anyio
async def test_python_m_canaux_serve_prints_its_port_and_serves() -> None:
    """``python -m canaux serve --port 0`` prints the listening line, serves, stops on SIGINT."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canaux", "serve", "--port", "0", "--conformance",
        "--log-level", "warning",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("canaux: listening on ws://127.0.0.1:")
        url = line.split()[-1]
        assert url.endswith("/ws")
        async with asyncio.timeout(TIMEOUT), connect(url, subprotocols=["canaux.v1"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "hello", "version": 1}))
            welcome = json.loads(await ws.recv())
            assert "conformance.*" in [c["name"] for c in welcome["channels"]]
            process.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as closed:
                await _read_forever(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class TestServeChannels:
    def test_channels_option_loads_app_channels(self) -> None:
        args = build_parser().parse_args(
            [
                "serve",
                "--channels",
                "docs.examples.library_channel:library",
                "--channels",
                "docs.examples.rooms_channel:rooms",
            ]
        )
        names = [channel.name for channel in config_from_args(args).channels]
        assert names == ["library", "rooms.*"]

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("docs.examples.library_channel", "MODULE:NAME"),
            ("no_such_module_here:x", "cannot import"),
            ("docs.examples.library_channel:ScanResult", "not a canaux.server.Channel"),
        ],
    )
    def test_channels_option_says_what_is_wrong(self, spec: str, message: str) -> None:
        args = build_parser().parse_args(["serve", "--channels", spec])
        with pytest.raises(ValueError, match=message):
            config_from_args(args)

    @pytest.mark.anyio
    async def test_the_console_script_serves_app_channels_from_the_current_directory(
        self,
    ) -> None:
        script = Path(sys.executable).parent / "canaux"
        process = await asyncio.create_subprocess_exec(
            str(script), "serve", "--port", "0", "--log-level", "warning",
            "--channels", "docs.examples.library_channel:library",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert process.stdout is not None
            async with asyncio.timeout(30):
                line = (await process.stdout.readline()).decode()
            assert line.startswith("canaux: listening on ws://127.0.0.1:"), line
            url = line.split()[-1]
            async with asyncio.timeout(TIMEOUT), connect(url, subprotocols=["canaux.v1"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "hello", "version": 1}))
                welcome = json.loads(await ws.recv())
            assert welcome["channels"][-1]["name"] == "library"
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def test_core_only_offers_the_conformance_family_alone() -> None:
    config = config_from_args(build_parser().parse_args(["serve", "--core-only"]))
    assert config.conformance is True
    assert config.standard_channels is False


@pytest.mark.anyio
async def test_accept_token_accepts_exactly_the_tokens_given() -> None:
    args = build_parser().parse_args(["serve", "--accept-token", "tokA", "--accept-token", "tokB"])
    config = config_from_args(args)
    assert config.authenticate is not None
    assert await config.authenticate("tokA") == "tokA"
    assert await config.authenticate("tokB") == "tokB"
    for refused in ("tokC", None, ""):
        with pytest.raises(Unauthorized):
            await config.authenticate(refused)


def test_without_accept_token_there_is_no_authenticator() -> None:
    assert config_from_args(build_parser().parse_args(["serve"])).authenticate is None


@pytest.mark.parametrize(("given", "path"), [("/canaux", "/canaux"), ("/a/b/", "/a/b"), ("", "")])
def test_mount_path_is_normalised(given: str, path: str) -> None:
    assert mount_path_of(build_parser().parse_args(["serve", "--mount-path", given])) == path


def test_a_mount_path_without_a_leading_slash_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--port", "0", "--mount-path", "canaux"]) == 2
    assert "must start with '/'" in capsys.readouterr().out
