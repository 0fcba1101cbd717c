#!/usr/bin/env python3
"""The web app's jobs page, first load, as a browser sees it (docs/performance.md, issue: web app).

Against a running Agent Bus (./run.sh): optionally seeds N projects through POST /api/projects,
then opens http://localhost:8003 in Debian's headless Chromium (DevTools protocol, Debian's
python3-websocket), signs in with the key, and loads the jobs page R times in fresh navigations:
the navigation timing of each (server answer, DOM ready, load) and when the page went live (its
Blazor circuit connected and following /api/events). Prints p50/p95/max in ms.

Usage: bench/web_jobs_page.py --key KEY [--seed 10000] [--runs 30] [--web http://localhost:8003] [--api http://localhost:8000]
Loopback only.
"""
import argparse, concurrent.futures, json, statistics, subprocess, tempfile, time, urllib.error, urllib.request
import websocket  # Debian python3-websocket


def seed(api, key, count):
    """POSTs count projects, spread over 20 operator keys (one key alone meets its rate limit); 429s are retried."""
    def call(path, payload, with_key):
        request = urllib.request.Request(f"{api}{path}", data=json.dumps(payload).encode(), method="POST",
                                         headers={"X-Api-Key": with_key, "Content-Type": "application/json"})
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as e:
                if e.code != 429:
                    return e.code, None
                time.sleep(float(e.headers.get("Retry-After") or 1))
        return 429, None
    keys = [call("/api/keys", {"name": f"bench seed {i}", "role": "operator"}, key)[1]["key"] for i in range(20)]
    project = {"name": "Measured project", "requirements": "Patients must be able to book appointments online. Doctors should see their daily schedule."}
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: call("/api/projects", project, keys[i % len(keys)])[0], range(count)))
    print(f"seeded {statuses.count(201)} of {count} projects in {time.time() - started:.0f} s")


class Chromium:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="agentbus-bench-chromium-")
        self.process = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=9334",
                                         f"--user-data-dir={self.profile}", "--window-size=1400,900", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                tabs = json.load(urllib.request.urlopen("http://127.0.0.1:9334/json"))
                break
            except OSError:
                time.sleep(0.1)
        tab = next(t for t in tabs if t["type"] == "page")
        self.ws = websocket.create_connection(tab["webSocketDebuggerUrl"])
        self.n = 0
        self.call("Page.enable")

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.n:
                return message.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)["result"].get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)
        self.until("document.readyState === 'complete'")

    def until(self, expression, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.01)
        raise TimeoutError(expression)

    def close(self):
        self.process.terminate()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--web", default="http://localhost:8003")
    parser.add_argument("--api", default="http://localhost:8000")
    args = parser.parse_args()
    if args.seed:
        seed(args.api, args.key, args.seed)

    browser = Chromium()
    try:
        browser.navigate(f"{args.web}/signin")
        browser.evaluate(f"document.getElementById('api-key').value = {json.dumps(args.key)}; document.querySelector('main form').submit(); true")
        browser.until("location.pathname === '/' && document.readyState === 'complete'")
        rows = browser.evaluate("document.querySelectorAll('tbody tr').length")
        timings = {"response_end": [], "dom_ready": [], "load": [], "live": []}
        for _ in range(args.runs):
            start = time.time()
            browser.navigate(f"{args.web}/")
            browser.until("(document.querySelector('.live')?.textContent || '').includes('Live')")
            live = (time.time() - start) * 1000
            nav = browser.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            nav = json.loads(nav)
            timings["response_end"].append(nav["responseEnd"])
            timings["dom_ready"].append(nav["domContentLoadedEventEnd"])
            timings["load"].append(nav["loadEventEnd"])
            timings["live"].append(live)
        print(f"jobs page, {rows} rows shown, {args.runs} loads:")
        for name, values in timings.items():
            print(f"  {name:13s} p50 {statistics.median(values):7.1f} ms  p95 {percentile(values, 95):7.1f} ms  max {max(values):7.1f} ms")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
