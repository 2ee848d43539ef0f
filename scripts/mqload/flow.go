//go:build linux

package main

// Fan-in and fan-out: P publishers each send M messages of S bytes at QoS q to
// their own topic under a random prefix; N subscribers hold one wildcard
// subscription on the prefix and so each expects P*M messages. The payload
// carries the send time, the publisher index and a sequence number, so every
// subscriber counts latency, unique deliveries and duplicates per message.
// Unpaced runs read the clock once per write buffer and once per read, not
// per message: the clock was a sixth of mqload's CPU, taken from the second
// loop of the broker it measures. Paced runs write, and so stamp, each
// message on its own.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// payloadHeader is the part of every payload mqload reads back: send time
// (8 bytes, ns since the run's base), publisher index (4), sequence (4).
const payloadHeader = 16

// relayHello is the byte the raw relay writes to an output connection once it
// forwards to it, so subscribers know they will miss nothing sent afterwards.
const relayHello = '\n'

// flowConfig describes one fan-in or fan-out run.
type flowConfig struct {
	addr     string        // broker, or the relay's input address in raw mode
	rawSub   string        // raw mode: the relay's output address; empty for MQTT
	pubs     int           // publishers
	subs     int           // subscribers, each on prefix/#
	msgs     int           // messages per publisher
	size     int           // payload bytes, at least payloadHeader
	qos      byte          // 0, 1 or 2 (raw mode: 0)
	inflight int           // unacknowledged QoS 1/2 messages per publisher
	rate     float64       // total messages per second across publishers; 0: unpaced
	timeout  time.Duration // whole run, connections included
	quiet    time.Duration // stop this long after the last delivery once publishers are done
}

// subscriber state written by its own goroutine, read by the coordinator through atomics.
type flowSub struct {
	c          *client
	received   atomic.Int64 // unique deliveries
	duplicates atomic.Int64
	pubrels    atomic.Int64 // QoS 2 releases answered, for MQLOAD_DEBUG
	last       atomic.Int64 // ns since base of the last delivery
	err        error        // set by the goroutine before it returns
	hist       histogram
	seen       [][]uint64 // per publisher, a bit per sequence number
}

// flowPub is one publisher; sent/acked are read by the coordinator.
type flowPub struct {
	c       *client
	mu      sync.Mutex // guards c.w between the sending and the acknowledging goroutine
	sent    atomic.Int64
	acked   atomic.Int64
	pubrecs atomic.Int64
	stale   bool          // guarded by mu: no send stamp since the last flush (true at first)
	waiting atomic.Bool   // the sender waits in waitWindow for an acknowledgement
	wake    chan struct{} // capacity 1: readAcks wakes a waiting sender
	maxLag  time.Duration // paced runs: latest send behind its schedule (a starved generator)
	err     error
}

func randomPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "mqload/" + hex.EncodeToString(b[:])
}

