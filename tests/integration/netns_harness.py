"""A second "host" on this machine for the scale-out tests: a network namespace joined to
this one by a veth pair on a private /30 of 10.231.0.0/16 (one free /30 picked per run,
so that runs on one machine do not collide). Processes started through `wrapper` run
inside it and reach this host at `host_address`; `cut()` takes the link down (the host
is cut off: connections hang, nothing is refused), `restore()` brings it back. close()
kills whatever still runs inside, deletes the namespace (and with it the veth pair), and
says what it had to kill. Needs root (CAP_NET_ADMIN) and iproute2."""
import os
import signal
import subprocess
import time

TIMEOUT = 10


def available():
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "making network namespaces needs root (CAP_NET_ADMIN)"
    if not os.path.exists("/usr/sbin/ip") and not os.path.exists("/sbin/ip"):
        return "ip (iproute2) is not installed (scripts/install-deps)"
    return None


def ip(*words, check=True):
    result = subprocess.run(["ip", *words], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0 or not check, "ip %s: %s" % (" ".join(words), result.stderr)
    return result.stdout


def used_addresses():
    return ip("-o", "-4", "addr", "show")


class Host:
    def __init__(self, tag="d"):
        pid = os.getpid()
        self.name = "pn-scale-%s-%d" % (tag, pid)
        self.host_if = "pnh%s%d" % (tag, pid % 100000)
        self.inner_if = "pnn%s%d" % (tag, pid % 100000)
        assert len(self.host_if) <= 15, self.host_if
        self.host_address = self.inner_address = None
        used = used_addresses()
        for step in range(256):
            block = (pid * 7 + step) % 16384  # a /30 of 10.231.0.0/16
            base = block * 4
            host = "10.231.%d.%d" % (base // 256, base % 256 + 1)
            inner = "10.231.%d.%d" % (base // 256, base % 256 + 2)
            if (" %s/" % host) not in used and (" %s/" % inner) not in used:
                self.host_address, self.inner_address = host, inner
                break
        assert self.host_address, "no free /30 in 10.231.0.0/16"
        self.wrapper = ["ip", "netns", "exec", self.name]
        try:
            ip("netns", "add", self.name)
            ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if,
               "netns", self.name)
            ip("addr", "add", self.host_address + "/30", "dev", self.host_if)
            ip("link", "set", self.host_if, "up")
            ip("-n", self.name, "addr", "add", self.inner_address + "/30", "dev", self.inner_if)
            ip("-n", self.name, "link", "set", self.inner_if, "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def cut(self):
        ip("link", "set", self.host_if, "down")

    def restore(self):
        ip("link", "set", self.host_if, "up")
        # The veth's carrier is back once both ends are up: wait for it.
        deadline = time.monotonic() + TIMEOUT
        while "LOWER_UP" not in ip("link", "show", self.host_if):
            assert time.monotonic() < deadline, "the link did not come back"
            time.sleep(0.05)

    def pids(self):
        return [int(word) for word in ip("netns", "pids", self.name, check=False).split()]

    def close(self):
        """Removes the namespace; returns the pids it had to kill (a leak, for the caller
        to fail on)."""
        leaked = self.pids()
        for pid in leaked:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + TIMEOUT
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        ip("netns", "del", self.name, check=False)
        ip("link", "del", self.host_if, check=False)  # gone with the namespace already
        assert self.name not in ip("netns", "list", check=False), "namespace %s stayed" % self.name
        return leaked
