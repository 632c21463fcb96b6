"""The page's components, one per channel (the seed note's ChatUI, PlayQueue…).

Each registers its handlers when a page builds it and calls :meth:`close` when the page goes
away (its services' ``disconnect()``: the shared connection stays open for the other pages).
"""

from examples.soniquebay.frontend.components.chat import ChatUI
from examples.soniquebay.frontend.components.library import LibraryView
from examples.soniquebay.frontend.components.notices import SystemNotices
from examples.soniquebay.frontend.components.playqueue import PlayQueue
from examples.soniquebay.frontend.components.progress import TaskProgress

__all__ = ["ChatUI", "LibraryView", "PlayQueue", "SystemNotices", "TaskProgress"]
