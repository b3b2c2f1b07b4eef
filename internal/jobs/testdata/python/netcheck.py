"""Tries to reach a TCP address given as host:port; the failure file says why it could not."""
import socket
import sys

host, port = sys.argv[1].rsplit(":", 1)
try:
    socket.create_connection((host, int(port)), timeout=3).close()
    print("connected to", sys.argv[1])
except OSError as e:
    with open("/opt/ml/output/failure", "w") as f:
        f.write(f"cannot reach {sys.argv[1]}: {e}")
    sys.exit(1)