// runFlow runs one fan-in/fan-out scenario and fills the delivery fields of res.
func runFlow(cfg flowConfig, res *result) error {
	if cfg.size < payloadHeader {
		return fmt.Errorf("payload size %d below the %d-byte header mqload needs", cfg.size, payloadHeader)
	}
	if cfg.pubs < 1 || cfg.subs < 1 || cfg.msgs < 1 {
		return fmt.Errorf("need at least one publisher, subscriber and message (got %d, %d, %d)", cfg.pubs, cfg.subs, cfg.msgs)
	}
	if cfg.qos > 2 {
		return fmt.Errorf("QoS %d", cfg.qos)
	}
	if cfg.inflight < 1 || cfg.inflight > 65535 {
		return fmt.Errorf("inflight %d outside 1..65535", cfg.inflight)
	}
	raw := cfg.rawSub != ""
	if raw && cfg.qos != 0 {
		return errors.New("raw relay mode carries QoS 0 only")
	}
	deadline := time.Now().Add(cfg.timeout)
	prefix := randomPrefix()
	base := time.Now()
	perSub := int64(cfg.pubs) * int64(cfg.msgs)
	res.Expected = perSub * int64(cfg.subs)

	subs := make([]*flowSub, cfg.subs)
	pubs := make([]*flowPub, cfg.pubs)
	defer func() {
		for _, s := range subs {
			if s != nil && s.c != nil {
				s.c.conn.Close()
			}
		}
		for _, p := range pubs {
			if p != nil && p.c != nil {
				p.c.conn.Close()
			}
		}
	}()
	for i := range subs {
		s := &flowSub{seen: make([][]uint64, cfg.pubs)}
		for j := range s.seen {
			s.seen[j] = make([]uint64, (cfg.msgs+63)/64)
		}
		subs[i] = s
		var err error
		if raw {
			s.c, err = dialRaw(cfg.rawSub, deadline, true)
		} else {
			s.c, err = dialMQTT(cfg.addr, fmt.Sprintf("%s-s%d", prefix[7:], i), deadline)
			if err == nil {
				err = s.c.subscribe(prefix+"/#", cfg.qos, deadline)
			}
		}
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
	}
	for i := range pubs {
		p := &flowPub{wake: make(chan struct{}, 1), stale: true}
		pubs[i] = p
		var err error
		if raw {
			p.c, err = dialRaw(cfg.addr, deadline, false)
		} else {
			p.c, err = dialMQTT(cfg.addr, fmt.Sprintf("%s-p%d", prefix[7:], i), deadline)
		}
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
	}

	var wg sync.WaitGroup
	for _, s := range subs {
		s.c.conn.SetDeadline(deadline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.err = s.run(cfg, base)
		}()
	}
	start := time.Now()
	var pubsLeft atomic.Int64
	pubsLeft.Store(int64(cfg.pubs))
	for i, p := range pubs {
		p.c.conn.SetDeadline(deadline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pubsLeft.Add(-1)
			p.err = p.run(cfg, i, prefix, base, start)
		}()
	}

	// Coordinate: done when every subscriber has everything, or at the
	// deadline, or when the publishers are done and nothing arrived for
	// cfg.quiet -- unless every QoS 1/2 message was acknowledged: then the
	// broker owes each delivery, and a slow one gets until the deadline.
	var lastTotal int64 = -1
	lastChange := time.Now()
	for {
		var total int64
		for _, s := range subs {
			total += s.received.Load()
		}
		now := time.Now()
		if total != lastTotal {
			lastTotal, lastChange = total, now
		}
		if total == res.Expected {
			break
		}
		if pubsLeft.Load() == 0 && now.Sub(lastChange) >= cfg.quiet && (cfg.qos == 0 || !allAcked(pubs, cfg.msgs)) {
			break
		}
		if now.After(deadline) {
			res.Error = fmt.Sprintf("timeout after %v", cfg.timeout)
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval of the coordinator, not synchronisation
	}
	for _, s := range subs {
		s.c.conn.Close()
	}
	for _, p := range pubs {
		p.c.conn.Close()
	}
	wg.Wait()

	var hist histogram
	var last int64
	for i, s := range subs {
		res.Received += s.received.Load()
		res.Duplicates += s.duplicates.Load()
		hist.merge(&s.hist)
		if l := s.last.Load(); l > last {
			last = l
		}
		if s.err != nil && os.Getenv("MQLOAD_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "subscriber %d: received %d duplicates %d pubrels %d unflushed %d: %v\n", i, s.received.Load(), s.duplicates.Load(), s.pubrels.Load(), s.c.w.Buffered(), s.err)
		}
		if s.err != nil && !closedErr(s.err) && res.Error == "" {
			res.Error = fmt.Sprintf("subscriber %d: %v", i, s.err)
		}
	}
	for i, p := range pubs {
		res.Sent += p.sent.Load()
		res.Acked += p.acked.Load()
		res.PaceLagMaxUs = max(res.PaceLagMaxUs, float64(p.maxLag)/1e3)
		if p.err != nil && os.Getenv("MQLOAD_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "publisher %d: sent %d pubrec %d acked %d unflushed %d: %v\n", i, p.sent.Load(), p.pubrecs.Load(), p.acked.Load(), p.c.w.Buffered(), p.err)
		}
		if p.err != nil && !closedErr(p.err) && res.Error == "" {
			res.Error = fmt.Sprintf("publisher %d: %v", i, p.err)
		}
	}
	res.Missing = res.Expected - res.Received
	if cfg.qos > 0 {
		res.Lost = res.Missing
	}
	if cfg.qos == 2 {
		res.Lost += res.Duplicates // exactly once broken
	}
	elapsed := time.Duration(last) - start.Sub(base)
	if elapsed > 0 {
		res.ElapsedS = elapsed.Seconds()
		res.MsgPerS = float64(res.Received) / elapsed.Seconds()
	}
	res.P50us = float64(hist.quantile(0.50)) / 1e3
	res.P99us = float64(hist.quantile(0.99)) / 1e3
	res.P999us = float64(hist.quantile(0.999)) / 1e3
	return nil
}

// allAcked reports whether every publisher had all its messages acknowledged.
func allAcked(pubs []*flowPub, msgs int) bool {
	for _, p := range pubs {
		if p.acked.Load() != int64(msgs) {
			return false
		}
	}
	return true
}

// closedErr reports whether err only says the coordinator closed the connection.
func closedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}

