//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMosquitto runs mosquitto on a free loopback port with the bench settings
// and returns its address and process id; it is stopped when the test ends.
func startMosquitto(t *testing.T) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("install mosquitto (apt-get install mosquitto) to run mqload against a broker")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // mosquitto started as root drops to its own user, which must read the config
	port := freePort(t)
	conf := filepath.Join(dir, "m.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"+
		"max_inflight_messages 1000\nmax_queued_messages 100000\nsys_interval 0\nlog_dest stderr\nlog_type error\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, 5*time.Second, "mosquitto to listen on "+addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, cmd.Process.Pid
}

func TestFlowAgainstMosquitto(t *testing.T) {
	addr, pid := startMosquitto(t)
	cases := []struct {
		name string
		cfg  flowConfig
	}{
		{"fan-in QoS 1", flowConfig{pubs: 3, subs: 1, msgs: 300, size: 64, qos: 1}},
		{"fan-in QoS 2", flowConfig{pubs: 3, subs: 1, msgs: 200, size: 100, qos: 2}},
		{"fan-out QoS 2", flowConfig{pubs: 1, subs: 4, msgs: 200, size: 64, qos: 2}},
		{"fan-out QoS 1 paced", flowConfig{pubs: 1, subs: 3, msgs: 100, size: 64, qos: 1, rate: 2000}},
		{"fan-in QoS 0", flowConfig{pubs: 2, subs: 2, msgs: 200, size: 16, qos: 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.addr, cfg.inflight, cfg.timeout, cfg.quiet = addr, 20, 10*time.Second, 500*time.Millisecond
			var res result
			if err := runFlow(cfg, &res); err != nil {
				t.Fatal(err)
			}
			want := int64(cfg.pubs * cfg.msgs * cfg.subs)
			if res.Error != "" || res.Expected != want || res.Sent != int64(cfg.pubs*cfg.msgs) {
				t.Fatalf("error %q, expected %d (want %d), sent %d", res.Error, res.Expected, want, res.Sent)
			}
			// On loopback with raised limits Mosquitto loses nothing, QoS 0 included.
			if res.Received != want || res.Missing != 0 || res.Lost != 0 {
				t.Fatalf("received %d of %d, missing %d, lost %d", res.Received, want, res.Missing, res.Lost)
			}
			if cfg.qos == 2 && res.Duplicates != 0 {
				t.Fatalf("%d duplicates at QoS 2", res.Duplicates)
			}
			if res.MsgPerS <= 0 || res.P50us <= 0 || res.P99us < res.P50us || res.P999us < res.P99us {
				t.Fatalf("rate %.0f msg/s, p50 %.1f p99 %.1f p999 %.1f µs", res.MsgPerS, res.P50us, res.P99us, res.P999us)
			}
		})
	}
	t.Run("idle connections", func(t *testing.T) {
		var res result
		rss, err := readRSS(pid)
		if err != nil {
			t.Fatal(err)
		}
		res.RSSStartKB = rss
		srcs, err := parseSources("127.0.0.2-127.0.0.4")
		if err != nil {
			t.Fatal(err)
		}
		err = runConns(connsConfig{addr: addr, conns: 60, sources: srcs, workers: 8, pid: pid, timeout: 10 * time.Second}, &res)
		if err != nil {
			t.Fatal(err)
		}
		if res.Connected != 60 || res.Alive != 60 || res.RSSKB <= 0 || res.ConnectPerS <= 0 {
			t.Fatalf("connected %d alive %d rss %d KB, %.0f conn/s", res.Connected, res.Alive, res.RSSKB, res.ConnectPerS)
		}
	})
}

