"""A Streamlit client without a browser: the server's own websocket and upload endpoint, in protobuf.

What a browser tab does, at a small fraction of its CPU (issue 16): fetch ``/_stcore/health`` for the
``_streamlit_xsrf`` cookie, open ``/_stcore/stream`` (subprotocols ``streamlit, <xsrf token>``,
``Origin`` of the app), and exchange ``BackMsg`` / ``ForwardMsg`` messages:

- a run is a ``BackMsg.rerun_script`` carrying a ``ClientState`` (query string, page, widget
  states); the server answers with ``new_session``, deltas (the page's elements, by
  ``metadata.delta_path``) and ``script_finished``;
- an upload asks for URLs (``BackMsg.file_urls_request``), ``PUT``\\ s the bytes as multipart to
  ``/_stcore/upload_file/<session>/<file id>`` with the ``X-Xsrftoken`` header, then reruns with the
  uploader's ``file_uploader_state_value``;
- a deferred download (``st.download_button(data=callable)``) is a
  ``BackMsg.backend_operation_request`` with the button's ``deferred_file_id``; the answer is the
  media URL, fetched with ``GET``.

Widgets are found by key (Streamlit's element ids end in ``-<key>``) or by label.  Widget
states are kept like the browser keeps them: every value this client set is sent with every
later run; a button's trigger only once.  Loopback use only (tests and ``bench/bench_capacity.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

__all__ = ["Element", "Run", "StreamlitClient", "http_request", "run_coroutine"]


def run_coroutine(coro):
    """``asyncio.run(coro)`` in a thread of its own, and its result.

    Once a test session has started Playwright's sync API (the session's ``browser`` fixture), an
    event loop stays running in the main thread for the rest of the session and ``asyncio.run``
    refuses to start there; under pytest-xdist any test may share its worker with the browser tests.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()

XSRF_COOKIE = "_streamlit_xsrf"