// dialRaw connects to the relay; an output connection waits for the relay's hello byte.
func dialRaw(addr string, deadline time.Time, output bool) (*client, error) {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial relay %s: %w", addr, err)
	}
	c := newClient(conn)
	if output {
		conn.SetDeadline(deadline)
		b, err := c.rd.r.ReadByte()
		conn.SetDeadline(time.Time{})
		if err != nil || b != relayHello {
			conn.Close()
			return nil, fmt.Errorf("relay %s: no hello byte (got %q, %v)", addr, b, err)
		}
	}
	return c, nil
}

// run is the subscriber's goroutine: count, acknowledge, and record latency.
func (s *flowSub) run(cfg flowConfig, base time.Time) error {
	c := s.c
	var pv publishView
	var now int64
	// Counts are kept here and published to the coordinator's atomics
	// before every read that may block, and on return: the coordinator
	// sees every delivery by the time this goroutine waits for more.
	var received, duplicates, last int64
	publish := func() {
		s.received.Store(received)
		s.duplicates.Store(duplicates)
		s.last.Store(last)
	}
	defer publish()
	for {
		first, body, ok := c.rd.buffered()
		if !ok {
			publish()
			if c.w.Buffered() > 0 {
				if err := c.w.Flush(); err != nil {
					return fmt.Errorf("flush acknowledgements: %w", err)
				}
			}
			var err error
			if first, body, err = c.rd.next(); err != nil {
				return err
			}
			// The clock is read once per read from the socket, not once
			// per message: every packet a read brings arrived at the same
			// moment.
			now = int64(time.Since(base))
		}
		switch first >> 4 {
		case typePublish:
			if err := decodePublish(first, body, &pv); err != nil {
				return err
			}
			if len(pv.payload) < payloadHeader {
				return fmt.Errorf("payload of %d bytes is not mqload's", len(pv.payload))
			}
			sent := int64(binary.BigEndian.Uint64(pv.payload))
			pi := binary.BigEndian.Uint32(pv.payload[8:])
			seq := binary.BigEndian.Uint32(pv.payload[12:])
			if int(pi) >= cfg.pubs || int(seq) >= cfg.msgs {
				return fmt.Errorf("payload names publisher %d message %d, outside this run", pi, seq)
			}
			word, bit := &s.seen[pi][seq/64], uint64(1)<<(seq%64)
			if *word&bit != 0 {
				duplicates++
			} else {
				*word |= bit
				s.hist.record(now - sent)
				last = now
				received++
			}
			switch pv.qos {
			case 1:
				c.buf = appendAck(c.buf[:0], typePuback, pv.packetID)
				c.w.Write(c.buf)
			case 2:
				c.buf = appendAck(c.buf[:0], typePubrec, pv.packetID)
				c.w.Write(c.buf)
			}
		case typePubrel:
			id, err := ackID(body)
			if err != nil {
				return err
			}
			s.pubrels.Add(1)
			c.buf = appendAck(c.buf[:0], typePubcomp, id)
			c.w.Write(c.buf)
		case typePingresp:
		default:
			return fmt.Errorf("subscriber got unexpected packet type %d", first>>4)
		}
	}
}

