//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// ioBufferSize is the per-connection read and write buffer of the load
// generator: large enough to batch hundreds of small packets per syscall.
const ioBufferSize = 32 << 10

// client is one MQTT connection of the load generator. It is used by one
// goroutine at a time, except where flow.go guards the writer with a mutex.
type client struct {
	conn net.Conn
	w    *bufio.Writer
	rd   packetReader
	buf  []byte // encode scratch
}

func newClient(conn net.Conn) *client { return newClientSize(conn, ioBufferSize) }

// newClientSize is newClient with read and write buffers of size bytes each.
func newClientSize(conn net.Conn, size int) *client {
	return &client{
		conn: conn,
		w:    bufio.NewWriterSize(conn, size),
		rd:   packetReader{r: bufio.NewReaderSize(conn, size)},
		buf:  make([]byte, 0, 64),
	}
}

// dialMQTT connects to addr, sends CONNECT and waits for a successful CONNACK
// before deadline.
func dialMQTT(addr, clientID string, deadline time.Time) (*client, error) {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := newClient(conn)
	if err := c.handshake(clientID, deadline); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// handshake sends CONNECT (keep alive 0: idle clients need no PINGREQ) and reads CONNACK.
func (c *client) handshake(clientID string, deadline time.Time) error {
	c.conn.SetDeadline(deadline)
	defer c.conn.SetDeadline(time.Time{})
	c.buf = appendConnect(c.buf[:0], clientID, 0)
	if _, err := c.w.Write(c.buf); err != nil {
		return fmt.Errorf("client %s: write CONNECT: %w", clientID, err)
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("client %s: write CONNECT: %w", clientID, err)
	}
	first, body, err := c.rd.next()
	if err != nil {
		return fmt.Errorf("client %s: read CONNACK: %w", clientID, err)
	}
	if first>>4 != typeConnack || len(body) != 2 {
		return fmt.Errorf("client %s: expected CONNACK, got packet type %d of %d bytes", clientID, first>>4, len(body))
	}
	if body[1] != 0 {
		return fmt.Errorf("client %s: CONNACK return code %d", clientID, body[1])
	}
	return nil
}

// subscribe subscribes to filter at qos and waits for a SUBACK granting it.
func (c *client) subscribe(filter string, qos byte, deadline time.Time) error {
	c.conn.SetDeadline(deadline)
	defer c.conn.SetDeadline(time.Time{})
	c.buf = appendSubscribe(c.buf[:0], 1, filter, qos)
	if _, err := c.w.Write(c.buf); err != nil {
		return fmt.Errorf("write SUBSCRIBE %s: %w", filter, err)
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("write SUBSCRIBE %s: %w", filter, err)
	}
	first, body, err := c.rd.next()
	if err != nil {
		return fmt.Errorf("read SUBACK: %w", err)
	}
	if first>>4 != typeSuback || len(body) != 3 {
		return fmt.Errorf("expected SUBACK, got packet type %d of %d bytes", first>>4, len(body))
	}
	if body[2] != qos {
		return fmt.Errorf("SUBACK for %s granted 0x%02x, asked QoS %d", filter, body[2], qos)
	}
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on every Linux ABI Go supports).
const clockTicks = 100

// readCPU returns the user plus system CPU time process pid has used, from /proc.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("broker cpu: %w", err)
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("broker cpu: /proc/%d/stat has %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("broker cpu: /proc/%d/stat: bad utime %q or stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// readRSS returns the resident set size of process pid in KB, from /proc.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("broker rss: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("broker rss: no VmRSS in /proc/%d/status", pid)
}
