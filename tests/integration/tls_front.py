"""A TLS front for a local `pinion hub`, as a deployment puts one before it: a
self-signed certificate for 127.0.0.1 (made with the `openssl` command) and a thread that
relays each TLS connection to the hub's plain port. Replicate's Python client turns only
https: output URLs into FileOutput objects, so its tests need the hub's public URL to be
https:. Start it before the hub (the hub's --public-url names its port)."""
import asyncio
import os
import socket
import ssl
import subprocess
import threading

# Connections relayed at once; more wait in the listen backlog.
BACKLOG = 64
CHUNK = 65536


class TlsFront:
    def __init__(self, folder):
        self.cert = os.path.join(str(folder), "cert.pem")
        self.key = os.path.join(str(folder), "key.pem")
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", self.key, "-out", self.cert, "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True,
            timeout=60)
        assert made.returncode == 0, "openssl could not make a certificate: " + made.stderr
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(BACKLOG)
        self.url = "https://127.0.0.1:%d" % self.socket.getsockname()[1]
        self.loop = None
        self.thread = None

    def start(self, backend_port):
        """Relays to 127.0.0.1:backend_port from now on."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.loop = asyncio.new_event_loop()

        async def pipe(reader, writer):
            try:
                while data := await reader.read(CHUNK):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, ssl.SSLError):
                pass  # either side hung up: close the other
            finally:
                writer.close()

        async def relay(reader, writer):
            try:
                hub_reader, hub_writer = await asyncio.open_connection("127.0.0.1", backend_port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, hub_writer), pipe(hub_reader, writer))

        async def serve():
            server = await asyncio.start_server(relay, sock=self.socket, ssl=context)
            async with server:
                await server.serve_forever()

        def run():
            try:
                self.loop.run_until_complete(serve())
            except asyncio.CancelledError:
                pass

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.loop and self.thread:
            self.loop.call_soon_threadsafe(lambda: [task.cancel() for task in
                                                    asyncio.all_tasks(self.loop)])
            self.thread.join(timeout=10)
        self.socket.close()
