#!/usr/bin/env python3
"""delay-proxy.py LISTEN_PORT TARGET_PORT ONE_WAY_MS: a TCP forwarder on loopback that
makes its target look far away. Every byte waits ONE_WAY_MS in each direction, and a
connection's first byte waits one round trip more (the handshake a real link costs),
so each request pays a round trip the way it would over a WAN, while bandwidth stays
loopback's. The bench's archive at +RTT (scripts/bench/measure-remote.sh)."""
import asyncio
import sys


async def forward(reader, writer, delay, first_extra):
    """Copies reader to writer, each chunk sent `delay` after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    not_before = loop.time() + first_extra
    try:
        while True:
            data = await reader.read(1 << 16)
            await queue.put((max(loop.time() + delay, not_before), data))
            if not data:
                break
    except ConnectionError:
        await queue.put((loop.time(), b""))
    try:
        await sender
    except ConnectionError:
        pass


async def main():
    listen, target, one_way_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = one_way_ms / 1000

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            forward(client_reader, up_writer, delay, 2 * delay),
            forward(up_reader, client_writer, delay, 0),
        )
        for w in (up_writer, client_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
