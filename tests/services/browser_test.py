#!/usr/bin/python3
"""A real browser against `reel serve` (issue 17): Debian's chromium, headless, opens the page at `/`,
submits a prompt through the form, and the test asserts — by reading the page over the Chrome DevTools
Protocol — that the <video> element's currentTime advances while the job is still RUNNING (the
progressive result plays while it renders), then that the finished video plays to its end.

The DevTools Protocol runs over --remote-debugging-pipe (file descriptors 3 and 4, messages ended by
NUL), so no WebSocket library is needed. The render is reel-tiny at 64x64 with few steps: a few
seconds on 2 CPU cores, with generous deadlines for a loaded machine.

usage: browser_test.py PATH/TO/reel MODEL_DIR [mp4|webm] [SCREENSHOT.png]
Exit code 77 (skipped) when chromium or the model is missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

FRAMES = 48   # 12 blocks of 4 frames
FPS = 8       # 6 s of video
STEPS = 6
DEADLINE = 150  # seconds for the whole test on a loaded machine


class Browser:
    """chromium --headless with the DevTools Protocol on a pipe."""

    def __init__(self, profile):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()

        def child_fds():
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
             "--autoplay-policy=no-user-gesture-required", "--mute-audio",
             "--window-size=1000,900", "--user-data-dir=" + profile, "about:blank"],
            # close_fds would run after preexec_fn and close 3 and 4 again.
            close_fds=False, preexec_fn=child_fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(res_w)
        self.next_id = 0
        self.buffer = b""
        self.session = None

    def call(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.res_r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})

    def open(self, url):
        target = self.call("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


PROBE = """JSON.stringify({
  state: document.getElementById('state').dataset.state,
  t: document.getElementById('video').currentTime,
  ended: document.getElementById('video').ended,
  duration: document.getElementById('video').duration,
  previews: document.querySelectorAll('#previews img').length,
  error: document.getElementById('error').textContent,
  detail: document.getElementById('detail').textContent})"""


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    reel, model = sys.argv[1], sys.argv[2]
    fmt = sys.argv[3] if len(sys.argv) > 3 else "mp4"
    screenshot = sys.argv[4] if len(sys.argv) > 4 else None
    if shutil.which("chromium") is None:
        print("SKIP: no chromium (tools/setup.sh installs Debian's)")
        return 77
    if not os.path.exists(os.path.join(model, "config.json")):
        print("SKIP: no model at " + model)
        return 77
    tmp = tempfile.mkdtemp(prefix="reel_browser_")
    server = browser = None
    try:
        log = open(os.path.join(tmp, "serve.log"), "w+")
        server = subprocess.Popen(
            [reel, "serve", "--model", model, "--listen", "127.0.0.1:0", "--http_listen",
             "127.0.0.1:0", "--data", os.path.join(tmp, "data"), "--threads", "1"],
            stdout=log, stderr=subprocess.STDOUT)
        url = None
        start = time.time()
        while url is None and time.time() - start < 60:
            time.sleep(0.2)
            log.seek(0)
            m = re.search(r"page and HTTP/JSON API on (http://\S+/)", log.read())
            url = m.group(1) if m else None
            if server.poll() is not None:
                break
        assert url, "reel serve did not start:\n" + open(log.name).read()

        browser = Browser(os.path.join(tmp, "profile"))
        browser.open(url + "?prompt=a+red+ball+bouncing&frames=%d&fps=%d&steps=%d&seed=3&format=%s"
                     "&submit=1" % (FRAMES, FPS, STEPS, fmt))
        samples = []
        played_while_running = None  # (first t > 0, later larger t) seen while RUNNING
        first_running_t = None
        deadline = time.time() + DEADLINE
        while time.time() < deadline:
            raw = browser.evaluate(PROBE)
            if raw is None:  # the page is still loading
                time.sleep(0.1)
                continue
            s = json.loads(raw)
            samples.append(s)
            if s["error"]:
                raise AssertionError("the page shows an error: " + s["error"])
            if s["state"] == "RUNNING" and s["t"] > 0:
                if first_running_t is None:
                    first_running_t = s["t"]
                elif s["t"] > first_running_t and played_while_running is None:
                    played_while_running = (first_running_t, s["t"])
            if screenshot and s["state"] == "RUNNING" and s["previews"] >= FRAMES // 8:
                browser.screenshot(screenshot)  # half-way: previews, progress, the video playing
                screenshot = None
            if s["state"] == "SUCCEEDED" and s["ended"]:
                break
            if s["state"] in ("FAILED", "CANCELLED"):
                raise AssertionError("the job ended " + s["state"] + ": " + s["detail"])
            time.sleep(0.1)
        last = samples[-1]
        running = [x for x in samples if x["state"] == "RUNNING"]
        print("samples: %d, while RUNNING: %d, first t while RUNNING: %s, last: %s"
              % (len(samples), len(running), first_running_t, json.dumps(last)))
        assert played_while_running, (
            "the video's currentTime did not advance while the job was RUNNING: " +
            json.dumps([(x["state"], x["t"]) for x in samples][-40:]))
        print("played while running: currentTime %.3f -> %.3f s" % played_while_running)
        assert last["state"] == "SUCCEEDED" and last["ended"], "the finished video did not play to the end"
        expected = FRAMES / FPS
        assert abs(last["t"] - expected) < 0.3, "ended at %.3f s, expected %.3f s" % (last["t"], expected)
        assert last["previews"] == FRAMES // 4, "previews: %d" % last["previews"]
        print("PASS (%s): played to the end at %.3f s of %.3f s" % (fmt, last["t"], expected))
        return 0
    finally:
        if browser:
            browser.close()
        if server:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
