"""A second "host" on this machine for the scale-out tests: a network namespace joined to
this one by a veth pair on a private /30 of 10.231.0.0/16 (one free /30 picked per run,
so that runs on one machine do not collide). Processes started through `wrapper` run
inside it and reach this host at `host_address`; `cut()` takes the link down (the host
is cut off: connections hang, nothing is refused), `restore()` brings it back. close()
kills whatever still runs inside, and with its last process the namespace and the veth
pair are gone; it says what it had to kill.

The namespace is held by a process of its own (`unshare --net sleep`), not by a name
under /run/netns: on a machine where container engines come and go, those bind mounts
can be swept away while a test runs, and the namespace with them. Needs root
(CAP_NET_ADMIN), util-linux's unshare and nsenter, and iproute2."""
import os
import signal
import subprocess
import time

TIMEOUT = 10


def available():
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "making network namespaces needs root (CAP_NET_ADMIN)"
    for tool in ("ip", "unshare", "nsenter"):
        if not any(os.path.exists(os.path.join(d, tool)) for d in ("/usr/sbin", "/sbin",
                                                                   "/usr/bin", "/bin")):
            return "%s is not installed (scripts/install-deps)" % tool
    return None


def ip(*words, check=True, inside=None):
    """Runs `ip WORDS`, in the namespace of process `inside` when given."""
    prefix = ["nsenter", "--net=/proc/%d/ns/net" % inside, "--"] if inside else []
    result = subprocess.run([*prefix, "ip", *words], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0 or not check, "ip %s: %s" % (" ".join(words), result.stderr)
    return result.stdout


def used_addresses():
    return ip("-o", "-4", "addr", "show")


def namespace_of(pid):
    try:
        return os.readlink("/proc/%d/ns/net" % pid)
    except OSError:
        return None


class Host:
    def __init__(self, tag="d"):
        pid = os.getpid()
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
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "86400"],
                                       stdin=subprocess.DEVNULL)
        self.namespace = None
        try:
            deadline = time.monotonic() + TIMEOUT
            while namespace_of(self.holder.pid) in (None, namespace_of(os.getpid())):
                assert self.holder.poll() is None, "unshare --net exited"
                assert time.monotonic() < deadline, "unshare --net did not make a namespace"
                time.sleep(0.01)
            self.namespace = namespace_of(self.holder.pid)
            self.name = "%s (held by %d)" % (self.namespace, self.holder.pid)
            self.wrapper = ["nsenter", "--net=/proc/%d/ns/net" % self.holder.pid, "--"]
            ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if,
               "netns", str(self.holder.pid))
            ip("addr", "add", self.host_address + "/30", "dev", self.host_if)
            ip("link", "set", self.host_if, "up")
            ip("addr", "add", self.inner_address + "/30", "dev", self.inner_if,
               inside=self.holder.pid)
            ip("link", "set", self.inner_if, "up", inside=self.holder.pid)
            ip("link", "set", "lo", "up", inside=self.holder.pid)
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
        """Processes in the namespace other than its holder."""
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != self.holder.pid and \
                    namespace_of(int(name)) == self.namespace:
                found.append(int(name))
        return found

    def close(self):
        """Kills what still runs inside, then the holder: the namespace and the veth pair
        go with them. Returns the pids it had to kill (a leak, for the caller to fail
        on)."""
        leaked = self.pids() if self.namespace else []
        for pid in leaked:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + TIMEOUT
        while self.namespace and self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait(timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while self.host_if in ip("-o", "link", "show", check=False):
            assert time.monotonic() < deadline, "%s stayed" % self.host_if
            time.sleep(0.05)
        return leaked
