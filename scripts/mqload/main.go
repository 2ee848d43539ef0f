//go:build linux

// Command mqload is sol's MQTT load generator. It writes MQTT 3.1.1 on the
// wire itself (a few small encoders, one buffered writer per connection) so
// that the client side costs as little as possible, and measures any broker:
//
//	mqload -mode flow  -addr 127.0.0.1:1883 -pubs 10 -subs 1 -msgs 20000 -size 64 -qos 1
//	mqload -mode flow  -addr 127.0.0.1:1883 -pubs 1 -subs 100 -msgs 2000 -qos 0     (fan-out)
//	mqload -mode flow  -addr ... -rate 5000                                      (latency at a fixed rate)
//	mqload -mode flow  -addr 127.0.0.1:19000 -raw-sub 127.0.0.1:19001           (the raw relay yardstick)
//	mqload -mode conns -addr 127.0.0.1:1883 -conns 10000 -src 127.0.0.2-127.0.0.17 -pid 1234
//	mqload table results.jsonl                                               (Markdown table of medians)
//
// Every run is bounded by -timeout, checks that each message its QoS promised
// arrived (QoS 1: at least once, QoS 2: exactly once; QoS 0 losses are counted
// but promise nothing) and ends with one JSON line on standard output. The
// exit status is 1 when a promise was broken or the run failed.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