// fakeBroker accepts MQTT clients, acknowledges everything and delivers
// nothing: mqload must report every promised message as lost.
func fakeBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				rd := packetReader{r: bufio.NewReader(conn)}
				var out []byte
				for {
					first, body, err := rd.next()
					if err != nil {
						return
					}
					out = out[:0]
					switch first >> 4 {
					case typeConnect:
						out = append(out, typeConnack<<4, 2, 0, 0)
					case typeSubscribe:
						out = append(out, typeSuback<<4, 3, body[0], body[1], body[len(body)-1])
					case typePublish:
						var pv publishView
						if decodePublish(first, body, &pv) != nil {
							return
						}
						switch pv.qos {
						case 1:
							out = appendAck(out, typePuback, pv.packetID)
						case 2:
							out = appendAck(out, typePubrec, pv.packetID)
						}
					case typePubrel:
						id, _ := ackID(body)
						out = appendAck(out, typePubcomp, id)
					}
					if _, err := conn.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestLossIsReported(t *testing.T) {
	addr := fakeBroker(t)
	for _, qos := range []byte{0, 1, 2} {
		var res result
		// Acknowledged QoS 1/2 messages are owed: mqload waits for them until
		// the timeout; QoS 0 stops after the quiet period.
		cfg := flowConfig{addr: addr, pubs: 2, subs: 1, msgs: 50, size: 32, qos: qos, inflight: 10,
			timeout: 1500 * time.Millisecond, quiet: 200 * time.Millisecond}
		if err := runFlow(cfg, &res); err != nil {
			t.Fatal(err)
		}
		wantErr := ""
		if qos > 0 {
			wantErr = "timeout after 1.5s"
		}
		if res.Error != wantErr || res.Sent != 100 || res.Received != 0 || res.Missing != 100 {
			t.Fatalf("QoS %d: error %q sent %d received %d missing %d", qos, res.Error, res.Sent, res.Received, res.Missing)
		}
		wantLost := int64(100)
		if qos == 0 {
			wantLost = 0 // QoS 0 promises nothing
		}
		if res.Lost != wantLost {
			t.Fatalf("QoS %d: lost %d, want %d", qos, res.Lost, wantLost)
		}
		if qos > 0 && res.Acked != 100 {
			t.Fatalf("QoS %d: %d of 100 acknowledged", qos, res.Acked)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for v := int64(1); v <= 100000; v++ {
		h.record(v * 1000) // 1 µs .. 100 ms, uniform
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 50e6}, {0.99, 99e6}, {0.999, 99.9e6}} {
		got := float64(h.quantile(c.q))
		if got > c.want || got < c.want*0.98 {
			t.Errorf("quantile %v = %.0f ns, want within 2%% below %.0f", c.q, got, c.want)
		}
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		if lb := lowerBound(bucketOf(v)); lb > v || (v >= 128 && float64(v-lb) > float64(v)/64) {
			t.Fatalf("value %d in bucket with lower bound %d", v, lb)
		}
	}
}

func TestParseSources(t *testing.T) {
	got, err := parseSources("127.0.0.2-127.0.0.4, 10.0.0.1")
	if err != nil || strings.Join(got, " ") != "127.0.0.2 127.0.0.3 127.0.0.4 10.0.0.1" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "127.0.0.5-127.0.0.2", "127.0.0.1-127.0.1.2", "::1"} {
		if _, err := parseSources(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// tableOf writes lines (JSON results, one per line) to a file and returns
// the table mqload prints for it.
func tableOf(t *testing.T, lines string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(f, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printTable(&out, []string{f}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestTable(t *testing.T) {
	lines := `{"label":"fan-in","broker":"sol","mode":"flow","msg_per_s":300,"lost":0,"rss_start_kb":1000}
{"label":"fan-in","broker":"mosquitto","mode":"flow","msg_per_s":100,"lost":0,"rss_start_kb":3000}
{"label":"fan-in","broker":"sol","mode":"flow","msg_per_s":500,"lost":0,"rss_start_kb":1000}
{"label":"fan-in","broker":"mosquitto","mode":"flow","msg_per_s":400,"lost":2,"error":"timeout"}
{"label":"fan-in","broker":"sol","mode":"flow","msg_per_s":100,"lost":0,"rss_start_kb":1000}
{"label":"fan-in","broker":"mosquitto","mode":"flow","msg_per_s":200,"lost":0,"rss_start_kb":3000}
`
	s := tableOf(t, lines)
	// Medians: sol 300, mosquitto 200, ratio 1.50; pairs 3, 1.25 and 0.5,
	// median 1.25; mosquitto's broken promises and error shown. RSS: one
	// pair of runs has no start RSS, so two pairs, both 0.33.
	for _, want := range []string{"| fan-in | msg/s delivered (higher is better) | 300 | 200 | 1.50 | 1.25 | 3/3 | sol 0, mosquitto 2 | mosquitto: 1× timeout |",
		"| idle broker | RSS at start KB (lower is better) | 1000 | 3000 | 0.33 | 0.33 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}

// TestTableFailedRuns: a run that measured nothing (bench.sh writes a line
// without a mode for a broker that did not start, or an mqload that printed
// nothing) is left out of the medians and of its pair, keeps the pairs
// after it aligned, and does not change the scenario's kind.
func TestTableFailedRuns(t *testing.T) {
	lines := `{"label":"idle","broker":"sol","ok":false,"error":"broker did not start"}
{"label":"idle","broker":"mosquitto","mode":"conns","ok":true,"connect_per_s":100,"rss_kb":3000,"rss_start_kb":3000}
{"label":"idle","broker":"sol","mode":"conns","ok":true,"connect_per_s":300,"rss_kb":1000,"rss_start_kb":1000}
{"label":"idle","broker":"mosquitto","ok":false,"error":"mqload printed nothing"}
{"label":"idle","broker":"sol","mode":"conns","ok":true,"connect_per_s":200,"rss_kb":1500,"rss_start_kb":2000}
{"label":"idle","broker":"mosquitto","mode":"conns","ok":true,"connect_per_s":400,"rss_kb":3000,"rss_start_kb":4000}
`
	s := tableOf(t, lines)
	// connects/s: sol 300 and 200 (median 250), mosquitto 100 and 400
	// (250): 1.00; the only whole pair is the third, 200/400.
	// Start RSS: sol 1000, 2000; mosquitto 3000, 4000; pairs 2 and 3 are
	// broken, so only 2000/4000 pairs.
	for _, want := range []string{
		"| idle | connects/s (higher is better) | 250 | 250 | 1.00 | 0.50 |",
		"| idle broker | RSS at start KB (lower is better) | 1500 | 3500 | 0.43 | 0.50 |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "msg/s") {
		t.Errorf("a conns scenario shown with flow metrics:\n%s", s)
	}
}

func TestReadCPUAndRSS(t *testing.T) {
	pid := os.Getpid()
	before, err := readCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until /proc shows at least two clock ticks more (bounded by a deadline).
	var after time.Duration
	waitFor(t, 5*time.Second, "CPU time to advance", func() bool {
		x := 0
		for i := 0; i < 1e6; i++ {
			x += i * i
		}
		_ = x
		after, err = readCPU(pid)
		return err == nil && after-before >= 2*time.Second/clockTicks
	})
	if rss, err := readRSS(pid); err != nil || rss < 1024 {
		t.Fatalf("own RSS %d KB, %v", rss, err)
	}
	if _, err := readCPU(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// TestPublisherKeepsItsWindow runs a publisher against a broker that holds
// its PUBACKs back until the publisher has been silent for 50 ms. The
// publisher must stop with its window full, never past it, and go on once it
// is acknowledged.
func TestPublisherKeepsItsWindow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const inflight, msgs = 7, 140
	var mu sync.Mutex
	var windows []int // unacknowledged messages at each pause
	var subConn net.Conn
	type packet struct {
		first byte
		body  []byte
	}
	serve := func(conn net.Conn) {
		defer conn.Close()
		packets := make(chan packet, 64)
		go func() {
			defer close(packets)
			rd := packetReader{r: bufio.NewReader(conn)}
			for {
				first, body, err := rd.next()
				if err != nil {
					return
				}
				packets <- packet{first, append([]byte(nil), body...)}
			}
		}()
		var held []uint16
		var fwd []byte // held messages, for the subscriber at QoS 0
		ackHeld := func() bool {
			mu.Lock()
			windows = append(windows, len(held))
			sc := subConn
			mu.Unlock()
			var out []byte
			for _, id := range held {
				out = appendAck(out, typePuback, id)
			}
			held = held[:0]
			if _, err := conn.Write(out); err != nil {
				return false
			}
			if sc != nil {
				sc.Write(fwd)
			}
			fwd = fwd[:0]
			return true
		}
		for {
			var p packet
			var ok bool
			select {
			case p, ok = <-packets:
				if !ok {
					return
				}
			case <-time.After(50 * time.Millisecond):
				if len(held) > 0 && !ackHeld() {
					return
				}
				continue
			}
			var out []byte
			switch p.first >> 4 {
			case typeConnect:
				out = append(out, typeConnack<<4, 2, 0, 0)
			case typeSubscribe:
				mu.Lock()
				subConn = conn
				mu.Unlock()
				out = append(out, typeSuback<<4, 3, p.body[0], p.body[1], p.body[len(p.body)-1])
			case typePublish:
				var pv publishView
				if decodePublish(p.first, p.body, &pv) != nil {
					return
				}
				fwd = appendPublish(fwd, string(pv.topic), 0, 0, pv.payload)
				held = append(held, pv.packetID)
			}
			if len(out) > 0 {
				if _, err := conn.Write(out); err != nil {
					return
				}
			}
		}
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()

	cfg := flowConfig{addr: ln.Addr().String(), pubs: 1, subs: 1, msgs: msgs, size: 32, qos: 1,
		inflight: inflight, timeout: 20 * time.Second, quiet: time.Second}
	var res result
	if err := runFlow(cfg, &res); err != nil {
		t.Fatal(err)
	}
	// The subscriber gets each batch after its PUBACKs are written, so the
	// run ends once the last batch is recorded.
	if res.Error != "" || res.Received != msgs {
		t.Fatalf("error %q, %d received of %d", res.Error, res.Received, msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	// A pause of the publisher's goroutine on a loaded machine may end a
	// window early; none may end it late, and most must find it full.
	full := 0
	for i, w := range windows {
		if w > inflight {
			t.Fatalf("pause %d: %d unacknowledged, beyond the window of %d (all: %v)", i, w, inflight, windows)
		}
		if w == inflight {
			full++
		}
	}
	if full < msgs/inflight/2 {
		t.Fatalf("%d of %d pauses with the window of %d full: %v", full, len(windows), inflight, windows)
	}
}

// TestPacketReaderSplitReads feeds a stream of packets of 2 bytes to 300 KB
// (remaining lengths of one to three bytes) through reads cut at every size
// from 1 byte up, with a read buffer smaller than the largest packet: next
// must return each packet whole and in order, whether it was buffered (a
// view into the buffer) or read piecemeal (a copy), and buffered must never
// claim a packet that is not all there.
func TestPacketReaderSplitReads(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i, size := range []int{16, 0, 200, 20000, 70, 300 << 10, 5} {
		payload := bytes.Repeat([]byte{byte(i + 1)}, size)
		pkt := appendPublish(nil, fmt.Sprintf("t/%d", i), 1, uint16(i+1), payload)
		stream = append(stream, pkt...)
		want = append(want, pkt)
		stream = appendAck(stream, typePuback, uint16(i+1))
		want = append(want, appendAck(nil, typePuback, uint16(i+1)))
	}
	for _, chunk := range []int{1, 2, 3, 7, 64, 1000, 4096, len(stream)} {
		rd := packetReader{r: bufio.NewReaderSize(&chunkReader{b: stream, n: chunk}, 4096)}
		for i, w := range want {
			if first, body, ok := rd.buffered(); ok {
				if first != w[0] || !bytes.Equal(body, w[headerLen(w):]) {
					t.Fatalf("chunk %d: buffered packet %d: got type %#x, %d-byte body; want %d-byte packet of type %#x", chunk, i, first, len(body), len(w), w[0])
				}
				continue
			}
			first, body, err := rd.next()
			if err != nil {
				t.Fatalf("chunk %d: packet %d: %v", chunk, i, err)
			}
			if first != w[0] || !bytes.Equal(body, w[headerLen(w):]) {
				t.Fatalf("chunk %d: packet %d: got type %#x, %d-byte body; want %d-byte packet of type %#x", chunk, i, first, len(body), len(w), w[0])
			}
		}
		if _, _, err := rd.next(); err == nil {
			t.Fatalf("chunk %d: a packet after the end of the stream", chunk)
		}
	}
}

// headerLen is the length of pkt's fixed header: the type byte and the
// remaining length's bytes.
func headerLen(pkt []byte) int {
	i := 1
	for pkt[i]&0x80 != 0 {
		i++
	}
	return i + 1
}

// chunkReader returns b at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}
