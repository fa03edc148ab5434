#!/usr/bin/env python3
"""tests/e2e/http_server.py PORT DIRECTORY [BIND]: python's http.server without its name
lookups. http.server's HTTPServer.server_bind asks socket.getfqdn() of the bind address, a
reverse DNS query that leaves the test's namespaces (or stalls them); this binds and serves
the same way without it. BIND: 0.0.0.0 (default, IPv4) or :: (IPv6 and IPv4). Logs each
request to stderr with the client's address, as http.server does."""
import functools
import http.server
import socket
import sys


class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = "rvs-lab", self.server_address[1]


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    bind = sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0"
    Server.address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    Server((bind, port), handler).serve_forever()


if __name__ == "__main__":
    main()
