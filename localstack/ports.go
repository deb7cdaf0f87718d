package localstack

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// freePorts finds n distinct loopback ports free now by binding and
// releasing them; whoever binds one next may not be the caller (see
// StartInstance).
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port, %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// listeningPorts are the TCP ports process pid listens on: the sockets in
// LISTEN state of the kernel's tables (/proc/net/tcp, tcp6) whose inodes
// are among the process's open files (Linux's proc(5)).
func listeningPorts(pid int) (map[int]bool, error) {
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return nil, fmt.Errorf("listing the files of process %d, %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		// A descriptor closed since the listing is simply not there.
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	ports := map[int]bool{}
	if len(inodes) == 0 {
		return ports, nil
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningIn(table, inodes, ports); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// listeningIn adds to ports the local ports of the LISTEN sockets of one
// table whose inode is in inodes. A line is
// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...",
// local_address is hex address:port and st 0A is LISTEN.
func listeningIn(table string, inodes map[string]bool, ports map[int]bool) error {
	f, err := os.Open(table)
	if os.IsNotExist(err) {
		return nil // no IPv6
	}
	if err != nil {
		return fmt.Errorf("reading the kernel's sockets, %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
			continue
		}
		_, hexPort, _ := strings.Cut(fields[1], ":")
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return fmt.Errorf("reading %s: local address %q, %w", table, fields[1], err)
		}
		ports[int(port)] = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s, %w", table, err)
	}
	return nil
}
