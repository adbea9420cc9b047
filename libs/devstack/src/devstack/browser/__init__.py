"""A headless Chromium (Debian's package, from devstack.toolchain) that opens a page with the
network limited to 127.0.0.1 and keeps every request the page tried, the text it rendered and a
screenshot: how tests/e2e/test_docs_in_a_browser.py shows the docs pages need nothing from
outside the machine.
"""

from devstack.browser.devtools import BrowserError, DevTools, launch
from devstack.browser.visit import LOOPBACK, PageVisit, Request, visit

__all__ = ["LOOPBACK", "BrowserError", "DevTools", "PageVisit", "Request", "launch", "visit"]