def http_request(base_url: str, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout_s: float = 60.0) -> tuple[int, dict, bytes]:
    """One HTTP request to the app on loopback: (status, headers, body)."""
    u = urlparse(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _cookies(headers: dict) -> dict[str, str]:
    out = {}
    for part in headers.get("set-cookie", "").split(","):
        name, _, rest = part.strip().partition("=")
        if name and rest:
            out[name] = rest.split(";", 1)[0]
    return out


def multipart(name: str, data: bytes, mime: str = "application/octet-stream") -> tuple[bytes, str]:
    """A multipart/form-data body with one file field (as a browser's FormData): (body, content type)."""
    boundary = "----stclient" + uuid.uuid4().hex
    safe = name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Element:
    """One element of the page: its kind (``Element`` oneof name) and its proto."""

    kind: str
    proto: object

    @property
    def id(self) -> str:
        return getattr(self.proto, "id", "")

    @property
    def label(self) -> str:
        return getattr(self.proto, "label", "")

    @property
    def text(self) -> str:
        p = self.proto
        return " ".join(str(getattr(p, a)) for a in ("label", "body", "message") if getattr(p, a, ""))


@dataclass
class Run:
    """What one script run sent: elements in page order, its status, its time (s)."""

    elements: list[Element] = field(default_factory=list)
    status: int = -1
    seconds: float = 0.0
    page_not_found: bool = False

    def of(self, kind: str) -> list[Element]:
        return [e for e in self.elements if e.kind == kind]

    def texts(self, *kinds: str) -> list[str]:
        return [e.text for e in self.elements if not kinds or e.kind in kinds]

    def errors(self) -> list[str]:
        """Error boxes (``st.error``) and exceptions shown by this run."""
        out = [e.text for e in self.of("exception")]
        out += [e.proto.body for e in self.of("alert") if e.proto.format == 1]  # Alert.Format.ERROR
        return out

    def find(self, kind: str, key: str | None = None, label: str | None = None) -> Element:
        for e in self.elements:
            if e.kind != kind:
                continue
            if key is not None and not e.id.endswith("-" + key):
                continue
            if label is not None and label not in e.label:
                continue
            return e
        raise LookupError(f"no {kind} with key={key!r} label={label!r} on the page: "
                          f"{[(e.kind, e.label or e.id) for e in self.elements if e.id]}")


class StreamlitClient:
    """One session of the app, driven over its websocket (see the module docstring)."""

    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session_id = ""
        self.cookie = ""
        self.xsrf = ""
        self.query_string = ""
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self.widgets: dict[str, WidgetState] = {}
        self.last: Run = Run()
        self._ws = None
        self._pending: dict[str, asyncio.Future] = {}
        self._run_done: asyncio.Future | None = None
        self._run: Run | None = None
        self._reader: asyncio.Task | None = None

    # ------------------------------------------------------------------ connection
    async def connect(self) -> StreamlitClient:
        status, headers, _ = await asyncio.to_thread(http_request, self.base_url, "GET", "/_stcore/health")
        if status != 200:
            raise ConnectionError(f"GET /_stcore/health answered {status}")
        self.xsrf = _cookies(headers).get(XSRF_COOKIE, "")
        self.cookie = f"{XSRF_COOKIE}={self.xsrf}" if self.xsrf else ""
        ws_url = "ws" + self.base_url[len("http"):] + "/_stcore/stream"
        protocols = ["streamlit", self.xsrf] if self.xsrf else ["streamlit"]
        self._ws = await websockets.connect(
            ws_url, subprotocols=protocols, origin=self.base_url, max_size=None,
            additional_headers={"Cookie": self.cookie} if self.cookie else None, open_timeout=30)
        self._reader = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        async for frame in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(frame)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                if msg.new_session.initialize.session_id:
                    self.session_id = msg.new_session.initialize.session_id
                if self._run is not None:
                    self._run.elements.clear()
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                self.page_hash = msg.navigation.page_script_hash or self.page_hash
            elif kind == "page_info_changed":
                self.query_string = msg.page_info_changed.query_string
            elif kind == "page_not_found" and self._run is not None:
                self._run.page_not_found = True
            elif kind == "delta" and self._run is not None:
                if msg.delta.WhichOneof("type") == "new_element":
                    el = msg.delta.new_element
                    which = el.WhichOneof("type")
                    if which:
                        self._run.elements.append(Element(which, getattr(el, which)))
            elif kind == "script_finished":
                if self._run is not None and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    self._run.status = msg.script_finished
                    if self._run_done is not None and not self._run_done.done():
                        self._run_done.set_result(self._run)
            elif kind == "file_urls_response":
                fut = self._pending.pop(msg.file_urls_response.response_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg.file_urls_response)
            elif kind == "backend_operation_response":
                fut = self._pending.pop(msg.backend_operation_response.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg.backend_operation_response)

    async def _send(self, back: BackMsg) -> None:
        await self._ws.send(back.SerializeToString())

    # ------------------------------------------------------------------ runs
    async def run(self, page: str | None = None, triggers: Iterable[WidgetState] = ()) -> Run:
        """Rerun the script (on ``page``, a URL path such as ``analyse``) and wait for it to finish."""
        if page is not None:
            if self.pages and page not in self.pages:
                raise LookupError(f"no page {page!r}: {sorted(self.pages)}")
            self.page_hash = self.pages.get(page, "")
        back = BackMsg()
        cs = back.rerun_script
        cs.query_string = self.query_string
        cs.page_script_hash = self.page_hash
        if page is not None:
            cs.page_name = page
        cs.widget_states.widgets.extend(self.widgets.values())
        cs.widget_states.widgets.extend(triggers)
        self._run = Run()
        self._run_done = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        await self._send(back)
        run = await asyncio.wait_for(self._run_done, self.timeout_s)
        run.seconds = time.perf_counter() - t0
        self.last = run
        return run

    async def click(self, key: str | None = None, label: str | None = None) -> Run:
        button = self.last.find("button", key=key, label=label)
        return await self.run(triggers=[WidgetState(id=button.id, trigger_value=True)])

    async def set_value(self, kind: str, value, key: str | None = None, label: str | None = None) -> Run:
        """Set a number_input (float), text_input (str) or checkbox (bool) and rerun."""
        self.fill(kind, value, key=key, label=label)
        return await self.run()

    def fill(self, kind: str, value, key: str | None = None, label: str | None = None) -> None:
        """Set a widget's value for the next run without running (a field of a form)."""
        el = self.last.find(kind, key=key, label=label)
        ws = WidgetState(id=el.id)
        if kind == "number_input":
            if el.proto.data_type == 1:  # NumberInput.INT
                ws.int_value = int(value)
            else:
                ws.double_value = float(value)
        elif kind in ("text_input", "text_area"):
            ws.string_value = str(value)
        elif kind == "checkbox":
            ws.bool_value = bool(value)
        else:
            raise ValueError(f"set_value does not handle {kind}")
        self.widgets[el.id] = ws

    # ------------------------------------------------------------------ uploads and downloads
    async def request_upload_urls(self, names: list[str]):
        back = BackMsg()
        req = back.file_urls_request
        req.request_id = uuid.uuid4().hex
        req.session_id = self.session_id
        req.file_names.extend(names)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req.request_id] = fut
        await self._send(back)
        return await asyncio.wait_for(fut, self.timeout_s)

    async def put_file(self, upload_url: str, name: str, data: bytes) -> int:
        """PUT one file to an upload URL of this session; the HTTP status (204 when stored)."""
        body, ctype = multipart(name, data)
        headers = {"Content-Type": ctype, "Origin": self.base_url}
        if self.xsrf:
            headers |= {"X-Xsrftoken": self.xsrf, "Cookie": self.cookie}
        path = urlparse(upload_url).path if upload_url.startswith("http") else upload_url
        status, _, _ = await asyncio.to_thread(http_request, self.base_url, "PUT", path, body, headers)
        return status

    async def upload(self, files: list[tuple[str, bytes]], key: str | None = None,
                     label: str | None = None) -> Run:
        """Upload ``(name, bytes)`` files through a file_uploader, as a browser does, and rerun."""
        uploader = self.last.find("file_uploader", key=key, label=label)
        urls = await self.request_upload_urls([n for n, _ in files])
        if urls.error_msg:
            raise RuntimeError(f"upload URLs refused: {urls.error_msg}")
        ws = WidgetState(id=uploader.id)
        for (name, data), u in zip(files, urls.file_urls, strict=True):
            status = await self.put_file(u.upload_url, name, data)
            if status != 204:
                raise RuntimeError(f"upload of {name[:60]!r} answered HTTP {status}")
            info = ws.file_uploader_state_value.uploaded_file_info.add()
            info.name, info.size, info.file_id = name, len(data), u.file_id
            info.file_urls.CopyFrom(u)
        self.widgets[uploader.id] = ws
        return await self.run()

    async def download(self, key: str | None = None, label: str | None = None) -> bytes:
        """Click a deferred download button and fetch the file it makes (or a direct one's URL)."""
        button = self.last.find("download_button", key=key, label=label)
        url = button.proto.url
        if button.proto.deferred_file_id:
            back = BackMsg()
            op = back.backend_operation_request
            op.request_id = uuid.uuid4().hex
            op.session_id = self.session_id
            op.deferred_file.file_id = button.proto.deferred_file_id
            fut = asyncio.get_running_loop().create_future()
            self._pending[op.request_id] = fut
            await self._send(back)
            answer = await asyncio.wait_for(fut, self.timeout_s)
            if answer.error_msg:
                raise RuntimeError(f"download failed: {answer.error_msg}")
            url = answer.deferred_file.url
        path = urlparse(url).path if url.startswith("http") else url
        status, _, body = await asyncio.to_thread(http_request, self.base_url, "GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return body
