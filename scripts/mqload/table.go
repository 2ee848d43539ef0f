//go:build linux

package main

// mqload table: read the JSON lines of many runs (files, or standard input
// when none is named) and print one Markdown table of medians per scenario
// and broker, with the ratio sol/mosquitto two ways: the ratio of the
// medians, and the median of the ratios of back-to-back pairs (bench.sh runs
// the brokers alternately, so sol's i-th run and Mosquitto's i-th run of a
// scenario met the same moment of a shared machine; a burst of noise then
// moves one pair, not the medians' boundary).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// metric is one row of the table, computed from the runs of one label.
type metric struct {
	name  string
	value func(*result) float64
}

var (
	flowMetrics = []metric{
		{"msg/s delivered (higher is better)", func(r *result) float64 { return r.MsgPerS }},
		{"broker CPU µs per delivered msg (lower is better)", func(r *result) float64 { return r.BrokerCPUPerMsgUs }},
		{"mqload CPU share (1.00: the generator was the limit)", func(r *result) float64 { return r.LoadCPU }},
	}
	latencyMetrics = []metric{
		{"p50 latency µs (lower is better)", func(r *result) float64 { return r.P50us }},
		{"p99 latency µs (lower is better)", func(r *result) float64 { return r.P99us }},
		{"p999 latency µs (lower is better)", func(r *result) float64 { return r.P999us }},
		{"generator's worst lag behind schedule µs", func(r *result) float64 { return r.PaceLagMaxUs }},
	}
	connsMetrics = []metric{
		{"connects/s (higher is better)", func(r *result) float64 { return r.ConnectPerS }},
		{"broker RSS MB (lower is better)", func(r *result) float64 { return float64(r.RSSKB) / 1024 }},
		{"broker bytes per idle connection (lower is better)", func(r *result) float64 { return r.BytesPerConn }},
	}
)

func readResults(files []string) ([]result, error) {
	var readers []io.Reader
	if len(files) == 0 {
		readers = append(readers, os.Stdin)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		defer fh.Close()
		readers = append(readers, fh)
	}
	var out []result
	sc := bufio.NewScanner(io.MultiReader(readers...))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("results line %d: %w", n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// known returns the values of v that are not NaN.
func known(v []float64) []float64 {
	var out []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

func formatValue(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// printTable writes the table for the runs in files to w.
func printTable(w io.Writer, files []string) error {
	runs, err := readResults(files)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return fmt.Errorf("no results")
	}
	var labels, brokers []string
	byKey := map[[2]string][]*result{}
	for i := range runs {
		r := &runs[i]
		if r.Label == "" {
			r.Label = r.Mode
		}
		if r.Broker == "" {
			r.Broker = r.Addr
		}
		k := [2]string{r.Label, r.Broker}
		if len(byKey[k]) == 0 {
			if !contains(labels, r.Label) {
				labels = append(labels, r.Label)
			}
			if !contains(brokers, r.Broker) {
				brokers = append(brokers, r.Broker)
			}
		}
		byKey[k] = append(byKey[k], r)
	}
	ratio := contains(brokers, "sol") && contains(brokers, "mosquitto")
	fmt.Fprintf(w, "| scenario | metric | %s |", strings.Join(brokers, " | "))
	if ratio {
		fmt.Fprint(w, " sol/mosquitto | sol/mosquitto, median of pairs |")
	}
	fmt.Fprintln(w, " runs | QoS 1/2 promises broken (lost, late past the timeout, or QoS 2 duplicates) | errors |")
	fmt.Fprint(w, "| --- | --- |", strings.Repeat(" ---: |", len(brokers)))
	if ratio {
		fmt.Fprint(w, " ---: | ---: |")
	}
	fmt.Fprintln(w, " ---: | ---: | --- |")

	// row prints one metric; values returns a broker's runs in run order,
	// NaN for a run without the value.
	row := func(label, name string, values func(b string) []float64, runsCol, lostCol, errCol string) {
		fmt.Fprintf(w, "| %s | %s |", label, name)
		for _, b := range brokers {
			if v := known(values(b)); len(v) > 0 {
				fmt.Fprintf(w, " %s |", formatValue(median(v)))
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		if ratio {
			s, m := values("sol"), values("mosquitto")
			if ks, km := known(s), known(m); len(ks) > 0 && len(km) > 0 && median(km) != 0 {
				fmt.Fprintf(w, " %.2f |", median(ks)/median(km))
			} else {
				fmt.Fprint(w, " – |")
			}
			var pairs []float64
			for i := 0; i < min(len(s), len(m)); i++ {
				if r := s[i] / m[i]; !math.IsNaN(r) && !math.IsInf(r, 0) {
					pairs = append(pairs, r)
				}
			}
			if len(pairs) > 0 {
				fmt.Fprintf(w, " %.2f |", median(pairs))
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintf(w, " %s | %s | %s |\n", runsCol, lostCol, errCol)
	}

	for _, label := range labels {
		var metrics []metric
		// The scenario's kind comes from a run that says it: bench.sh's
		// placeholder for a failed run has no mode.
		var sample *result
		for _, b := range brokers {
			for _, r := range byKey[[2]string{label, b}] {
				if sample == nil || sample.Mode == "" {
					sample = r
				}
			}
		}
		switch {
		case sample.Mode == "conns":
			metrics = connsMetrics
		case sample.Rate > 0:
			metrics = latencyMetrics
		default:
			metrics = flowMetrics
		}
		var runsCol, lostCol, errs []string
		anyLost := false
		for _, b := range brokers {
			rs := byKey[[2]string{label, b}]
			if len(rs) == 0 {
				continue
			}
			var lost int64
			var nerr int
			var firstErr string
			for _, r := range rs {
				lost += r.Lost
				if r.Error != "" {
					nerr++
					if firstErr == "" {
						firstErr = r.Error
					}
				}
			}
			runsCol = append(runsCol, fmt.Sprintf("%d", len(rs)))
			lostCol = append(lostCol, fmt.Sprintf("%s %d", b, lost))
			anyLost = anyLost || lost != 0
			if nerr > 0 {
				errs = append(errs, fmt.Sprintf("%s: %d× %s", b, nerr, strings.ReplaceAll(firstErr, "|", "/")))
			}
		}
		for i, m := range metrics {
			rc, lc, ec := "", "", ""
			if i == 0 {
				rc, lc, ec = strings.Join(runsCol, "/"), "0", strings.Join(errs, "; ")
				if anyLost {
					lc = strings.Join(lostCol, ", ")
				}
			}
			row(label, m.name, func(b string) []float64 {
				rs := byKey[[2]string{label, b}]
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = m.value(r)
					if !r.OK && v[i] == 0 {
						v[i] = math.NaN() // a failed run measured nothing
					}
				}
				return v
			}, rc, lc, ec)
		}
	}
	// Idle RSS at start: every run in bench.sh begins on a freshly started broker.
	row("idle broker", "RSS at start KB (lower is better)", func(b string) []float64 {
		var v []float64
		for _, label := range labels {
			for _, r := range byKey[[2]string{label, b}] {
				if r.RSSStartKB > 0 {
					v = append(v, float64(r.RSSStartKB))
				} else {
					v = append(v, math.NaN()) // keeps the pairs aligned
				}
			}
		}
		return v
	}, "", "", "")
	return nil
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}