// result is the JSON line every run prints; zero fields are left out.
type result struct {
	Label    string  `json:"label,omitempty"`
	Broker   string  `json:"broker,omitempty"`
	Mode     string  `json:"mode"`
	Addr     string  `json:"addr"`
	QoS      int     `json:"qos"`
	Pubs     int     `json:"pubs,omitempty"`
	Subs     int     `json:"subs,omitempty"`
	Msgs     int     `json:"msgs,omitempty"`
	Size     int     `json:"size,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	Raw      bool    `json:"raw,omitempty"`
	Sent     int64   `json:"sent,omitempty"`
	Acked    int64   `json:"acked,omitempty"`
	Expected int64   `json:"expected,omitempty"`
	// Received counts unique deliveries at the subscribers.
	Received   int64 `json:"received,omitempty"`
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	// Lost counts broken promises: missing QoS 1/2 deliveries, plus duplicates at QoS 2.
	Lost     int64   `json:"lost"`
	ElapsedS float64 `json:"elapsed_s"`
	MsgPerS  float64 `json:"msg_per_s,omitempty"`
	P50us    float64 `json:"p50_us,omitempty"`
	P99us    float64 `json:"p99_us,omitempty"`
	P999us   float64 `json:"p999_us,omitempty"`
	// PaceLagMaxUs (paced runs) is how far behind its schedule a publisher
	// ever sent: large values mean the load generator itself was starved.
	PaceLagMaxUs float64 `json:"pace_lag_max_us,omitempty"`

	Conns        int     `json:"conns,omitempty"`
	Connected    int     `json:"connected,omitempty"`
	Alive        int     `json:"alive,omitempty"`
	ConnectPerS  float64 `json:"connect_per_s,omitempty"`
	RSSStartKB   int64   `json:"rss_start_kb,omitempty"`
	RSSKB        int64   `json:"rss_kb,omitempty"`
	BytesPerConn float64 `json:"bytes_per_conn,omitempty"`

	// BrokerCPUs is the CPU time the broker (-pid) used during the run;
	// BrokerCPUPerMsgUs divides it by the deliveries: less noisy than msg/s
	// on a busy machine. LoadCPU is the share of one core mqload used: near
	// 1 (or above, with GOMAXPROCS > 1) the generator, not the broker, set the pace.
	BrokerCPUs        float64 `json:"broker_cpu_s,omitempty"`
	BrokerCPUPerMsgUs float64 `json:"broker_cpu_us_per_msg,omitempty"`
	LoadCPU           float64 `json:"load_cpu,omitempty"`

	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// selfCPU is the user plus system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "table" {
		if err := printTable(os.Stdout, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "mqload table:", err)
			os.Exit(1)
		}
		return
	}
	var (
		mode     = flag.String("mode", "flow", "flow (fan-in, fan-out, latency, raw relay) or conns (idle connections)")
		addr     = flag.String("addr", "127.0.0.1:1883", "broker address (raw mode: the relay's input address)")
		rawSub   = flag.String("raw-sub", "", "raw relay mode: the relay's output address (subscribers read plain PUBLISH frames there)")
		label    = flag.String("label", "", "scenario name copied into the JSON line")
		broker   = flag.String("broker", "", "broker name copied into the JSON line")
		pubs     = flag.Int("pubs", 10, "publishers")
		subs     = flag.Int("subs", 1, "subscribers, each subscribed to <prefix>/#")
		msgs     = flag.Int("msgs", 20000, "messages per publisher")
		size     = flag.Int("size", 64, "payload bytes (at least 16)")
		qos      = flag.Int("qos", 0, "QoS of publishes and subscriptions")
		inflight = flag.Int("inflight", 100, "unacknowledged QoS 1/2 messages per publisher")
		rate     = flag.Float64("rate", 0, "total publish rate in msg/s across publishers; 0: as fast as possible")
		timeout  = flag.Duration("timeout", 60*time.Second, "bound on the whole run")
		quiet    = flag.Duration("quiet", time.Second, "once publishers are done, stop after this long without a delivery (QoS 1/2 with every message acknowledged: wait until -timeout)")
		conns    = flag.Int("conns", 1000, "conns mode: idle clients to connect")
		src      = flag.String("src", "127.0.0.1", "conns mode: source addresses, comma-separated or a range 127.0.0.2-127.0.0.17")
		workers  = flag.Int("workers", 32, "conns mode: connections being set up at once")
		pid      = flag.Int("pid", 0, "broker process id: its RSS is read from /proc at start (and after connecting, conns mode)")
	)
	flag.Parse()
	res := result{Label: *label, Broker: *broker, Mode: *mode, Addr: *addr, QoS: *qos}
	if *pid > 0 {
		if kb, err := readRSS(*pid); err == nil {
			res.RSSStartKB = kb
		} else {
			res.Error = err.Error()
		}
	}
	var cpu0 time.Duration
	cpuErr := errors.New("no -pid")
	if *pid > 0 {
		cpu0, cpuErr = readCPU(*pid)
	}
	self0, wall0 := selfCPU(), time.Now()
	var err error
	switch *mode {
	case "flow":
		res.Pubs, res.Subs, res.Msgs, res.Size, res.Rate, res.Raw = *pubs, *subs, *msgs, *size, *rate, *rawSub != ""
		err = runFlow(flowConfig{
			addr: *addr, rawSub: *rawSub, pubs: *pubs, subs: *subs, msgs: *msgs, size: *size,
			qos: byte(*qos), inflight: *inflight, rate: *rate, timeout: *timeout, quiet: *quiet,
		}, &res)
	case "conns":
		var addrs []string
		addrs, err = parseSources(*src)
		if err == nil {
			err = runConns(connsConfig{addr: *addr, conns: *conns, sources: addrs, workers: *workers, pid: *pid, timeout: *timeout}, &res)
		}
	default:
		err = fmt.Errorf("unknown -mode %q (flow or conns)", *mode)
	}
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	if wall := time.Since(wall0); wall > 0 {
		res.LoadCPU = float64(selfCPU()-self0) / float64(wall)
	}
	if *pid > 0 {
		if cpu1, err := readCPU(*pid); err == nil && cpuErr == nil {
			res.BrokerCPUs = (cpu1 - cpu0).Seconds()
			if res.Received > 0 {
				res.BrokerCPUPerMsgUs = res.BrokerCPUs * 1e6 / float64(res.Received)
			}
		}
	}
	res.OK = res.Error == "" && res.Lost == 0
	line, _ := json.Marshal(&res)
	fmt.Println(string(line))
	if !res.OK {
		os.Exit(1)
	}
}
