#!/usr/bin/python3
"""tests/e2e/console_cdp.py DEVTOOLS_PORT COMMAND [ARGS...]: drives the page of a headless
Chromium (started with --remote-debugging-port) through the DevTools protocol, as a user
would: mouse clicks at the element's place and typed text, not calls into the page's script.

  open URL                  load URL, wait until the console has drawn its table
  rows                      print the page's table as -Ln's lines: "TCP 198.18.0.100:80 wlc",
                            "-> 198.18.1.11:80 Masq 1 0 5"
  set-weight SERVER WEIGHT  click SERVER's weight box, type WEIGHT, click "Set weight";
                            print the page's message
  click SERVER CLASS        click SERVER's button of that class (quiesce, drain, restore);
                            print the page's message
  cell SERVER CLASS [SVC]   print the text of SERVER's cell of that class (health, weight), in
                            the service SVC ("-t 198.18.0.100:81"; default: the first that has it)
  figure NAME               print the first service's rate label (cps, pps, bps)
  text SELECTOR             print the text of the first element SELECTOR finds (#role, #sync)
  screenshot FILE           save a PNG of the whole page
Needs python3-websockets (Debian 12's 10.4: the asyncio client).
"""
import asyncio
import base64
import json
import sys
import time
import urllib.request

import websockets


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def wait(self, expr, what, seconds=15):
        end = time.time() + seconds
        while time.time() < end:
            v = await self.js(expr)
            if v:
                return v
            await asyncio.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    async def click_at(self, selector):
        box = await self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if not box:
            raise RuntimeError(f"no element {selector}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def message_after(self, action):
        """The page's status line once it changes after ACTION."""
        await self.js("document.getElementById('msg').textContent = ''")
        await action()
        return await self.wait("document.getElementById('msg').textContent", "the page's answer")


def row(server):
    return f'tr[data-server="{server}"]'


ROWS_JS = """[...document.querySelectorAll('section.service')].flatMap(s => [
  s.querySelector('h2').textContent.replace(/\\s+/g, ' '),
  ...[...s.querySelectorAll('tbody tr')].map(tr => '-> ' + tr.dataset.server + ' ' +
     ['forward', 'weight', 'active', 'inactive'].map(c => tr.querySelector('td.' + c).textContent).join(' '))
]).join('\\n')"""


async def main(port, cmd, args):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
        targets = [t for t in json.load(r) if t["type"] == "page"]
    async with websockets.connect(targets[0]["webSocketDebuggerUrl"], max_size=None) as ws:
        p = Page(ws)
        if cmd == "open":
            await p.call("Page.navigate", url=args[0])
            await p.wait("document.querySelectorAll('section.service tbody tr').length > 0", "the table")
            print(await p.js("document.getElementById('role').textContent"))
        elif cmd == "rows":
            print(await p.js(ROWS_JS))
        elif cmd == "set-weight":
            server, weight = args

            async def act():
                await p.click_at(row(server) + " input")
                await p.js("document.activeElement.select()")
                await p.call("Input.insertText", text=weight)
                await p.click_at(row(server) + " button.set")

            print(await p.message_after(act))
        elif cmd == "click":
            server, cls = args
            print(await p.message_after(lambda: p.click_at(f"{row(server)} button.{cls}")))
        elif cmd == "cell":
            server, cls = args[:2]
            scope = f'section[data-service="{args[2]}"] ' if len(args) > 2 else ""
            print(await p.js(f"document.querySelector({json.dumps(scope + row(server) + ' td.' + cls)}).textContent"))
        elif cmd == "figure":
            print(await p.js(f"document.querySelector('[data-figure=\"{args[0]}\"]').textContent"))
        elif cmd == "text":
            print(await p.js(f"document.querySelector({json.dumps(args[0])}).textContent"))
        elif cmd == "screenshot":
            shot = await p.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            with open(args[0], "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        else:
            raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
