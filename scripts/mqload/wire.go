//go:build linux

package main

// MQTT 3.1.1 on the wire, only the packets a load generator needs. Every
// encoder appends to the caller's slice; the reader reuses one body buffer, so
// the steady state of a client allocates nothing per packet.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Control packet types (first byte, high nibble), MQTT 3.1.1 section 2.2.1.
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typePubrec     = 5
	typePubrel     = 6
	typePubcomp    = 7
	typeSubscribe  = 8
	typeSuback     = 9
	typePingreq    = 12
	typePingresp   = 13
	typeDisconnect = 14
)

// maxBody bounds a packet the reader accepts; larger means a broken peer.
const maxBody = 16 << 20 // well above the 64 KB payload scenario

func appendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendConnect encodes a clean-session 3.1.1 CONNECT with no will, user or password.
func appendConnect(dst []byte, clientID string, keepAlive uint16) []byte {
	rl := 10 + 2 + len(clientID)
	dst = append(dst, typeConnect<<4)
	dst = appendVarint(dst, rl)
	dst = appendString(dst, "MQTT")
	dst = append(dst, 4, 0x02) // protocol level 4, clean session
	dst = binary.BigEndian.AppendUint16(dst, keepAlive)
	return appendString(dst, clientID)
}

// appendSubscribe encodes a SUBSCRIBE for one filter at the given QoS.
func appendSubscribe(dst []byte, packetID uint16, filter string, qos byte) []byte {
	dst = append(dst, typeSubscribe<<4|0x02) // [MQTT-3.8.1-1]
	dst = appendVarint(dst, 2+2+len(filter)+1)
	dst = binary.BigEndian.AppendUint16(dst, packetID)
	dst = appendString(dst, filter)
	return append(dst, qos)
}

// appendPublish encodes a PUBLISH; packetID is written only for QoS > 0.
func appendPublish(dst []byte, topic string, qos byte, packetID uint16, payload []byte) []byte {
	rl := 2 + len(topic) + len(payload)
	if qos > 0 {
		rl += 2
	}
	dst = append(dst, typePublish<<4|qos<<1)
	dst = appendVarint(dst, rl)
	dst = appendString(dst, topic)
	if qos > 0 {
		dst = binary.BigEndian.AppendUint16(dst, packetID)
	}
	return append(dst, payload...)
}

// appendAck encodes PUBACK, PUBREC, PUBREL or PUBCOMP.
func appendAck(dst []byte, typ byte, packetID uint16) []byte {
	first := typ << 4
	if typ == typePubrel {
		first |= 0x02 // [MQTT-3.6.1-1]
	}
	return append(dst, first, 2, byte(packetID>>8), byte(packetID))
}

// packetReader reads whole packets from a buffered stream into one reused body buffer.
type packetReader struct {
	r    *bufio.Reader
	body []byte
}

// next returns the first byte of the fixed header and the body. The body is
// valid until the following call: it points into the read buffer when the
// whole packet was already there, which saves a copy per packet.
func (p *packetReader) next() (byte, []byte, error) {
	if first, body, ok := p.buffered(); ok {
		return first, body, nil
	}
	first, err := p.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		b, err := p.r.ReadByte()
		if err != nil {
			return 0, nil, fmt.Errorf("remaining length: %w", err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
		if i == 3 {
			return 0, nil, fmt.Errorf("remaining length longer than 4 bytes")
		}
	}
	if n > maxBody {
		return 0, nil, fmt.Errorf("packet type %d of %d bytes exceeds %d", first>>4, n, maxBody)
	}
	if cap(p.body) < n {
		p.body = make([]byte, n)
	}
	body := p.body[:n]
	if _, err := io.ReadFull(p.r, body); err != nil {
		return 0, nil, fmt.Errorf("packet type %d body: %w", first>>4, err)
	}
	return first, body, nil
}

// buffered takes the packet at the head of the read buffer if all of it is
// there, without a read from the socket: ok is false when next would block.
// The body points into the buffer, valid until the following call.
func (p *packetReader) buffered() (first byte, body []byte, ok bool) {
	n := p.r.Buffered()
	if n < 2 {
		return 0, nil, false
	}
	b, _ := p.r.Peek(n)
	rl, shift := 0, 0
	for i := 1; i < n && i <= 4; i++ {
		rl |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			end := i + 1 + rl
			if n < end {
				return 0, nil, false
			}
			p.r.Discard(end)
			return b[0], b[i+1 : end], true
		}
		shift += 7
	}
	return 0, nil, false
}

// publishView is a decoded PUBLISH; topic and payload point into the reader's buffer.
type publishView struct {
	qos      byte
	dup      bool
	packetID uint16
	topic    []byte
	payload  []byte
}

func decodePublish(first byte, body []byte, p *publishView) error {
	p.qos = first >> 1 & 3
	p.dup = first&0x08 != 0
	if p.qos == 3 {
		return fmt.Errorf("publish with QoS 3")
	}
	if len(body) < 2 {
		return fmt.Errorf("publish too short for topic length")
	}
	tl := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	if len(body) < tl {
		return fmt.Errorf("publish topic length %d beyond body %d", tl, len(body))
	}
	p.topic, body = body[:tl], body[tl:]
	p.packetID = 0
	if p.qos > 0 {
		if len(body) < 2 {
			return fmt.Errorf("publish QoS %d without packet id", p.qos)
		}
		p.packetID = binary.BigEndian.Uint16(body)
		body = body[2:]
	}
	p.payload = body
	return nil
}

// ackID returns the packet id of a PUBACK/PUBREC/PUBREL/PUBCOMP/SUBACK body.
func ackID(body []byte) (uint16, error) {
	if len(body) < 2 {
		return 0, fmt.Errorf("acknowledgement of %d bytes has no packet id", len(body))
	}
	return binary.BigEndian.Uint16(body), nil
}
