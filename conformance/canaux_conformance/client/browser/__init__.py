"""The browser adapter: a browser's own ``EventSource`` as the client under test.

``canaux-conformance client -- python -m canaux_conformance.client.browser`` checks a
browser's native ``EventSource`` (Chromium, through Playwright) against the SSE client cases:
the adapter's "application" is a page in a headless browser (``eventsource.html``), and the
adapter relays what the page observes as adapter protocol messages (spec appendix "Client
adapter protocol"). It needs Playwright (``pip install 'canaux[conformance-browser]'``) and a
Chromium; Playwright never downloads one for it (``--executable``, default
``/usr/bin/chromium``). See :mod:`canaux_conformance.client.browser.adapter`.
"""

__all__: list[str] = []
