"""TaskProgress: long-running tasks such as library scans (seed note: ``progress``).

Uses the old ``WebSocketService`` with the old call form, ``register_handler(fn,
channel="progress")``. Progress only moves forward (PROGRESS-1), so each update simply
replaces the task's row.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from canaux.client import WebSocketService

__all__ = ["TaskProgress"]


class _Row:
    def __init__(self, task: str) -> None:
        with ui.column().classes("w-full gap-0") as self.box:
            self.label = ui.label(task)
            self.bar = ui.linear_progress(value=0, show_value=False)
        self.box.props(f'data-testid="task" data-task="{task}" data-status="pending"')


class TaskProgress:
    """One row per task: status, count and a progress bar."""

    def __init__(self) -> None:
        self.websocket_service = WebSocketService()
        self.websocket_service.register_handler(self._on_progress, channel="progress")
        self._rows: dict[str, _Row] = {}
        with ui.card().classes("w-full").props('data-testid="progress"'):
            ui.label("Tasks").classes("text-h6")
            self._list = ui.column().classes("w-full")

    def _on_progress(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("task"), str):
            return
        task = data["task"]
        row = self._rows.get(task)
        if row is None:
            with self._list:
                row = self._rows[task] = _Row(task)
        current, total, status = data.get("current", 0), data.get("total"), data.get("status")
        count = f"{current}/{total}" if total is not None else f"{current}"
        message = f" — {data['message']}" if data.get("message") else ""
        row.label.set_text(f"{data.get('kind')} {task}: {status} {count}{message}")
        row.bar.set_value(current / total if total else (1.0 if status == "done" else 0.0))
        row.box.props(f'data-status="{status}"')

    async def close(self) -> None:
        await self.websocket_service.disconnect()
