//go:build unix

package serving

import (
	"net"
	"syscall"
)

// idleAlive reports whether an idle connection is still open and quiet: a non-blocking peek
// sees the peer's close (or stray bytes) without consuming anything.
func idleAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	alive := true
	var buf [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Only "nothing to read yet" means open and quiet; EOF (n == 0), stray bytes or an
		// error mean the connection cannot carry a request.
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return alive
}
