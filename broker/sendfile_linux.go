package broker

import (
	"io"
	"os"
	"syscall"
)

// sendfile writes n bytes of f from pos to the socket dst with
// sendfile(2), without moving f's file offset (concurrent fetches share the
// file). It waits for the socket to be writable as net.Conn.Write does,
// honouring its write deadline.
func sendfile(dst syscall.Conn, f *os.File, pos, n int64) error {
	wc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := rc.Control(func(src uintptr) {
		werr := wc.Write(func(fd uintptr) bool {
			for n > 0 {
				m, err := syscall.Sendfile(int(fd), int(src), &pos, int(min(n, 1<<30)))
				if m > 0 {
					n -= int64(m)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
				case err != nil:
					serr = err
					return true
				case m == 0:
					serr = io.ErrUnexpectedEOF // the file is shorter than the read said
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	return serr
}