// run is the publisher's sending goroutine; for QoS 1/2 it starts a second
// goroutine that reads acknowledgements and frees window slots.
func (p *flowPub) run(cfg flowConfig, idx int, prefix string, base, start time.Time) error {
	c := p.c
	topic := fmt.Sprintf("%s/%d", prefix, idx)
	payload := make([]byte, cfg.size)
	for i := payloadHeader; i < len(payload); i++ {
		payload[i] = byte(i)
	}
	binary.BigEndian.PutUint32(payload[8:], uint32(idx))
	var interval time.Duration
	if cfg.rate > 0 {
		interval = time.Duration(float64(cfg.pubs) / cfg.rate * float64(time.Second))
	}
	ackDone := make(chan error, 1)
	if cfg.qos > 0 {
		go func() { ackDone <- p.readAcks(cfg) }()
	}
	pkt := make([]byte, 0, cfg.size+len(topic)+8)
	pktLen := len(appendPublish(pkt, topic, cfg.qos, 1, payload))
	var id uint16
	var stamp time.Duration
	for seq := 0; seq < cfg.msgs; seq++ {
		if interval > 0 {
			due := start.Add(time.Duration(seq) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d) // pacing, not synchronisation
			}
			p.maxLag = max(p.maxLag, time.Since(due))
		}
		if cfg.qos > 0 {
			if int64(seq)-p.acked.Load() >= int64(cfg.inflight) {
				if err := p.waitWindow(int64(seq), cfg, ackDone); err != nil {
					return err
				}
			}
			id++
			if id == 0 {
				id = 1
			}
		}
		p.mu.Lock()
		// One clock read per write buffer: the messages of a buffer reach
		// the kernel together when it is flushed. A message that would
		// overflow the buffer flushes it first, and every flush marks the
		// stamp stale, so a stamp is never later than its message's send
		// and never earlier than its buffer's first message. Paced runs
		// flush every message, and packets larger than the buffer bypass
		// it: both stamp every message. Reading the clock per message cost
		// mqload a sixth of its CPU.
		var err error
		if c.w.Buffered() > 0 && c.w.Available() < pktLen {
			err = p.flushLocked()
		}
		if p.stale || interval > 0 || pktLen > c.w.Size() {
			stamp = time.Since(base)
			p.stale = false
		}
		if err == nil {
			binary.BigEndian.PutUint64(payload, uint64(stamp))
			binary.BigEndian.PutUint32(payload[12:], uint32(seq))
			pkt = appendPublish(pkt[:0], topic, cfg.qos, id, payload)
			_, err = c.w.Write(pkt)
		}
		if err == nil && interval > 0 {
			err = p.flushLocked()
		}
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("write PUBLISH %d: %w", seq, err)
		}
		p.sent.Add(1)
	}
	p.mu.Lock()
	err := p.flushLocked()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if cfg.qos > 0 {
		return <-ackDone
	}
	return nil
}

// flushLocked writes out what the publisher's buffer holds and marks the
// send stamp stale: the next message starts a buffer. p.mu held.
func (p *flowPub) flushLocked() error {
	p.stale = true
	return p.c.w.Flush()
}

// waitWindow flushes what the publisher wrote and blocks until fewer than
// cfg.inflight of its first seq messages are unacknowledged. The publisher
// sets waiting before it checks again, and readAcks clears it after it counts
// an acknowledgement, so one of the two sees the other: no wake-up is lost.
func (p *flowPub) waitWindow(seq int64, cfg flowConfig, ackDone <-chan error) error {
	p.mu.Lock()
	err := p.flushLocked()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	for seq-p.acked.Load() >= int64(cfg.inflight) {
		p.waiting.Store(true)
		if seq-p.acked.Load() < int64(cfg.inflight) {
			p.waiting.Store(false)
			return nil
		}
		select {
		case <-p.wake:
		case err := <-ackDone:
			return fmt.Errorf("acknowledgements stopped after %d of %d: %v", p.acked.Load(), cfg.msgs, err)
		}
	}
	return nil
}

// readAcks reads PUBACK (QoS 1) or PUBREC/PUBCOMP (QoS 2) until every message is acknowledged.
func (p *flowPub) readAcks(cfg flowConfig) error {
	c := p.c
	var buf []byte
	for p.acked.Load() < int64(cfg.msgs) {
		// PUBRELs wait in the writer until no whole packet is left to
		// read: one flush answers a whole batch of PUBRECs.
		first, body, ok := c.rd.buffered()
		if !ok {
			p.mu.Lock()
			var err error
			if c.w.Buffered() > 0 {
				err = p.flushLocked()
			}
			p.mu.Unlock()
			if err != nil {
				return fmt.Errorf("flush PUBREL: %w", err)
			}
			if first, body, err = c.rd.next(); err != nil {
				return err
			}
		}
		id, err := ackID(body)
		if err != nil {
			return err
		}
		switch typ := first >> 4; {
		case typ == typePuback && cfg.qos == 1, typ == typePubcomp && cfg.qos == 2:
			p.acked.Add(1)
			if p.waiting.Load() && p.waiting.CompareAndSwap(true, false) {
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
		case typ == typePubrec && cfg.qos == 2:
			p.pubrecs.Add(1)
			buf = appendAck(buf[:0], typePubrel, id)
			p.mu.Lock()
			_, err = c.w.Write(buf)
			p.mu.Unlock()
			if err != nil {
				return fmt.Errorf("write PUBREL: %w", err)
			}
		default:
			return fmt.Errorf("publisher at QoS %d got packet type %d", cfg.qos, typ)
		}
	}
	return nil
}
