// A TCP relay between the browser and the stack's nginx that a test can cut:
// cut() resets every open connection and refuses new ones (each is reset at
// once) until restore(). To the page this is a network blip: its event
// streams drop and its reconnects fail until the network is back.

import net from 'node:net';

export async function startBlipProxy(targetUrl) {
    const target = new URL(targetUrl);
    const sockets = new Set();
    let down = false;

    const server = net.createServer((client) => {
        if (down) {
            client.resetAndDestroy();
            return;
        }
        const upstream = net.connect({ host: target.hostname, port: Number(target.port) });
        const pair = [client, upstream];
        for (const s of pair) {
            sockets.add(s);
            s.on('error', () => {});
            s.on('close', () => {
                sockets.delete(s);
                for (const other of pair) if (other !== s && !other.destroyed) other.destroy();
            });
        }
        client.pipe(upstream);
        upstream.pipe(client);
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
    });

    return {
        url: `http://127.0.0.1:${server.address().port}`,
        get down() {
            return down;
        },
        cut() {
            down = true;
            for (const s of sockets) {
                if (typeof s.resetAndDestroy === 'function' && !s.destroyed) s.resetAndDestroy();
                else s.destroy();
            }
        },
        restore() {
            down = false;
        },
        close() {
            down = true;
            for (const s of sockets) s.destroy();
            return new Promise((resolve) => server.close(() => resolve()));
        },
    };
}
